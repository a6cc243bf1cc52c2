"""The dataset catalogue: the built-in datasets, the specs of the others (from their manifests),
and the rules every dataset follows (names, image shapes, the synthetic set's size)."""
import os
import re
from dataclasses import dataclass

from mixup_app.data import records
from mixup_app.data.records import DataError


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
                           official_counts=split_counts(manifest), default_shape=shape)
    raise DataError("unknown dataset %r: choose one of %s, rec (with --train-rec, --val-rec, "
                    "--num-classes), or a dataset made by ./tools.sh data images in %s"
                    % (dataset, ", ".join(DATASETS), data_dir or "the data directory"))


def split_counts(manifest):
    """(train, val) image counts of a manifest."""
    return tuple(manifest["splits"][split]["count"] for split in records.SPLITS)


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
