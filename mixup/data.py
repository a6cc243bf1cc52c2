"""Datasets as RecordIO and the record iterators that training and scoring read.

    ./tools.sh data cifar10|fashion-mnist [--data-dir DIR] [--from FILE]
    ./tools.sh data synthetic [--data-dir DIR] [--synthetic-size TRAIN,VAL]
    ./tools.sh data images FOLDER [--data-dir DIR] [--name NAME] [--image-size H,W]
                                  [--channels 1|3] [--no-mirror]

write DIR/NAME_train.rec, DIR/NAME_val.rec (each with .idx) and DIR/NAME.json (the manifest),
NAME being the dataset (cifar10, fashion-mnist, synthetic) or the images' dataset name. Images
are stored as lossless PNG, the validation split in the official test order (a folder's in
class, then file name order). FOLDER holds train/CLASS/*.png|jpg|jpeg and val/CLASS/*; classes
are the folder names in sorted order. Exit code 2 when an input is refused.
"""
import os
import re
import sys
from dataclasses import dataclass

import mxnet as mx

from . import images, paths, records, sources, userrec
from .cli import ArgumentParser
from .records import DataError


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    image_shape: tuple          # (channels, height, width) as stored
    classes: tuple
    mirror: bool                # horizontal flips keep the class
    official_counts: tuple      # (train, val)
    default_shape: tuple        # (channels, height, width) fed to the network by default

    @property
    def num_classes(self):
        return len(self.classes)


DATASETS = {
    "cifar10": DatasetSpec("cifar10", (3, 32, 32), (
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
        "truck"), mirror=True, official_counts=(50000, 10000), default_shape=(3, 28, 28)),
    "fashion-mnist": DatasetSpec("fashion-mnist", (1, 28, 28), (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
        "Bag", "Ankle boot"), mirror=True, official_counts=(60000, 10000),
        default_shape=(1, 28, 28)),
    # Gratings of class-specific orientation: a flip changes the orientation, so no mirroring.
    "synthetic": DatasetSpec("synthetic", (3, 32, 32), tuple("grating-%d" % i for i in range(10)),
                             mirror=False, official_counts=(2000, 500),
                             default_shape=(3, 28, 28)),
}

def spec(dataset, data_dir=None):
    """The DatasetSpec of a built-in dataset, or of one described by its manifest in data_dir
    (made from a folder of images, or a registered pair of records)."""
    if dataset in DATASETS:
        return DATASETS[dataset]
    if data_dir is not None and os.path.exists(records.manifest_path(data_dir, dataset)):
        manifest = records.load_manifest(data_dir, dataset)
        shape = tuple(manifest["image_shape"])
        return DatasetSpec(dataset, shape, tuple(manifest["classes"]),
                           mirror=bool(manifest.get("mirror", True)),
                           official_counts=_counts(manifest), default_shape=shape)
    raise DataError("unknown dataset %r: choose one of %s, rec (with --train-rec, --val-rec, "
                    "--num-classes), or a dataset made by ./tools.sh data images in %s"
                    % (dataset, ", ".join(DATASETS), data_dir or "the data directory"))


def register_records(data_dir, train_rec, val_rec, num_classes, image_shape=None, log=print):
    """Adopt a pair of RecordIO files made elsewhere (mixup.userrec: checked, mean/std and
    index cached beside them) and register it in data_dir under a name of its own, so that
    training, resuming and scoring find it like a prepared dataset. Returns the name."""
    manifest = dict(userrec.adopt(train_rec, val_rec, num_classes, image_shape=image_shape,
                                  log=log))
    name = "rec-" + dataset_name(os.path.dirname(os.path.abspath(train_rec)) + "/" +
                                 os.path.splitext(os.path.basename(train_rec))[0])
    manifest["dataset"] = name
    records.write_manifest(data_dir, name, manifest)
    return name


def resolve_dataset(dataset, data_dir, log, synthetic_counts=None):
    """(dataset, reason): the dataset to use, prepared in data_dir. 'auto' picks CIFAR-10 when
    it is there or can be downloaded, else Fashion-MNIST (real data that works offline), and
    says why loudly."""
    if dataset != "auto":
        prepare(dataset, data_dir, log=log, synthetic_counts=synthetic_counts)
        return dataset, "asked for with --dataset %s" % dataset
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


