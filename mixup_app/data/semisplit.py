"""The split of a semi-supervised run (``--labeled N [--unlabeled M]``): which training images
keep their labels and which are used without them.

* labeled: the class-balanced draw of N images, exactly ``--train-subset N --subset-draw
  balanced``'s (mixup_app.data.trainset.balanced_subset, derived once as that subset is), so
  a pure function of the seed and the labels; N must be a multiple of the classes (the same
  number of labeled images in every class, as the papers' 250 / 4000 of CIFAR-10);
* unlabeled: the other images of the training split, or M of them drawn without replacement
  from their own seeded stream. Derived once as RecordIO under ``DATA_DIR/derived/`` (the
  original records, labels included, so a record stays traceable): the trainer never reads an
  unlabeled record's label (mixup_app.semi; tests/test_semi.py permutes them and gets the same
  parameters, bit for bit).

The labeled record ids are written to ``RUN/labeled.json`` (atomically) when a run starts.
"""
import json
import os

import numpy as np

from mixup_app.data import records, trainset
from mixup_app.files import write_atomic

# a stream of its own, apart from trainset's subset, noise and balanced streams (1, 2, 3)
_UNLABELED_STREAM = 4


def check_counts(labeled, unlabeled, total, num_classes, semi):
    """Refuse, in one line naming the option, a split the training split cannot give."""
    if not labeled:
        return
    if labeled > total:
        raise ValueError("--labeled %d is larger than the %d training images"
                         % (labeled, total))
    if labeled % num_classes:
        low = labeled // num_classes * num_classes
        raise ValueError("--labeled %d is not a multiple of the %d classes (the same number of "
                         "labeled images in each): give %s%d" % (
                             labeled, num_classes, "%d or " % low if low else "",
                             low + num_classes))
    rest = total - labeled
    if semi != "none" and (rest == 0 or unlabeled > rest):
        raise ValueError("--unlabeled %d: only %d training images are left unlabeled by "
                         "--labeled %d" % (unlabeled or rest, rest, labeled))


def split(labels, labeled, unlabeled, seed, num_classes):
    """(labeled ids, unlabeled ids), sorted record ids of the training split: the balanced
    draw of ``labeled``, and all the others or ``unlabeled`` of them (seeded, uniform)."""
    chosen = trainset.balanced_subset(labels, labeled, seed, num_classes)
    rest = np.setdiff1d(np.arange(len(labels)), chosen)
    if unlabeled:
        rng = np.random.default_rng([seed, _UNLABELED_STREAM])
        rest = np.sort(rng.choice(rest, size=unlabeled, replace=False))
    return chosen, rest


def _name(config):
    return "%s_train-unlabeled-l%d%s-seed%d" % (
        config.dataset, config.labeled, "-u%d" % config.unlabeled if config.unlabeled else "",
        config.seed)


def unlabeled_set(config, num_classes, log=lambda *_: None):
    """The run's unlabeled images as a :class:`~mixup_app.data.trainset.TrainingSet` (derived
    once, reused while the prepared file is the same)."""
    rec, idx = records.paths(config.data_dir, config.dataset, "train")
    total = records.load_manifest(config.data_dir, config.dataset)["splits"]["train"]["count"]
    check_counts(config.labeled, config.unlabeled, total, num_classes, config.semi)
    base = os.path.join(config.data_dir, "derived", _name(config))
    out_rec, out_idx, summary_path = base + ".rec", base + ".idx", base + ".json"
    source = trainset._fingerprint(rec, total, num_classes)
    summary = trainset._read_summary(summary_path)
    what = "unlabeled images of --labeled %d, seed %d" % (config.labeled, config.seed)
    if (summary and summary.get("source") == source and os.path.exists(out_idx)
            and os.path.exists(out_rec) and os.path.getsize(out_rec) == summary.get("rec_bytes")):
        return trainset.TrainingSet(out_rec, out_idx, summary["count"], 0, what)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    log("deriving the %s in %s ..." % (what, os.path.dirname(base)))
    reader, keys = trainset.open_reader(rec, idx, total)
    labels = trainset._read_labels(reader, keys)
    _, rest = split(labels, config.labeled, config.unlabeled, config.seed, num_classes)
    trainset.write_records(reader, keys, rest, labels, out_rec, out_idx)
    reader.close()
    write_atomic(summary_path, json.dumps({
        "count": len(rest), "labeled": config.labeled, "unlabeled": config.unlabeled,
        "seed": config.seed, "rec_bytes": os.path.getsize(out_rec), "source": source},
        indent=2))
    return trainset.TrainingSet(out_rec, out_idx, len(rest), 0, what)


def labeled_ids(train_set):
    """The record ids of a derived training set (the prepared file's ids, kept in each
    record's header)."""
    import mxnet as mx
    reader = mx.recordio.MXIndexedRecordIO(train_set.idx, train_set.rec, "r")
    try:
        return sorted(int(mx.recordio.unpack(reader.read_idx(k))[0].id) for k in reader.keys)
    finally:
        reader.close()


def write_labeled(run_dir, config, train_set):
    """RUN/labeled.json: the labeled record ids (and how they were drawn), atomically."""
    write_atomic(os.path.join(run_dir, "labeled.json"), json.dumps({
        "labeled": config.labeled, "seed": config.seed, "draw": "balanced",
        "dataset": config.dataset, "record_ids": labeled_ids(train_set)}))
