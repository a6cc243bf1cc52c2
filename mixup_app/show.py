"""A picture of a mixed batch: training images before and after the MixUp op.

    ./tools.sh show [--dataset fashion-mnist] [--mode mixup|cutmix|switch] [--alpha A]
                    [--lam-mode batch|sample] [--mix-rate R] [... every MixUp parameter]
                    [--seed S] [--count N] [--out FILE]

Takes N training images as stored (no augmentation), runs them through the operator in
training mode exactly as training does (same parameters, one batch), and writes a PNG grid:
the top row as loaded, the bottom row as mixed, each tile captioned with its classes and their
weights in the mixed label (one class at 100% when a sample is not mixed or its partner has
the same class).
"""
import os
import sys

import mixup  # noqa: F401  (first: sets MXNet switches before MXNet loads)
import mxnet as mx
import numpy as np

from mixup_app.data import catalogue, iterators, preparation
from mixup_app import paths, plots
from mixup_app.cli import ArgumentParser, add
from mixup_app.interrupts import INTERRUPTED, StopRequest
from mixup.params import MIXING_FIELDS, parse_mixing
from mixup_app.cli import add_mixing_options
from mixup_app.data.records import DataError


def label_parts(row, classes, floor=1e-6):
    """[(class name, weight)] of a mixed label row, largest weight first."""
    order = np.argsort(-row)
    return [(classes[k], float(row[k])) for k in order if row[k] > floor]


def mixed_batch(data_dir, dataset, count, seed, **mixing_params):
    """(images before (N,C,H,W) 0..255, images after, label rows after, class names) of a batch
    mixed with the given mixing parameters (the operator's defaults for the others)."""
    mixing = parse_mixing(**mixing_params)
    info = catalogue.spec(dataset, data_dir)
    batches = iterators.record_iter(data_dir, dataset, "train", count, train=True, seed=seed,
                               augment=False, normalize=False)
    batch = next(iter(batches))
    images, labels = batch.data[0], batch.label[0]
    mx.random.seed(seed)
    with mx.autograd.train_mode():
        out = mx.nd.Custom(images, labels,
                           **mixing.node(num_classes=info.num_classes).op_kwargs())
    return images.asnumpy(), out[0].asnumpy(), out[1].asnumpy(), list(info.classes)


def main(argv=None):
    parser = ArgumentParser(prog="./tools.sh show", description=__doc__)
    add(parser, "--dataset", "fashion-mnist", "a prepared dataset (./tools.sh data ...)")
    add(parser, "--data-dir", paths.default_data_dir(), "where its .rec files are")
    add_mixing_options(parser.add_argument_group("mixing (the operator's parameters)"))
    add(parser, "--seed", 0, "which images and which draws", type=int)
    add(parser, "--count", 8, "images in the batch (2..32)", type=int)
    add(parser, "--out", "mixed-batch.png", "the PNG to write")
    args = parser.parse_args(argv)
    if not 2 <= args.count <= 32:
        parser.fail("--count must be between 2 and 32, got %d" % args.count)
    stop = StopRequest("stopping").install()
    try:
        params = parse_mixing(**{k: v for k, v in vars(args).items()
                                 if k in MIXING_FIELDS}).values()
        preparation.prepare(args.dataset, args.data_dir, log=lambda *_: None)
        before, after, soft, classes = mixed_batch(args.data_dir, args.dataset, args.count,
                                                   args.seed, **params)
        captions = ["\n".join("%s %.0f%%" % (name, 100 * w) for name, w in
                              label_parts(row, classes)[:2]) for row in soft]
        shown = {"mixup": ["alpha"], "cutmix": ["cutmix_alpha"],
                 "switch": ["alpha", "cutmix_alpha"]}[params["mode"]] + ["mix_rate"]
        if params["label_smoothing"]:
            shown.append("label_smoothing")
        title = "%s on %s (%s, one lambda per %s), seed %d" % (
            params["mode"], args.dataset, ", ".join("%s=%g" % (k, params[k]) for k in shown),
            params["lam_mode"], args.seed)
        plots.batch_grid(before, after, captions, os.path.abspath(args.out), title=title)
    except (ValueError, DataError, OSError) as error:
        return parser.report(error)
    except KeyboardInterrupt:
        print("interrupted: %s not written" % args.out, file=sys.stderr)
        return INTERRUPTED
    finally:
        stop.restore()
    if stop.requested:
        print("interrupted after %s was written" % args.out, file=sys.stderr)
        return INTERRUPTED
    print("wrote %s" % args.out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
