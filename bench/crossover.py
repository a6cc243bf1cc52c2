"""Where the op's two ways of mixing on the CPU cross: numpy on the host against MXNet's
operators (mixup: the sparse dot; CutMix: the box masks, take and where), forward + backward in
a bound graph, per dtype and size, interleaved rounds. mixup.op.HOST_MIX_MAX_ELEMENTS and
mixup.op.mixes_on_host come from these figures.

    python -m bench.crossover [--rounds 7] [--dtypes float32,...] [--modes mixup,cutmix]
"""
import argparse
import math
import sys

import mixup  # noqa: F401  (registers MixUp)
import mxnet as mx
import numpy as np

from mixup import op

from .common import interleaved, paired_ratios, table
from .floor import NUM_CLASSES

SIDES = (2, 4, 8, 12, 16, 24, 32)  # batches of 128 x 3 x side x side
PARAMS = dict(alpha=0.2, mix_rate=1.0, lam_mode="sample")


def forced(shape, dtype, mode, on_host):
    """One forward + backward of a bound MixUp node whose path is forced to ``on_host``."""
    data, label = mx.sym.var("data", dtype=dtype), mx.sym.var("label")
    node = mx.sym.Custom(data, label, op_type="MixUp", num_classes=NUM_CLASSES, mode=mode,
                         **PARAMS)
    exe = mx.sym.Group([node[0], mx.sym.BlockGrad(node[1])]).simple_bind(
        mx.cpu(), data=shape, label=(shape[0],), type_dict={"data": dtype},
        grad_req={"data": "write", "label": "null"})
    exe.arg_dict["data"][:] = mx.nd.random.normal(shape=shape).astype(dtype)
    exe.arg_dict["label"][:] = mx.nd.array(np.arange(shape[0]) % NUM_CLASSES)
    heads = [mx.nd.random.normal(shape=shape).astype(dtype), mx.nd.zeros((shape[0], NUM_CLASSES))]
    decide = op.mixes_on_host

    def step():
        op.mixes_on_host = lambda *_: on_host
        try:
            exe.forward(is_train=True)
            exe.backward(heads)
            mx.nd.waitall()
        finally:
            op.mixes_on_host = decide
    return step


def run(rounds=7, dtypes=("float16", "float32", "float64"), modes=("mixup", "cutmix"),
        sides=SIDES):
    rows = []
    for mode in modes:
        for dtype in dtypes:
            for side in sides:
                shape = (128, 3, side, side)
                timing = interleaved({"host": forced(shape, dtype, mode, True),
                                      "device": forced(shape, dtype, mode, False)},
                                     rounds, iters=10)
                ratio = paired_ratios(timing, "device")["host"]
                rows.append({"mode": mode, "dtype": dtype, "shape": "x".join(map(str, shape)),
                             "elements": math.prod(shape),
                             "numpy_ms": round(1e3 * timing["host"]["median_s"], 3),
                             "mxnet_ms": round(1e3 * timing["device"]["median_s"], 3),
                             "numpy/mxnet": "%.2f (%.2f..%.2f)" % (ratio["mean"], ratio["low"],
                                                                   ratio["high"])})
    table("Mixing on the CPU: numpy against MXNet's operators, forward + backward, bound "
          "(median ms; mean of per-round ratios, 95% CI)", rows,
          ["mode", "dtype", "shape", "elements", "numpy_ms", "mxnet_ms", "numpy/mxnet"])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.crossover", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dtypes", default="float16,float32,float64")
    parser.add_argument("--modes", default="mixup,cutmix")
    parser.add_argument("--sides", default=",".join(map(str, SIDES)),
                        help="image sides of the 128 x 3 x side x side batches")
    args = parser.parse_args(argv)
    run(args.rounds, args.dtypes.split(","), args.modes.split(","),
        [int(s) for s in args.sides.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
