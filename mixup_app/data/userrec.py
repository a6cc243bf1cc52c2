"""RecordIO files made elsewhere, adopted for training and scoring.

Any pair of ``.rec`` files of labelled images does: made by MXNet's ``im2rec``, by
``mx.recordio`` (``MXIndexedRecordIO``, or a plain ``MXRecordIO`` without index, with
``pack_img`` or ``pack``), or MXNet's ready-made CIFAR-10 records. :func:`adopt`

* finds each file's index (``NAME.idx`` beside ``NAME.rec``) or builds it by a sequential scan
  (what MXNet's ``tools/rec2idx.py`` does: keys 0..N-1 in file order), written atomically
  beside the rec or, where that folder is not writable, in a cache folder;
* reads every record once: it must unpack, hold one label, an integer in [0, num_classes), and
  an image that Pillow decodes (JPEG, PNG, ...); the image shape is the first record's;
* computes the per-channel mean and std of the training images;
* caches all of it in ``NAME.mixup.json`` beside the training rec (or in the cache folder),
  keyed by the four files' sizes and modification times: a changed file is read again.
"""
import ctypes
import hashlib
import io
import itertools
import json
import os
import struct

import mxnet as mx
import numpy as np
from mxnet.base import _LIB, check_call

from mixup_app.data import images, records
from mixup_app.files import load_json, stamp, write_atomic
from mixup_app.progress import bar
from mixup_app.data.records import DataError

MANIFEST_SUFFIX = ".mixup.json"
FORMAT = 1   # bump when the cached manifest's contents change


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mixup", "records")


def _base(rec):
    return rec[:-4] if rec.endswith(".rec") else rec


def _writable(folder):
    return os.access(folder, os.W_OK | os.X_OK)


def _cached_name(path, suffix, cache_dir):
    """A file in cache_dir that belongs to `path` (the absolute path's digest keeps two
    datasets with one file name apart)."""
    digest = hashlib.sha256(path.encode()).hexdigest()[:12]
    return os.path.join(cache_dir, "%s-%s%s" % (os.path.basename(_base(path)), digest, suffix))


def _beside_or_cached(path, suffix, cache_dir):
    """Where a file derived from `path` goes: beside it, else in cache_dir."""
    beside = _base(path) + suffix
    if os.path.exists(beside) or _writable(os.path.dirname(beside)):
        return beside
    os.makedirs(cache_dir, exist_ok=True)
    return _cached_name(path, suffix, cache_dir)


def _reader_tell(reader):
    # MXRecordIO.tell() is writer-only in MXNet 1.9.1; the C API has the reader's position.
    pos = ctypes.c_size_t()
    check_call(_LIB.MXRecordIOReaderTell(reader.handle, ctypes.byref(pos)))
    return pos.value


# MXNet's RecordIO: each part of a record is the magic (uint32), then lrecord (uint32: a
# continuation flag in the upper 3 bits, the length in the lower 29), then the payload padded
# to 4 bytes. Flag 0 is a whole record, 1 starts a multi-part one, 2 continues it, 3 ends it.
RECORDIO_MAGIC = 0xced7230a


def _check_lengths(handle, rec, number, position, size):
    """Refuse a record whose parts claim more bytes than the file holds, before MXNet reads
    it: MXNet sizes (and zero-fills) its buffer from the header, up to 512 MB per part."""
    part = position
    while True:
        handle.seek(part)
        head = handle.read(8)
        if len(head) < 8:
            return  # MXNet reports the short header
        magic, lrecord = struct.unpack("<II", head)
        if magic != RECORDIO_MAGIC:
            return  # MXNet reports the bad magic
        length, flag = lrecord & ((1 << 29) - 1), lrecord >> 29
        end = part + 8 + length + (-length % 4)
        if end > size:
            raise DataError("%s: record %d (byte %d) claims %d bytes, the file holds %d after "
                            "its header: truncated or corrupt"
                            % (rec, number, position, length, size - part - 8))
        if flag in (0, 3):
            return
        part = end


def _records(rec, progress=None):
    """(byte offset, record bytes) of every record of rec, in file order."""
    try:
        reader = mx.recordio.MXRecordIO(rec, "r")
    except Exception as error:  # MXNetError
        raise DataError("%s cannot be opened (%s)" % (rec, str(error).strip().splitlines()[-1]))
    size = os.path.getsize(rec)
    with bar(size, os.path.basename(rec), unit="B", enabled=progress) as pbar, \
            open(rec, "rb") as handle:
        for number in itertools.count():
            position = _reader_tell(reader)
            _check_lengths(handle, rec, number, position, size)
            try:
                item = reader.read()
            except Exception as error:  # MXNet's own checks: bad magic, short record
                last = str(error).strip().splitlines()[-1]
                raise DataError("%s is not a RecordIO file, or truncated or corrupt at byte %d "
                                "(%s)" % (rec, position, last)) from None
            if item is None:
                break
            pbar.update(_reader_tell(reader) - position)
            yield position, item
    reader.close()


