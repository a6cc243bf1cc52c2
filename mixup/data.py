"""Datasets as RecordIO and the record iterators that training and scoring read.

    python -m mixup.data DATASET --data-dir DIR [--from FILE]

writes DIR/DATASET_train.rec, DIR/DATASET_val.rec (each with .idx) and DIR/DATASET.json, for
DATASET in cifar10, fashion-mnist, synthetic. Images are stored as lossless PNG, the validation
split in the official test order.
"""
import argparse
import os
import sys
from dataclasses import dataclass

import mxnet as mx

from . import paths, records, sources
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

# Used for ready-made records that come without our manifest (no pass over pixels needed).
CIFAR10_MEAN, CIFAR10_STD = [125.307, 122.950, 113.865], [62.993, 62.089, 66.705]


def spec(dataset):
    try:
        return DATASETS[dataset]
    except KeyError:
        raise DataError("unknown dataset %r; choose one of %s"
                        % (dataset, ", ".join(DATASETS))) from None


def resolve_dataset(dataset, data_dir, log, synthetic_counts=None):
    """(dataset, reason): the dataset to use, prepared in data_dir. 'auto' picks CIFAR-10 when
    it is there or can be downloaded, else Fashion-MNIST (real data that works offline), and
    says why loudly."""
    if dataset != "auto":
        spec(dataset)
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


def _write_manifest(dataset, data_dir, source, encoding, mean, std, entries):
    info = spec(dataset)
    manifest = {"dataset": dataset, "source": source, "encoding": encoding,
                "image_shape": list(info.image_shape), "num_classes": info.num_classes,
                "classes": list(info.classes), "mean": mean, "std": std, "splits": entries}
    records.write_manifest(data_dir, dataset, manifest)
    return manifest


def convert(dataset, splits, data_dir, source, progress=None):
    """Write both splits and, last, the manifest."""
    os.makedirs(data_dir, exist_ok=True)
    mean, std = records.channel_stats(splits["train"][0])
    entries = {split: records.write_split(data_dir, dataset, split, *splits[split],
                                          progress=progress) for split in records.SPLITS}
    return _write_manifest(dataset, data_dir, source, "png", mean, std, entries)


def _adopt_records(data_dir, dataset, source):
    """Make a manifest for .rec/.idx files that came from elsewhere, after a full scan."""
    entries = {}
    for split in records.SPLITS:
        count = records.scan(*records.paths(data_dir, dataset, split), spec(dataset).num_classes)
        entries[split] = records.split_entry(data_dir, dataset, split, count)
    return _write_manifest(dataset, data_dir, source, "as found", CIFAR10_MEAN, CIFAR10_STD,
                           entries)


def _cifar10_splits(data_dir, source, log):
    """Read CIFAR-10 from --from, a cached download, or a fresh download; None if offline."""
    if source is not None:
        return sources.read_cifar10_archive(source), os.path.abspath(source)
    downloads = os.path.join(data_dir, "downloads")
    archive = os.path.join(downloads, "cifar-10-python.tar.gz")
    if not os.path.exists(archive):
        os.makedirs(downloads, exist_ok=True)
        log("downloading %s ..." % sources.CIFAR10_URL)
        sources.download(sources.CIFAR10_URL, archive, md5=sources.CIFAR10_MD5)
    return sources.read_cifar10_archive(archive), sources.CIFAR10_URL


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
        "  python -m mixup.data cifar10 --data-dir %s --from PATH/cifar-10-python.tar.gz\n"
        "or put it at %s and run the same command without --from."
        % ("; ".join(problems), sources.CIFAR10_URL, sources.CIFAR10_MD5, data_dir,
           os.path.join(data_dir, "downloads", "cifar-10-python.tar.gz")))


def prepare(dataset, data_dir, source=None, progress=None, log=print, synthetic_counts=None):
    """Make DATASET's records in data_dir (or check and reuse them). Returns the manifest."""
    info = spec(dataset)
    if os.path.exists(records.manifest_path(data_dir, dataset)) and source is None:
        manifest = records.verify(data_dir, dataset)
        log("using %s in %s (%d train / %d val images, checked)"
            % (dataset, data_dir, manifest["splits"]["train"]["count"],
               manifest["splits"]["val"]["count"]))
        return manifest
    if dataset == "cifar10":
        manifest = _prepare_cifar10(data_dir, source, progress, log)
    elif dataset == "fashion-mnist":
        directory = source or sources.find_fashion_mnist(os.path.join(data_dir, "downloads"), log)
        manifest = convert(dataset, sources.read_fashion_mnist(directory), data_dir,
                           os.path.abspath(directory), progress)
    else:
        counts = synthetic_counts or info.official_counts
        manifest = convert(dataset, sources.make_synthetic(*counts), data_dir,
                           "synthetic(num_train=%d, num_val=%d)" % tuple(counts), progress)
    got = (manifest["splits"]["train"]["count"], manifest["splits"]["val"]["count"])
    if dataset != "synthetic" and got != info.official_counts:
        log("note: %s has %d train / %d val images; the official set has %d / %d"
            % ((dataset,) + got + info.official_counts))
    log("%s ready in %s (%d train / %d val images)" % ((dataset, data_dir) + got))
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
    info = spec(dataset)
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mixup.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--data-dir", default=paths.default_data_dir(),
                        help="where the .rec files go (the repository's data/)")
    parser.add_argument("--from", dest="source", metavar="FILE",
                        help="cifar10: an archive you already have (cifar-10-python.tar.gz); "
                             "fashion-mnist: a directory with its four IDX files")
    parser.add_argument("--num-train", type=int, default=2000, help="synthetic: train images")
    parser.add_argument("--num-val", type=int, default=500, help="synthetic: val images")
    args = parser.parse_args(argv)
    if args.num_train < 10 or args.num_val < 1:
        parser.error("--num-train must be >= 10 and --num-val >= 1, got %d and %d"
                     % (args.num_train, args.num_val))
    try:
        prepare(args.dataset, args.data_dir, args.source, progress=None,
                synthetic_counts=(args.num_train, args.num_val))
    except DataError as error:
        print("error: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
