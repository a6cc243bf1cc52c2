"""The training set a run reads: the whole prepared split, or a seeded subset of it, with or
without corrupted labels (the regimes of mixup's corrupted-label experiment, Zhang et al.,
2017, section 3.4).

Both are pure functions of the run's seed and each image's position in the prepared training
file (its record id), so every device, every ``dist_sync`` worker and every resume sees the same
images with the same labels:

* subset (``--train-subset N``), class-balanced by default (``--subset-draw balanced``): N // K
  images of each of the K classes, and one more of each of N % K classes (a seeded choice),
  drawn without replacement within each class; ``--subset-draw uniform``: N images drawn
  without replacement, uniformly, from the whole training split (whatever their classes; every
  subset before ``--subset-draw`` existed was drawn so);
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

from mixup_app.data import records
from mixup_app.config import SUBSET_DRAWS
from mixup_app.files import atomic_path, stamp, write_atomic
from mixup_app.data.records import DataError

# Fixed salts keep the subset and the noise streams independent of each other for one seed.
_SUBSET_STREAM, _NOISE_STREAM, _BALANCED_STREAM = 1, 2, 3
# How --train-subset draws its images (config.SUBSET_DRAWS); the first is the default. A run
# whose config.json predates the option drew uniformly (config.RunConfig.load).


@dataclass(frozen=True)
class TrainingSet:
    rec: str
    idx: str
    count: int              # images in the set
    labels_changed: int     # images whose label differs from the original
    source: str             # "as prepared" or a description of the derivation
    class_counts: tuple = ()  # images per class (original labels), classes 0 .. K-1; () when
    #                           the set is the prepared file as it is (not counted)

    @property
    def changed_fraction(self):
        return self.labels_changed / self.count if self.count else 0.0


def _check_size(total, size):
    if not 1 <= size <= total:
        raise ValueError("--train-subset must be between 1 and the %d training images, got %d"
                         % (total, size))


def uniform_subset(total, size, seed):
    """The sorted record ids of ``size`` of ``total`` images drawn without replacement,
    uniformly (``--subset-draw uniform``, the only draw before it existed: kept bit for bit)."""
    _check_size(total, size)
    rng = np.random.default_rng([seed, _SUBSET_STREAM])
    return np.sort(rng.choice(total, size=size, replace=False))


def class_shares(size, num_classes, seed):
    """Images per class of a balanced subset of ``size``: ``size // K`` each, plus one for each
    of the first ``size % K`` classes of a seeded permutation of the classes.

    A permutation (not a fresh choice per size) keeps the shares nested: for one seed, no
    class gets fewer images at a larger ``size``."""
    shares = np.full(num_classes, size // num_classes, dtype=np.int64)
    order = np.random.default_rng([seed, _BALANCED_STREAM]).permutation(num_classes)
    shares[order[:size % num_classes]] += 1
    return shares


def balanced_subset(labels, size, seed, num_classes):
    """The sorted record ids of a class-balanced subset of ``size`` images (``--subset-draw
    balanced``), ``labels`` being the original label of every record id of the training split.

    Class c gets :func:`class_shares` ``[c]`` images: the first ones of a permutation of its
    record ids drawn from its own stream (seed, c). So the subset is a pure function of the
    seed and the labels (not of the order in which anything is called), and nested: the
    subset of a smaller ``size`` lies within that of a larger one for the same seed. A class
    with fewer images than its share is refused, naming it."""
    labels = np.asarray(labels, dtype=np.int64)
    _check_size(len(labels), size)
    outside = labels[(labels < 0) | (labels >= num_classes)]
    if len(outside):
        raise DataError("the training labels must be 0 .. %d, found %d"
                        % (num_classes - 1, outside[0]))
    shares = class_shares(size, num_classes, seed)
    chosen = []
    for c in range(num_classes):
        ids = np.flatnonzero(labels == c)
        if shares[c] > len(ids):
            raise ValueError("--train-subset %d needs %d images of class %d (balanced draw), "
                             "the training set has %d; give a smaller N or --subset-draw uniform"
                             % (size, shares[c], c, len(ids)))
        rng = np.random.default_rng([seed, _BALANCED_STREAM, c])
        chosen.append(ids[rng.permutation(len(ids))[:shares[c]]])
    return np.sort(np.concatenate(chosen))


def subset_indices(labels, size, seed, num_classes, draw=SUBSET_DRAWS[0]):
    """The sorted record ids of the subset ``--train-subset size --subset-draw draw``: see
    :func:`balanced_subset` and :func:`uniform_subset` (which reads only ``len(labels)``)."""
    if draw == "uniform":
        return uniform_subset(len(labels), size, seed)
    if draw == "balanced":
        return balanced_subset(labels, size, seed, num_classes)
    raise ValueError("--subset-draw must be one of %s, got %r" % (", ".join(SUBSET_DRAWS), draw))


def class_counts(labels, num_classes):
    """Images per class, classes 0 .. K-1, as a tuple of ints (labels outside them are not
    counted)."""
    labels = np.asarray(labels, dtype=np.int64)
    inside = labels[(labels >= 0) & (labels < num_classes)]
    return tuple(int(n) for n in np.bincount(inside, minlength=num_classes))


def describe_counts(counts):
    """'200 per class', or the list when the classes differ ('per class 201,200,...')."""
    if not counts:
        return ""
    if len(set(counts)) == 1:
        return "%d per class" % counts[0]
    return "per class %s" % ",".join(map(str, counts))


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


def _name(dataset, subset, noise, seed, draw):
    parts = ["%s_train" % dataset]
    if subset:
        # a uniform cut keeps the name it had before balanced draws existed; a balanced one
        # has its own, so neither is ever taken for the other (the summary says which, too)
        parts.append("subset%d" % subset + ("-balanced" if draw == "balanced" else ""))
    if noise:
        parts.append("noise%g" % noise)
    parts.append("seed%d" % seed)
    return "-".join(parts)


def open_reader(rec, idx, total):
    """The prepared training file's reader and its sorted record ids, checked against the
    manifest's count."""
    try:
        reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    except Exception as error:  # MXNet raises bare MXNetError/OSError for bad files
        raise DataError("%s cannot be read (%s)" % (rec, error)) from None
    keys = sorted(reader.keys)
    if len(keys) != total:
        raise DataError("%s holds %d records, its manifest says %d" % (rec, len(keys), total))
    return reader, keys