def _decode(rec, number, position, item, channels=None):
    """(header label, uint8 pixels) of one record; pixels as stored ('L' -> (H, W)) unless
    `channels` asks for 1 or 3."""
    where = "%s: record %d (byte %d)" % (rec, number, position)
    try:
        header, payload = mx.recordio.unpack(item)
    except Exception as error:
        raise DataError("%s does not unpack (%s)" % (where, error)) from None
    label = np.asarray(header.label, dtype=np.float64).ravel()
    if header.flag > 1 or label.size != 1:
        raise DataError("%s has %d labels; one class per image is needed" % (where, label.size))
    with images.opened(io.BytesIO(payload), where, "holds no decodable image") as image:
        if channels is None:
            channels = 1 if image.mode in images.GRAY_MODES else 3
        pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    return float(label[0]), pixels


def check_split(rec, idx, num_classes, image_shape=None, with_stats=False, build_idx_at=None,
                progress=None):
    """Read every record of rec. Returns {"count", "image_shape", "labels": [min, max],
    "larger"} and, with_stats, "mean" and "std" of its images.

    idx: an existing index, checked against the records' offsets; or None, and then
    `build_idx_at` is where the index is written (atomically, keys 0..N-1 in file order).
    image_shape (C, H, W): what the images must be (default: the first record's); a larger
    image is counted in "larger" (the record iterator crops it), a smaller one refused."""
    offsets, low, high, larger, stats = [], None, None, 0, None
    for number, (position, item) in enumerate(_records(rec, progress)):
        label, pixels = _decode(rec, number, position, item,
                                image_shape[0] if image_shape else None)
        if label != int(label) or not 0 <= label < num_classes:
            raise DataError("%s: record %d (byte %d) has label %g; need an integer in 0..%d "
                            "(num_classes %d)" % (rec, number, position, label,
                                                  num_classes - 1, num_classes))
        size = pixels.shape[:2]
        if image_shape is None:
            image_shape = (1 if pixels.ndim == 2 else 3,) + size
        elif size != tuple(image_shape[1:]):
            if size[0] < image_shape[1] or size[1] < image_shape[2]:
                raise DataError("%s: record %d (byte %d) is %dx%d, smaller than the %dx%d of "
                                "the first training image" % ((rec, number, position) + size
                                                              + tuple(image_shape[1:])))
            larger += 1
        if with_stats:
            stats = stats or records.ChannelStats(image_shape[0])
            stats.add(pixels)
        offsets.append(position)
        low = label if low is None else min(low, label)
        high = label if high is None else max(high, label)
    if not offsets:
        raise DataError("%s holds no records" % rec)
    if idx is not None:
        indexed = _read_idx(idx, rec)
        if sorted(indexed) != offsets:
            raise DataError("%s does not match %s (%d entries for %d records): delete it to "
                            "have it rebuilt" % (idx, rec, len(indexed), len(offsets)))
    else:
        write_atomic(build_idx_at, "".join("%d\t%d\n" % kv for kv in enumerate(offsets)))
    entry = {"count": len(offsets), "image_shape": list(image_shape),
             "labels": [int(low), int(high)], "larger": larger}
    if with_stats:
        entry["mean"], entry["std"] = stats.result()
    return entry


def _read_idx(idx, rec):
    offsets = []
    try:
        with open(idx) as f:
            for line in f:
                if line.strip():
                    _, offset = line.split("\t")
                    offsets.append(int(offset))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise DataError("%s is not a RecordIO index (lines KEY<tab>OFFSET) for %s (%s)"
                        % (idx, rec, error)) from None
    return offsets


def _files(rec, cache_dir):
    """(rec, idx, whether idx exists) for one split, the idx beside the rec or cached."""
    beside = _base(rec) + ".idx"
    if os.path.exists(beside):
        return beside, True
    cached = _cached_name(rec, ".idx", cache_dir)
    if os.path.exists(cached):
        return cached, True
    return _beside_or_cached(rec, ".idx", cache_dir), False


def _check_shape(image_shape, found, rec):
    if image_shape is not None and tuple(image_shape) != tuple(found):
        raise DataError("image_shape %s does not match %s, whose first image is %s (C,H,W)"
                        % (",".join(map(str, image_shape)), rec, ",".join(map(str, found))))