def check_image_shape(data_dir, dataset, image_shape):
    """Refuse an image shape the stored images cannot give (ValueError naming the option)."""
    stored = tuple(records.verify(data_dir, dataset, checksums=False)["image_shape"])
    shape = tuple(image_shape)
    if len(shape) != 3 or shape[0] != stored[0] or shape[1] > stored[1] or shape[2] > stored[2]:
        raise ValueError("--image-shape %s does not fit %s, stored as %s (channels must match, "
                         "height and width at most the stored size)"
                         % (",".join(map(str, shape)), dataset, ",".join(map(str, stored))))
    return stored


def is_prepared(data_dir, dataset):
    try:
        records.verify(data_dir, dataset, checksums=False)
        return True
    except DataError:
        return False


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


def _counts(manifest):
    return tuple(manifest["splits"][split]["count"] for split in records.SPLITS)


def prepare(dataset, data_dir, source=None, progress=None, log=print, synthetic_counts=None):
    """Make DATASET's records in data_dir (or check and reuse them). Returns the manifest.

    Any dataset with a manifest in data_dir (a built-in one, or one made from a folder of
    images) is checked and reused unless `source` asks for a fresh conversion. The synthetic
    set is rebuilt when `synthetic_counts` = (train, val) differs from what is there (None:
    whatever is there, else the default 2000 / 500)."""
    if os.path.exists(records.manifest_path(data_dir, dataset)) and source is None:
        manifest = records.verify(data_dir, dataset)
        got = _counts(manifest)
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
    got = _counts(manifest)
    if dataset != "synthetic" and got != info.official_counts:
        log("note: %s has %d train / %d val images; the official set has %d / %d"
            % ((dataset,) + got + info.official_counts))
    log("%s ready in %s (%d train / %d val images)" % ((dataset, data_dir) + got))
    return manifest


def check_synthetic_counts(counts):
    """(train, val) for the synthetic set: train >= 10 (every class once), val >= 1."""
    if len(counts) != 2 or counts[0] < 10 or counts[1] < 1:
        raise DataError("--synthetic-size must be TRAIN,VAL with TRAIN >= 10 and VAL >= 1, "
                        "got %s" % ",".join(str(c) for c in counts))
    return tuple(counts)


NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def dataset_name(folder, name=None):
    """The name of a dataset made from `folder`: `name` if given (checked), else the folder's
    base name with other characters than letters, digits, '.', '_', '-' turned into '-'."""
    if name is None:
        base = os.path.basename(os.path.abspath(folder))
        name = NAME_CHARS.sub("-", base).strip("-._")
        what = "the folder name %r of %s" % (base, folder)
        hint = "; give --name NAME"
    else:
        what, hint = "--name %r" % name, ""
    if not name or NAME_CHARS.search(name) or not name[0].isalnum():
        raise DataError("%s is not usable as a dataset name (letters, digits, '.', '_', '-', "
                        "starting with a letter or digit)%s" % (what, hint))
    if name in DATASETS:
        raise DataError("%s is a built-in dataset's name%s" % (what, hint or "; choose another"))
    return name


