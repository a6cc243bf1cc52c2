"""Preparing datasets: converting a source (the CIFAR-10 archive, Fashion-MNIST's IDX files,
the synthetic set, a folder of images) to RecordIO with its manifest, downloading what is
missing, adopting record files made elsewhere, and choosing the dataset of ``--dataset auto``.
"""
import os

from mixup_app.data import images, records, sources, userrec
from mixup_app.data.catalogue import (DATASETS, check_synthetic_counts, dataset_name, spec,
                       split_counts)
from mixup_app.data.records import DataError


def register_records(data_dir, train_rec, val_rec, num_classes, image_shape=None, log=print):
    """Adopt a pair of RecordIO files made elsewhere (mixup_app.data.userrec: checked, mean/std and
    index cached beside them) and register it in data_dir under a name of its own, so that
    training, resuming and scoring find it like a prepared dataset. Returns the name."""
    manifest = dict(userrec.adopt(train_rec, val_rec, num_classes, image_shape=image_shape,
                                  log=log))
    name = "rec-" + dataset_name(os.path.dirname(os.path.abspath(train_rec)) + "/" +
                                 os.path.splitext(os.path.basename(train_rec))[0])
    manifest["dataset"] = name
    records.write_manifest(data_dir, name, manifest)
    return name


def cifar10_files_here(data_dir):
    """Whether data_dir holds CIFAR-10 to prepare without the network: the archive in
    downloads/, or the .rec/.idx files."""
    archive = os.path.join(data_dir, "downloads", "cifar-10-python.tar.gz")
    pairs = [records.paths(data_dir, "cifar10", split) for split in records.SPLITS]
    return os.path.isfile(archive) or all(os.path.exists(p) for pair in pairs for p in pair)


def resolve_dataset(dataset, data_dir, log, synthetic_counts=None):
    """(dataset, reason): the dataset to use, prepared in data_dir. 'auto' looks in data_dir
    first: CIFAR-10 prepared or its files there, else Fashion-MNIST prepared there (chosen
    once, when CIFAR-10 could not be had: later runs do not try the network again, and say so
    in one line). With neither, it tries to get CIFAR-10 (downloads), else prepares
    Fashion-MNIST (real data that works offline) and says why loudly."""
    if dataset != "auto":
        prepare(dataset, data_dir, log=log, synthetic_counts=synthetic_counts)
        return dataset, "asked for with --dataset %s" % dataset
    if os.path.exists(records.manifest_path(data_dir, "cifar10")) or cifar10_files_here(data_dir):
        prepare("cifar10", data_dir, log=log)
        return "cifar10", "CIFAR-10 is available"
    if os.path.exists(records.manifest_path(data_dir, "fashion-mnist")):
        log("--dataset auto: FASHION-MNIST, prepared in %s (CIFAR-10 is not: "
            "./tools.sh data cifar10 --data-dir %s gets it)" % (data_dir, data_dir))
        prepare("fashion-mnist", data_dir, log=log)
        return "fashion-mnist", "auto: Fashion-MNIST prepared in the data directory, CIFAR-10 not"
    try:
        prepare("cifar10", data_dir, log=log)
        return "cifar10", "CIFAR-10 is available"
    except DataError as error:
        first_line = str(error).splitlines()[0]
        log("*" * 78)
        log("--dataset auto: CIFAR-10 is not available (%s)" % first_line)
        log("--dataset auto: training on FASHION-MNIST instead (real data that works offline).")
        log("*" * 78)
        prepare("fashion-mnist", data_dir, log=log)
        return "fashion-mnist", "auto: CIFAR-10 unavailable (%s)" % first_line