def adopt(train_rec, val_rec, num_classes, image_shape=None, log=print, cache_dir=None,
          classes=None, mirror=True, progress=None):
    """Check a pair of RecordIO files made elsewhere and return their manifest (cached).

    Returns the keys of a prepared dataset's manifest -- ``image_shape`` [C, H, W],
    ``num_classes``, ``classes`` ("0".."K-1" unless given), ``mean``, ``std`` (0-255, per
    channel, of the training images), ``mirror``, ``splits`` {"train"/"val": {"count",
    "rec_bytes", "labels": [min, max]}} -- plus ``paths`` {"train": [rec, idx], "val": [rec,
    idx]} (absolute), ``source``, ``encoding`` ("as found") and ``manifest`` (where it is
    cached). image_shape (C, H, W), if given, must be the first training image's shape.
    Raises DataError (naming the file and value) on anything unusable."""
    cache_dir = cache_dir or default_cache_dir()
    if int(num_classes) != num_classes or num_classes < 2:
        raise DataError("num_classes must be an integer >= 2, got %r" % (num_classes,))
    if classes is not None and len(classes) != num_classes:
        raise DataError("%d class names for num_classes %d" % (len(classes), num_classes))
    recs = {"train": os.path.abspath(train_rec), "val": os.path.abspath(val_rec)}
    for split, rec in recs.items():
        if not os.path.isfile(rec):
            raise DataError("%s (the %s records) is missing" % (rec, split))
    found = {split: _files(rec, cache_dir) for split, rec in recs.items()}
    manifest_path = _beside_or_cached(recs["train"], MANIFEST_SUFFIX, cache_dir)
    if not os.path.exists(manifest_path):
        cached = _cached_name(recs["train"], MANIFEST_SUFFIX, cache_dir)
        manifest_path = cached if os.path.exists(cached) else manifest_path
    names = list(classes) if classes is not None else [str(k) for k in range(num_classes)]
    manifest = _cached(manifest_path, recs, found)
    if manifest is not None:
        top = max(manifest["splits"][s]["labels"][1] for s in records.SPLITS)
        if top < num_classes:
            _check_shape(image_shape, manifest["image_shape"], recs["train"])
            if (manifest["num_classes"], manifest["classes"], manifest["mirror"]) != (
                    num_classes, names, mirror):
                manifest.update(num_classes=num_classes, classes=names, mirror=mirror)
                write_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
            log("using %s and %s (%d train / %d val images, checked before)"
                % (recs["train"], recs["val"], manifest["splits"]["train"]["count"],
                   manifest["splits"]["val"]["count"]))
            return manifest
    splits, shape = {}, None
    for split in records.SPLITS:
        rec = recs[split]
        idx, exists = found[split]
        log("checking %s%s ..." % (rec, "" if exists else " and writing its index %s" % idx))
        entry = check_split(rec, idx if exists else None, num_classes, image_shape=shape,
                            with_stats=split == "train", build_idx_at=None if exists else idx,
                            progress=progress)
        if split == "train":
            _check_shape(image_shape, entry["image_shape"], rec)
            shape, mean, std = entry["image_shape"], entry["mean"], entry["std"]
        if entry["larger"]:
            log("note: %d images of %s are larger than %s; the record iterator crops them"
                % (entry["larger"], rec, "x".join(map(str, shape[1:]))))
        splits[split] = {"count": entry["count"], "rec_bytes": os.path.getsize(rec),
                         "labels": entry["labels"]}
    manifest = {"dataset": os.path.basename(_base(recs["train"])), "source": recs["train"],
                "encoding": "as found", "format": FORMAT, "image_shape": shape,
                "num_classes": num_classes, "classes": names, "mirror": bool(mirror),
                "mean": mean, "std": std, "splits": splits,
                "paths": {split: [recs[split], found[split][0]] for split in records.SPLITS},
                "stamps": _stamps(recs, found), "manifest": manifest_path}
    write_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
    log("%s and %s adopted: %d train / %d val images of %s, labels %d..%d"
        % (recs["train"], recs["val"], splits["train"]["count"], splits["val"]["count"],
           "x".join(map(str, shape)), min(s["labels"][0] for s in splits.values()),
           max(s["labels"][1] for s in splits.values())))
    return manifest


def _stamps(recs, found):
    return {split: {"rec": stamp(recs[split]), "idx": stamp(found[split][0])}
            for split in records.SPLITS}


def _cached(manifest_path, recs, found):
    """The cached manifest if it describes these very files, unchanged; else None."""
    if not all(exists for _, exists in found.values()) or not os.path.exists(manifest_path):
        return None
    try:
        manifest = records.check_manifest(load_json(manifest_path), manifest_path)
        same = (manifest.get("format") == FORMAT
                and manifest["paths"] == {s: [recs[s], found[s][0]] for s in records.SPLITS}
                and manifest["stamps"] == _stamps(recs, found)
                and all(_is_label_range(manifest["splits"][s].get("labels"))
                        for s in records.SPLITS))
    except (OSError, ValueError, KeyError, TypeError, DataError):
        return None  # absent, damaged or another file's: the records are read again
    return manifest if same else None


def _is_label_range(labels):
    return (isinstance(labels, list) and len(labels) == 2
            and all(type(v) is int for v in labels) and 0 <= labels[0] <= labels[1])
