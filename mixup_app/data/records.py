"""RecordIO files of labelled images: atomic writing, a checksummed manifest, verification.

A prepared dataset in DIR is ``DATASET_train.rec/.idx``, ``DATASET_val.rec/.idx`` and
``DATASET.json`` (the manifest). Every file is written under a temporary name and renamed when
complete, the manifest last: a dataset is complete exactly when its manifest exists and the
files match the sizes and SHA-256 sums it records.
"""
import hashlib
import io
import json
import math
import os

import mxnet as mx
import numpy as np
from PIL import Image

from mixup_app.files import atomic_path, load_json, write_atomic
from mixup_app.progress import bar

SPLITS = ("train", "val")


class DataError(Exception):
    """A dataset file is missing, truncated, corrupt or not what it claims to be."""


def paths(data_dir, dataset, split):
    """(rec, idx) of a split: DIR/DATASET_SPLIT.rec/.idx, or the files a registered pair's
    manifest names (records made elsewhere stay where they are, see data.register_records)."""
    if os.path.exists(manifest_path(data_dir, dataset)):
        try:
            named = load_manifest(data_dir, dataset).get("paths")
        except DataError:
            named = None  # load_manifest reports a damaged manifest where it matters
        if named:
            return tuple(named[split])
    base = os.path.join(data_dir, "%s_%s" % (dataset, split))
    return base + ".rec", base + ".idx"


def manifest_path(data_dir, dataset):
    return os.path.join(data_dir, "%s.json" % dataset)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def encode_png(image):
    """Lossless PNG bytes (Pillow) of an (H, W) grayscale or (H, W, 3) RGB uint8 array.

    PNG keeps R, G, B in that order and MXNet's ImageRecordIter decodes it to RGB (grayscale
    'L' images to one channel), so the iterator hands back exactly these pixels."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or image.ndim == 3
                                       and image.shape[2] == 3):
        raise ValueError("encode_png: need uint8 (H, W) or (H, W, 3), got %s %s"
                         % (image.dtype, image.shape))
    out = io.BytesIO()
    Image.fromarray(image, "L" if image.ndim == 2 else "RGB").save(out, format="PNG")
    return out.getvalue()


def write_split(data_dir, dataset, split, images, labels, progress=None, stats=None):
    """Write images (N, H, W[, 3]) uint8 with integer labels as PNG records, in order.
    `images` may be any sequence of such arrays that has a length; each one is also added to
    `stats` (a :class:`ChannelStats`) if given.

    Returns the split's manifest entry (see :func:`split_entry`).
    """
    rec, idx = paths(data_dir, dataset, split)
    # the .idx is renamed first: a .rec in place means the pair is complete
    with atomic_path(rec) as tmp_rec, atomic_path(idx) as tmp_idx:
        writer = mx.recordio.MXIndexedRecordIO(tmp_idx, tmp_rec, "w")
        # off a terminal, a line every 10 000 images (or 30 s): a first run converts 70 000
        with bar(len(images), "%s %s" % (dataset, split), enabled=progress,
                 lines=10000) as pbar:
            for i, (image, label) in enumerate(zip(images, labels)):
                if stats is not None:
                    stats.add(image)
                header = mx.recordio.IRHeader(0, float(label), i, 0)
                writer.write_idx(i, mx.recordio.pack(header, encode_png(image)))
                pbar.update(1)
        writer.close()
    return split_entry(data_dir, dataset, split, len(images))


def split_entry(data_dir, dataset, split, count):
    """A split's manifest entry: record count, .rec size, SHA-256 of .rec and .idx."""
    rec, idx = paths(data_dir, dataset, split)
    return {"count": int(count), "rec_bytes": os.path.getsize(rec),
            "rec_sha256": sha256(rec), "idx_sha256": sha256(idx)}


class ChannelStats:
    """Per-channel mean and std (0-255 scale) of uint8 pixels, accumulated batch by batch
    with exact integer sums, so a dataset never has to be in memory (or in float) at once."""

    def __init__(self, channels):
        self.channels = channels
        self.count = 0
        self.total = np.zeros(channels, np.int64)
        self.squares = np.zeros(channels, np.int64)

    def add(self, pixels):
        """pixels: uint8, any shape whose last axis is the channel (a 1-channel image or batch
        may leave it out)."""
        pixels = np.asarray(pixels, dtype=np.uint8).reshape(-1, self.channels)
        self.count += len(pixels)
        self.total += pixels.sum(axis=0, dtype=np.int64)
        self.squares += np.square(pixels, dtype=np.uint16).sum(axis=0, dtype=np.int64)

    def result(self):
        """([mean per channel], [std per channel]), rounded to 4 decimals."""
        mean = self.total / max(self.count, 1)
        std = np.sqrt(np.maximum(self.squares / max(self.count, 1) - mean ** 2, 0))
        return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def channel_stats(images, chunk=1024):
    """Per-channel mean and std (0-255 scale) of uint8 images (N, H, W[, C])."""
    stats = ChannelStats(1 if images.ndim == 3 else images.shape[-1])
    for start in range(0, len(images), chunk):
        stats.add(images[start:start + chunk])
    return stats.result()