def prepare_images(folder, data_dir, name=None, image_size=None, channels=None, mirror=True,
                   progress=None, log=print):
    """A folder tree of images (see :mod:`mixup.images`) as DATA_DIR/NAME_train.rec/.idx,
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


# ---------------------------------------------------------------------------------- iterators

def record_iter(data_dir, dataset, split, batch_size, image_shape=None, train=None, seed=0,
                num_parts=1, part_index=0, normalize=True, threads=2, augment=True,
                records_path=None):
    """An ``mx.io.ImageRecordIter`` over a prepared split.

    train (default: split == 'train') turns on shuffling, seeded by `seed`, and (with
    `augment`) augmentation: a random crop (after 4 pixels of zero padding when image_shape
    equals the stored size), and a mirror where the dataset allows it. Otherwise, and with
    ``augment=False``, images are centre-cropped to image_shape (the stored pixels when the
    shapes agree); without train they are read in order. `records_path` = (rec, idx) reads
    those files (a derived training set, :mod:`mixup.trainset`) with the split's mean/std. Batches are always full: MXNet wraps
    around at the end and reports the wrapped samples in ``batch.pad`` (never count them).
    Sharding for distributed training: part `part_index` of `num_parts`, disjoint, covering
    every record once.
    """
    info = spec(dataset, data_dir)
    manifest = records.verify(data_dir, dataset, checksums=False)
    stored = tuple(manifest["image_shape"])
    shape = tuple(image_shape or stored)
    check_image_shape(data_dir, dataset, shape)
    if not 0 <= part_index < num_parts:
        raise ValueError("part_index %d outside 0..%d" % (part_index, num_parts - 1))
    train = split == "train" if train is None else train
    rec, idx = records_path or records.paths(data_dir, dataset, split)
    kwargs = dict(path_imgrec=rec, path_imgidx=idx, data_shape=shape, batch_size=batch_size,
                  label_width=1, preprocess_threads=threads, num_parts=num_parts,
                  part_index=part_index, round_batch=True, shuffle=train, seed=seed)
    if normalize:
        for channel, mean, std in zip("rgb", manifest["mean"], manifest["std"]):
            kwargs["mean_" + channel], kwargs["std_" + channel] = mean, std
    if train and augment:
        kwargs.update(rand_crop=True, rand_mirror=info.mirror)
        if shape[1:] == stored[1:]:
            kwargs.update(pad=4, fill_value=0)
    return mx.io.ImageRecordIter(**kwargs)


COMMAND = "./tools.sh data"   # works from a fresh clone (sets up the environment first)
# which option is meant for which dataset (anything else is refused, not silently ignored)
_ONLY_FOR = {"source": ("--from", ("cifar10", "fashion-mnist")),
             "synthetic_size": ("--synthetic-size", ("synthetic",)),
             "name": ("--name", ("images",)), "image_size": ("--image-size", ("images",)),
             "channels": ("--channels", ("images",)), "mirror": ("--no-mirror", ("images",))}


def _ints(parser, text, option, count):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or min(values) < 1:
        parser.error("%s must be %d positive integers separated by commas, got %r"
                     % (option, count, text))
    return values


def build_parser():
    parser = ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("dataset", metavar="DATASET", choices=sorted(DATASETS) + ["images"],
                        help="cifar10, fashion-mnist, synthetic, or images (a folder of "
                             "images, given as DIR)")
    parser.add_argument("folder", metavar="DIR", nargs="?",
                        help="images: the folder with train/CLASS/* and val/CLASS/*")
    parser.add_argument("--data-dir", default=paths.default_data_dir(),
                        help="where the .rec files and the manifest go (default: %(default)s)")
    group = parser.add_argument_group("cifar10 and fashion-mnist")
    group.add_argument("--from", dest="source", metavar="FILE",
                       help="cifar10: an archive you already have (cifar-10-python.tar.gz); "
                            "fashion-mnist: a directory with its four IDX files (default: "
                            "files in DATA_DIR/downloads, else downloaded)")
    group = parser.add_argument_group("synthetic")
    group.add_argument("--synthetic-size", metavar="TRAIN,VAL",
                       help="images in the training and validation splits; a set of another "
                            "size in DATA_DIR is rebuilt (default: 2000,500)")
    group = parser.add_argument_group("images")
    group.add_argument("--name", help="the dataset's name: DATA_DIR/NAME_train.rec ... "
                                      "(default: DIR's base name, sanitised)")
    group.add_argument("--image-size", metavar="H,W",
                       help="resize every image to H x W (default: keep the size, which must "
                            "then be the same for all images)")
    group.add_argument("--channels", type=int, choices=(1, 3),
                       help="store every image as grayscale (1) or RGB (3) (default: as they "
                            "are, which must then be the same for all images)")
    group.add_argument("--no-mirror", dest="mirror", action="store_false", default=None,
                       help="horizontal flips change the class: training never mirrors "
                            "(default: mirror)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, (option, datasets) in _ONLY_FOR.items():
        if getattr(args, key) is not None and args.dataset not in datasets:
            parser.error("%s is for %s, not %s" % (option, " and ".join(datasets),
                                                   args.dataset))
    if (args.dataset == "images") != (args.folder is not None):
        parser.error("images needs the folder DIR" if args.dataset == "images" else
                     "DIR %r is for images only, not %s" % (args.folder, args.dataset))
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        parser.error("--data-dir %s is a file, not a folder" % args.data_dir)
    counts = None
    if args.synthetic_size is not None:
        counts = _ints(parser, args.synthetic_size, "--synthetic-size", 2)
        try:
            check_synthetic_counts(counts)
        except DataError as error:
            parser.error(str(error))
    image_size = args.image_size and _ints(parser, args.image_size, "--image-size", 2)
    try:
        if args.dataset == "images":
            prepare_images(args.folder, args.data_dir, name=args.name, image_size=image_size,
                           channels=args.channels, mirror=args.mirror is not False)
        else:
            prepare(args.dataset, args.data_dir, args.source,
                    synthetic_counts=counts or (DATASETS["synthetic"].official_counts
                                                if args.dataset == "synthetic" else None))
    except DataError as error:
        print("error: %s" % error, file=sys.stderr)
        return 2
    except OSError as error:  # unwritable --data-dir, full disk, ...
        print("error: %s: %s" % (error.filename or args.data_dir, error.strerror or error),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no half-written file is left", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