def _write_manifest(dataset, data_dir, source, encoding, mean, std, entries, image_shape=None,
                    classes=None, mirror=None):
    """The manifest, written last; image_shape, classes and mirror default to the built-in
    dataset's."""
    if image_shape is None or classes is None or mirror is None:
        info = spec(dataset)
        image_shape = info.image_shape if image_shape is None else image_shape
        classes = info.classes if classes is None else classes
        mirror = info.mirror if mirror is None else mirror
    manifest = {"dataset": dataset, "source": source, "encoding": encoding,
                "image_shape": list(image_shape), "num_classes": len(classes),
                "classes": list(classes), "mirror": bool(mirror), "mean": mean, "std": std,
                "splits": entries}
    records.write_manifest(data_dir, dataset, manifest)
    return manifest


def convert(dataset, splits, data_dir, source, progress=None, **description):
    """Write both splits and, last, the manifest (mean/std from the training images).

    splits: {"train": (images, labels), "val": (...)}, images a uint8 array (N, H, W[, 3]) or
    a sequence of such images; description: image_shape, classes, mirror when the dataset is
    not a built-in one. An old manifest is removed first, so an interrupted conversion never
    leaves files that a manifest vouches for."""
    os.makedirs(data_dir, exist_ok=True)
    old = records.manifest_path(data_dir, dataset)
    if os.path.exists(old):
        os.remove(old)
    shape = description.get("image_shape") or spec(dataset).image_shape
    stats = records.ChannelStats(shape[0])
    entries = {split: records.write_split(data_dir, dataset, split, *splits[split],
                                          progress=progress,
                                          stats=stats if split == "train" else None)
               for split in records.SPLITS}
    mean, std = stats.result()
    return _write_manifest(dataset, data_dir, source, "png", mean, std, entries, **description)


def _adopt_records(data_dir, dataset, source):
    """Make a manifest for .rec/.idx files that came from elsewhere, after reading every
    record (labels in range, images decode; mean/std of the training images)."""
    entries, shape, mean, std = {}, None, None, None
    for split in records.SPLITS:
        rec, idx = records.paths(data_dir, dataset, split)
        if not os.path.exists(idx):
            raise DataError("%s is missing (needed beside %s)" % (idx, rec))
        checked = userrec.check_split(rec, idx, spec(dataset).num_classes, image_shape=shape,
                                      with_stats=split == "train")
        if split == "train":
            shape, mean, std = checked["image_shape"], checked["mean"], checked["std"]
        entries[split] = records.split_entry(data_dir, dataset, split, checked["count"])
    return _write_manifest(dataset, data_dir, source, "as found", mean, std, entries,
                           image_shape=shape)


def _cifar10_splits(data_dir, source, log):
    """Read CIFAR-10 from --from, a cached download, or a fresh download; None if offline."""
    if source is not None:
        return sources.read_cifar10_archive(source, log), os.path.abspath(source)
    downloads = os.path.join(data_dir, "downloads")
    archive = os.path.join(downloads, "cifar-10-python.tar.gz")
    if not os.path.exists(archive):
        os.makedirs(downloads, exist_ok=True)
        log("downloading %s ..." % sources.CIFAR10_URL)
        sources.download(sources.CIFAR10_URL, archive, md5=sources.CIFAR10_MD5)
    return sources.read_cifar10_archive(archive, log), sources.CIFAR10_URL


def _prepare_cifar10(data_dir, source, progress, log):
    rec_pairs = [records.paths(data_dir, "cifar10", s) for s in records.SPLITS]
    if source is None and all(os.path.exists(p) for pair in rec_pairs for p in pair):
        log("found cifar10 .rec files without a manifest in %s: checking them" % data_dir)
        return _adopt_records(data_dir, "cifar10", "existing files")
    problems = []
    try:
        splits, origin = _cifar10_splits(data_dir, source, log)
        return convert("cifar10", splits, data_dir, origin, progress)
    except OSError as error:  # network errors are OSErrors
        if source is not None:
            raise
        problems.append("%s: %s" % (sources.CIFAR10_URL, error))
    for split, url in sources.CIFAR10_REC_URLS.items():
        rec, idx = records.paths(data_dir, "cifar10", split)
        try:
            log("downloading %s ..." % url)
            sources.download(url, rec)
            sources.download(url[:-4] + ".idx", idx)
        except OSError as error:
            problems.append("%s: %s" % (url, error))
            break
    else:
        return _adopt_records(data_dir, "cifar10", "MXNet data server")
    raise DataError(
        "CIFAR-10 could not be downloaded (%s).\nDownload %s by hand (MD5 %s), then run:\n"
        "  ./tools.sh data cifar10 --data-dir %s --from PATH/cifar-10-python.tar.gz\n"
        "or put it at %s and run the same command without --from."
        % ("; ".join(problems), sources.CIFAR10_URL, sources.CIFAR10_MD5, data_dir,
           os.path.join(data_dir, "downloads", "cifar-10-python.tar.gz")))