def write_manifest(data_dir, dataset, info):
    write_atomic(manifest_path(data_dir, dataset), json.dumps(info, indent=2, sort_keys=True))


def load_manifest(data_dir, dataset):
    """The manifest of DATASET in data_dir, checked (:func:`check_manifest`)."""
    path = manifest_path(data_dir, dataset)
    try:
        info = load_json(path)
    except FileNotFoundError:
        raise DataError("%s not found: prepare the data with `./tools.sh data %s "
                        "--data-dir %s`" % (path, dataset, data_dir)) from None
    except (OSError, ValueError) as error:
        raise DataError("%s is unreadable or corrupt (%s); delete it and prepare the data "
                        "again" % (path, error)) from None
    return check_manifest(info, path)


# More classes than any image set has (ImageNet-21k: 21 841); the classifier's last layer and
# the confusion matrix grow with it.
MAX_CLASSES = 100_000


def _is_int(value, low=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _is_text_list(value, length):
    return (isinstance(value, list) and len(value) == length
            and all(isinstance(item, str) for item in value))


def check_manifest(info, path):
    """info, after checking every field a reader uses for its type and for sizes a machine
    can build (DataError naming the file, the field and the value): a manifest may come from
    elsewhere (a shared data folder, a registered pair's cached manifest)."""
    def refuse(field, need, value=None):
        # (a split's entry is shown itself: the whole "splits" would be cut before it)
        shown = repr(value if value is not None
                     else info.get(field) if isinstance(info, dict) else info)
        raise DataError("%s: %s must be %s, got %s; delete it and prepare the data again"
                        % (path, field, need, shown[:80] + ("..." if len(shown) > 80 else "")))

    if not isinstance(info, dict):
        refuse("the manifest", "a JSON object")
    shape = info.get("image_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(_is_int(v, 1) for v in shape)
            and shape[0] in (1, 3) and shape[1] * shape[2] <= Image.MAX_IMAGE_PIXELS):
        refuse("image_shape", "[channels 1 or 3, height, width] of at most %d pixels"
               % Image.MAX_IMAGE_PIXELS)
    classes = info.get("classes")
    if not (isinstance(classes, list) and 2 <= len(classes) <= MAX_CLASSES
            and _is_text_list(classes, len(classes))):
        refuse("classes", "a list of 2 to %d names" % MAX_CLASSES)
    if "num_classes" in info and info["num_classes"] != len(classes):
        refuse("num_classes", "the number of classes (%d)" % len(classes))
    for field in ("mean", "std"):
        values = info.get(field)
        if not (isinstance(values, list) and len(values) == shape[0]
                and all(_is_number(v) and (field == "mean" or v >= 0) for v in values)):
            refuse(field, "a list of %d finite numbers (one per channel)" % shape[0])
    if not isinstance(info.get("mirror", True), bool):
        refuse("mirror", "true or false")
    for field in ("dataset", "source", "encoding"):
        if not isinstance(info.get(field, ""), str):
            refuse(field, "text")
    splits = info.get("splits")
    if not (isinstance(splits, dict) and all(isinstance(splits.get(s), dict) for s in SPLITS)):
        refuse("splits", "an object with train and val entries")
    for split in SPLITS:
        entry = splits[split]
        if not (_is_int(entry.get("count")) and _is_int(entry.get("rec_bytes"))
                and all(isinstance(entry.get(key, ""), str)
                        for key in ("rec_sha256", "idx_sha256"))):
            refuse("splits", "{count, rec_bytes: whole numbers, checksums: text} for %s"
                   % split, entry)
    named = info.get("paths")
    if named is not None and not (isinstance(named, dict) and all(
            _is_text_list(named.get(split), 2) for split in SPLITS)):
        refuse("paths", "{train: [rec, idx], val: [rec, idx]}")
    return info


def verify(data_dir, dataset, checksums=True):
    """The manifest, after checking that every file it names is present and intact."""
    info = load_manifest(data_dir, dataset)
    for split in SPLITS:
        entry = info["splits"][split]
        rec, idx = paths(data_dir, dataset, split)
        for path in (rec, idx):
            if not os.path.exists(path):
                raise DataError("%s is missing (listed in %s)" % (path, manifest_path(
                    data_dir, dataset)))
            if not os.path.isfile(path):  # a device or a pipe would be read without end
                raise DataError("%s is not a regular file (listed in %s)" % (path, manifest_path(
                    data_dir, dataset)))
        size = os.path.getsize(rec)
        if size != entry["rec_bytes"]:
            raise DataError("%s has %d bytes, its manifest says %d: truncated or replaced; "
                            "delete it and prepare the data again" % (rec, size,
                                                                      entry["rec_bytes"]))
        if checksums:
            # registered pairs are checked by size and modification time instead (userrec)
            pairs = ((rec, "rec_sha256"), (idx, "idx_sha256")) if "rec_sha256" in entry else ()
            for path, key in pairs:
                if sha256(path) != entry[key]:
                    raise DataError("%s does not match the SHA-256 in its manifest: corrupt; "
                                    "delete it and prepare the data again" % path)
    return info
