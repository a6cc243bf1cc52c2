"""The training set a run reads: the whole prepared split, or a seeded subset of it, with or
without corrupted labels (the regimes of mixup's corrupted-label experiment, Zhang et al.,
2017, section 3.4).

Both are pure functions of the run's seed and each image's position in the prepared training
file (its record id), so every device, every ``dist_sync`` worker and every resume sees the same
images with the same labels:

* subset: ``size`` images drawn without replacement, uniformly, from the whole training split;
* label noise ``p``: each image independently gets, with probability ``p``, a label drawn
  uniformly from **all** classes (the original label included, as in Zhang et al.'s
  random-label experiments), so the fraction of labels actually changed is about
  ``p * (K - 1) / K``. The images chosen at a smaller ``p`` are also chosen at any larger ``p``
  with the same seed (one uniform number per image decides).

A derived set is written once as RecordIO under ``DATA_DIR/derived/`` (the original records'
bytes, only the label in the header replaced) and reused; validation is never touched.
"""
import json
import os
from dataclasses import dataclass

import mxnet as mx
import numpy as np

from . import records
from .files import atomic_path, stamp, write_atomic
from .records import DataError

# Fixed salts keep the subset and the noise streams independent of each other for one seed.
_SUBSET_STREAM, _NOISE_STREAM = 1, 2


@dataclass(frozen=True)
class TrainingSet:
    rec: str
    idx: str
    count: int              # images in the set
    labels_changed: int     # images whose label differs from the original
    source: str             # "as prepared" or a description of the derivation

    @property
    def changed_fraction(self):
        return self.labels_changed / self.count if self.count else 0.0


def subset_indices(total, size, seed):
    """The sorted record ids of a seeded subset of ``size`` of ``total`` images."""
    if not 1 <= size <= total:
        raise ValueError("--train-subset must be between 1 and the %d training images, got %d"
                         % (total, size))
    rng = np.random.default_rng([seed, _SUBSET_STREAM])
    return np.sort(rng.choice(total, size=size, replace=False))


def noisy_labels(labels, noise, seed, num_classes):
    """Labels of the whole training split (indexed by record id) after corruption."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng([seed, _NOISE_STREAM])
    replaced = rng.random(len(labels)) < noise
    random_class = rng.integers(0, num_classes, size=len(labels))
    return np.where(replaced, random_class, labels)


def _read_labels(reader, keys):
    return np.array([mx.recordio.unpack(reader.read_idx(k))[0].label for k in keys],
                    dtype=np.float64).astype(np.int64)


def _fingerprint(rec, total, num_classes):
    """What a derived set depends on besides its options: the prepared file it was cut from."""
    try:
        rec_stamp = stamp(rec)
    except OSError as error:
        raise DataError("%s cannot be read (%s)" % (rec, error.strerror)) from None
    return {"rec": os.path.abspath(rec), "stamp": rec_stamp, "count": total,
            "num_classes": num_classes}


def _read_summary(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):  # absent or damaged: derive again
        return None


def _name(dataset, subset, noise, seed):
    parts = ["%s_train" % dataset]
    if subset:
        parts.append("subset%d" % subset)
    if noise:
        parts.append("noise%g" % noise)
    parts.append("seed%d" % seed)
    return "-".join(parts)


def training_set(data_dir, dataset, num_classes, seed, subset=None, label_noise=0.0,
                 log=print):
    """The :class:`TrainingSet` for these options, derived (once) if they ask for one."""
    rec, idx = records.paths(data_dir, dataset, "train")
    total = records.load_manifest(data_dir, dataset)["splits"]["train"]["count"]
    if not subset and not label_noise:
        return TrainingSet(rec, idx, total, 0, "as prepared")
    if not 0 <= label_noise < 1:
        raise ValueError("--label-noise must be in [0, 1), got %r" % label_noise)
    chosen = subset_indices(total, subset, seed) if subset else np.arange(total)
    base = os.path.join(data_dir, "derived", _name(dataset, subset, label_noise, seed))
    out_rec, out_idx, summary_path = base + ".rec", base + ".idx", base + ".json"
    description = "%s%s, seed %d" % (
        "subset of %d" % subset if subset else "all images",
        ", label noise %g" % label_noise if label_noise else "", seed)
    # A derived set is only as current as the file it was cut from: preparing the dataset
    # again (other --synthetic-size, a re-converted folder) must not reuse a stale cut.
    source = _fingerprint(rec, total, num_classes)
    summary = _read_summary(summary_path)
    if (summary and summary.get("source") == source and os.path.exists(out_idx)
            and os.path.exists(out_rec) and os.path.getsize(out_rec) == summary.get("rec_bytes")):
        return TrainingSet(out_rec, out_idx, summary["count"], summary["labels_changed"],
                           description)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    log("deriving the training set (%s) in %s ..." % (description, os.path.dirname(base)))
    try:
        reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    except Exception as error:  # MXNet raises bare MXNetError/OSError for bad files
        raise DataError("%s cannot be read (%s)" % (rec, error)) from None
    keys = sorted(reader.keys)
    if len(keys) != total:
        raise DataError("%s holds %d records, its manifest says %d" % (rec, len(keys), total))
    original = _read_labels(reader, keys)
    labels = noisy_labels(original, label_noise, seed, num_classes) if label_noise else original
    with atomic_path(out_rec) as tmp_rec, atomic_path(out_idx) as tmp_idx:
        writer = mx.recordio.MXIndexedRecordIO(tmp_idx, tmp_rec, "w")
        for position, i in enumerate(chosen):
            header, payload = mx.recordio.unpack(reader.read_idx(keys[i]))
            # the id stays the image's record id in the prepared file: traceable, and what
            # the label noise is a function of
            header = mx.recordio.IRHeader(header.flag, float(labels[i]), int(keys[i]), 0)
            writer.write_idx(position, mx.recordio.pack(header, payload))
        writer.close()
    reader.close()
    changed = int((labels[chosen] != original[chosen]).sum())
    write_atomic(summary_path, json.dumps({
        "count": len(chosen), "labels_changed": changed, "seed": seed, "subset": subset,
        "label_noise": label_noise, "rec_bytes": os.path.getsize(out_rec), "source": source},
        indent=2))
    return TrainingSet(out_rec, out_idx, len(chosen), changed, description)


def of_run(config, log=lambda *_: None):
    """The training set of a run (its RunConfig): all images, or its subset / noisy labels."""
    from .datasets import spec
    return training_set(config.data_dir, config.dataset,
                        spec(config.dataset, config.data_dir).num_classes, config.seed,
                        subset=config.train_subset or None, label_noise=config.label_noise,
                        log=log)
