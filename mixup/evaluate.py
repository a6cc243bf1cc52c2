"""Score a run on its validation set.

    python -m mixup.evaluate [--out-dir RUN] [--epoch N] [--data-dir DIR]

(./test.sh sets up the environment first.) Defaults: runs/latest, its last checkpoint, the
dataset and data directory it was trained on. Every validation image is counted exactly once
(the wrapped-around samples of the last batch are dropped). Prints

    accuracy: A (k/N)

and writes RUN/test.json (accuracy, top-5, cross-entropy, expected calibration error,
per-class accuracy, confusion matrix) and RUN/confusion.png.
"""
import argparse
import json
import os
import sys

import mixup  # noqa: F401  (first: sets MXNet switches before MXNet loads)
import mxnet as mx
import numpy as np

from . import data, paths, plots, runs
from .devices import DeviceError, contexts, parse_gpus
from .files import write_atomic
from .records import DataError

ECE_BINS = 15


def predict(module, val_iter):
    """(probabilities (N, C), labels (N,)) over an iterator, in order, padding dropped.

    The module runs in inference mode, where MixUp is the identity."""
    mx.nd.waitall()  # BatchNorm's moving statistics must be final before they are read
    probs, labels = [], []
    for batch in val_iter:
        module.forward(batch, is_train=False)
        keep = batch.data[0].shape[0] - batch.pad
        probs.append(module.get_outputs()[0][:keep].asnumpy())
        labels.append(batch.label[0][:keep].asnumpy())
    return np.concatenate(probs).astype(np.float64), np.concatenate(labels).astype(np.int64)


def expected_calibration_error(probs, labels, bins=ECE_BINS):
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def summarize(probs, labels, num_classes):
    predicted = probs.argmax(axis=1)
    n = len(labels)
    correct = int((predicted == labels).sum())
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    totals = matrix.sum(axis=1)
    result = {
        "count": n, "correct": correct, "accuracy": correct / n,
        "cross_entropy": float(-np.log(np.clip(probs[np.arange(n), labels], 1e-12, 1)).mean()),
        "ece": expected_calibration_error(probs, labels),
        "per_class_accuracy": [float(matrix[c, c] / totals[c]) if totals[c] else None
                               for c in range(num_classes)],
        "confusion": matrix.tolist(),
    }
    if num_classes > 5:
        top5 = np.argsort(-probs, axis=1)[:, :5]
        result["top5"] = float((top5 == labels[:, None]).any(axis=1).mean())
    return result


def scoring_module(run_dir, config, epoch, batch_size, contexts):
    import symbols
    info = data.spec(config["dataset"])
    shape = tuple(int(v) for v in config["image_shape"].split(","))
    symbol = symbols.get_symbol(config["network"], num_classes=info.num_classes,
                                num_layers=config["num_layers"], image_shape=shape,
                                dtype=config["dtype"], train=False)
    module = mx.mod.Module(symbol, context=contexts)
    module.bind(data_shapes=[("data", (batch_size,) + shape)],
                label_shapes=[("softmax_label", (batch_size,))], for_training=False)
    args, auxs = runs.load_params(run_dir, epoch)
    module.set_params(args, auxs, allow_missing=False, allow_extra=True)
    return module, shape


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mixup.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default=os.path.join(paths.default_runs_root(), "latest"),
                        help="the run to score (runs/latest)")
    parser.add_argument("--epoch", type=int, default=None, help="checkpoint (default: last)")
    parser.add_argument("--data-dir", default=None, help="default: the run's")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--gpus", default="", help="GPU indices; empty: the CPU")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be >= 1, got %d" % args.batch_size)
    try:
        run_dir = os.path.realpath(args.out_dir)
        config = runs.load_config(run_dir)
        have = runs.checkpoint_epochs(run_dir)
        if not have:
            raise FileNotFoundError("%s has no checkpoint yet" % args.out_dir)
        epoch = have[-1] if args.epoch is None else args.epoch
        data_dir = args.data_dir or config["data_dir"]
        info = data.spec(config["dataset"])
        count = data.records.verify(data_dir, config["dataset"],
                                    checksums=False)["splits"]["val"]["count"]
        batch_size = min(args.batch_size, count)  # MXNet refuses batches larger than the set
        module, shape = scoring_module(run_dir, config, epoch, batch_size,
                                       contexts(parse_gpus(args.gpus)))
        val_iter = data.record_iter(data_dir, config["dataset"], "val", batch_size, shape,
                                    train=False)
        probs, labels = predict(module, val_iter)
    except (FileNotFoundError, DataError, ValueError, DeviceError) as error:
        print("error: %s" % error, file=sys.stderr)
        return 2
    result = summarize(probs, labels, info.num_classes)
    expected = data.records.load_manifest(data_dir, config["dataset"])["splits"]["val"]["count"]
    if result["count"] != expected:  # cannot happen unless MXNet's padding changes
        print("error: scored %d images, the validation set has %d" % (result["count"],
                                                                      expected), file=sys.stderr)
        return 3
    result.update(run=run_dir, epoch=epoch, dataset=config["dataset"],
                  classes=list(info.classes))
    write_atomic(os.path.join(run_dir, "test.json"), json.dumps(result, indent=2))
    plots.confusion(result["confusion"], info.classes, os.path.join(run_dir, "confusion.png"),
                    title="%s, epoch %d: accuracy %.2f%%, ECE %.3f" % (
                        config["dataset"], epoch, 100 * result["accuracy"], result["ece"]))
    # details to stderr: stdout is the one line scripts read
    print("%s, epoch %d: top-5 %s  cross-entropy %.4f  ECE %.4f  (details: %s)" % (
        config["dataset"], epoch, "%.4f" % result["top5"] if "top5" in result else "n/a",
        result["cross_entropy"], result["ece"], os.path.join(run_dir, "test.json")),
        file=sys.stderr)
    print("accuracy: %.4f (%d/%d)" % (result["accuracy"], result["correct"], result["count"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