def prepare(dataset, data_dir, source=None, progress=None, log=print, synthetic_counts=None):
    """Make DATASET's records in data_dir (or check and reuse them). Returns the manifest.

    Any dataset with a manifest in data_dir (a built-in one, or one made from a folder of
    images) is checked and reused unless `source` asks for a fresh conversion. The synthetic
    set is rebuilt when `synthetic_counts` = (train, val) differs from what is there (None:
    whatever is there, else the default 2000 / 500)."""
    if os.path.exists(records.manifest_path(data_dir, dataset)) and source is None:
        manifest = records.verify(data_dir, dataset)
        got = split_counts(manifest)
        if dataset != "synthetic" or synthetic_counts is None or got == tuple(synthetic_counts):
            log("using %s in %s (%d train / %d val images, checked)"
                % ((dataset, data_dir) + got))
            return manifest
        log("synthetic in %s has %d train / %d val images, %d / %d asked for: rebuilding it"
            % ((data_dir,) + got + tuple(synthetic_counts)))
    if dataset not in DATASETS:
        spec(dataset, data_dir)  # refuses a name with no manifest
    info = spec(dataset)
    if dataset == "cifar10":
        manifest = _prepare_cifar10(data_dir, source, progress, log)
    elif dataset == "fashion-mnist":
        directory = source or sources.find_fashion_mnist(os.path.join(data_dir, "downloads"), log)
        manifest = convert(dataset, sources.read_fashion_mnist(directory), data_dir,
                           os.path.abspath(directory), progress)
    else:
        counts = tuple(synthetic_counts or info.official_counts)
        check_synthetic_counts(counts)
        manifest = convert(dataset, sources.make_synthetic(*counts), data_dir,
                           "synthetic(num_train=%d, num_val=%d)" % counts, progress)
    got = split_counts(manifest)
    if dataset != "synthetic" and got != info.official_counts:
        log("note: %s has %d train / %d val images; the official set has %d / %d"
            % ((dataset,) + got + info.official_counts))
    log("%s ready in %s (%d train / %d val images)" % ((dataset, data_dir) + got))
    return manifest


def prepare_images(folder, data_dir, name=None, image_size=None, channels=None, mirror=True,
                   progress=None, log=print):
    """A folder tree of images (see :mod:`mixup_app.data.images`) as DATA_DIR/NAME_train.rec/.idx,
    NAME_val.rec/.idx and NAME.json. Returns the manifest."""
    name = dataset_name(folder, name)
    tree = images.scan(folder, image_size=image_size, channels=channels, progress=progress)
    if tree.skipped:
        log("note: skipped %d file(s) or folder(s) that are not class images, e.g. %s"
            % (len(tree.skipped), tree.skipped[0]))
    if tree.resize:
        log("resizing every image to %dx%d" % tree.image_shape[1:])
    splits = {split: (images.Split(tree, split), images.Split(tree, split).labels())
              for split in records.SPLITS}
    manifest = convert(name, splits, data_dir, tree.root, progress,
                       image_shape=tree.image_shape, classes=tree.classes, mirror=mirror)
    log("%s ready in %s: %d train / %d val images of %s, %d classes (%s)"
        % ((name, data_dir) + tree.counts + ("x".join(map(str, tree.image_shape)),
                                             len(tree.classes), ", ".join(tree.classes[:5])
                                             + (", ..." if len(tree.classes) > 5 else ""))))
    return manifest