def write_records(reader, keys, chosen, labels, out_rec, out_idx):
    """The records ``chosen`` (record ids) of ``reader`` into a new RecordIO pair, atomically,
    each with its label from ``labels`` (indexed by record id): the original bytes otherwise."""
    with atomic_path(out_rec) as tmp_rec, atomic_path(out_idx) as tmp_idx:
        writer = mx.recordio.MXIndexedRecordIO(tmp_idx, tmp_rec, "w")
        for position, i in enumerate(chosen):
            header, payload = mx.recordio.unpack(reader.read_idx(keys[i]))
            # the id stays the image's record id in the prepared file: traceable, and what
            # the label noise is a function of
            header = mx.recordio.IRHeader(header.flag, float(labels[i]), int(keys[i]), 0)
            writer.write_idx(position, mx.recordio.pack(header, payload))
        writer.close()


def training_set(data_dir, dataset, num_classes, seed, subset=None, label_noise=0.0,
                 log=print, draw=SUBSET_DRAWS[0]):
    """The :class:`TrainingSet` for these options, derived (once) if they ask for one. ``draw``
    (balanced or uniform) is how a ``subset`` is drawn; the subset is drawn on the original
    labels, before any label noise."""
    rec, idx = records.paths(data_dir, dataset, "train")
    total = records.load_manifest(data_dir, dataset)["splits"]["train"]["count"]
    if not subset and not label_noise:
        return TrainingSet(rec, idx, total, 0, "as prepared")
    if not 0 <= label_noise < 1:
        raise ValueError("--label-noise must be in [0, 1), got %r" % label_noise)
    if draw not in SUBSET_DRAWS:
        raise ValueError("--subset-draw must be one of %s, got %r"
                         % (", ".join(SUBSET_DRAWS), draw))
    if subset:
        _check_size(total, subset)  # before a stored cut is looked for: refused either way
    base = os.path.join(data_dir, "derived", _name(dataset, subset, label_noise, seed, draw))
    out_rec, out_idx, summary_path = base + ".rec", base + ".idx", base + ".json"
    description = "%s%s, seed %d" % (
        "%s subset of %d" % (draw, subset) if subset else "all images",
        ", label noise %g" % label_noise if label_noise else "", seed)
    # A derived set is only as current as the file it was cut from: preparing the dataset
    # again (other --synthetic-size, a re-converted folder) must not reuse a stale cut. Its
    # draw is checked too, and a summary without one or without class counts (written before
    # balanced draws existed) is derived again: the same records for a uniform cut.
    source = _fingerprint(rec, total, num_classes)
    drawn = draw if subset else "all"
    summary = _read_summary(summary_path)
    if (summary and summary.get("source") == source and summary.get("draw") == drawn
            and isinstance(summary.get("class_counts"), list)
            and len(summary["class_counts"]) == num_classes
            and os.path.exists(out_idx) and os.path.exists(out_rec)
            and os.path.getsize(out_rec) == summary.get("rec_bytes")):
        counts = tuple(summary["class_counts"])
        return TrainingSet(out_rec, out_idx, summary["count"], summary["labels_changed"],
                           "%s (%s)" % (description, describe_counts(counts)), counts)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    log("deriving the training set (%s) in %s ..." % (description, os.path.dirname(base)))
    reader, keys = open_reader(rec, idx, total)
    original = _read_labels(reader, keys)
    chosen = (subset_indices(original, subset, seed, num_classes, draw) if subset
              else np.arange(total))
    labels = noisy_labels(original, label_noise, seed, num_classes) if label_noise else original
    write_records(reader, keys, chosen, labels, out_rec, out_idx)
    reader.close()
    changed = int((labels[chosen] != original[chosen]).sum())
    counts = class_counts(original[chosen], num_classes)
    write_atomic(summary_path, json.dumps({
        "count": len(chosen), "labels_changed": changed, "seed": seed, "subset": subset,
        "draw": drawn, "class_counts": list(counts), "label_noise": label_noise,
        "rec_bytes": os.path.getsize(out_rec), "source": source}, indent=2))
    return TrainingSet(out_rec, out_idx, len(chosen), changed,
                       "%s (%s)" % (description, describe_counts(counts)), counts)


def of_run(config, log=lambda *_: None):
    """The training set of a run (its RunConfig): all images, or its subset / noisy labels;
    with --labeled N its N labeled images, the balanced draw of a subset of N."""
    from mixup_app.data.catalogue import spec
    return training_set(config.data_dir, config.dataset,
                        spec(config.dataset, config.data_dir).num_classes, config.seed,
                        subset=config.train_subset or config.labeled or None,
                        label_noise=config.label_noise, log=log,
                        draw="balanced" if config.labeled else config.subset_draw)
