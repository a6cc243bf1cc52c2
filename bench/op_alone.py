"""1. The op alone, forward + backward, against the alternatives and the memory floor; CutMix
(mode='cutmix') beside mixup in the same interleaved rounds."""
import mxnet as mx
import numpy as np

import mixup

from .alternatives import builtin_mixup, host_mixup
from .common import interleaved, table

SHAPES = [(128, 3, 32, 32), (128, 16, 32, 32), (128, 64, 8, 8)]
PARAMS = dict(num_classes=10, alpha=0.2, mix_rate=0.7)


def _executor(build, shape, ctx):
    data, label = build(mx.sym.var("data"), mx.sym.var("label"), name="m", **PARAMS)
    sym = mx.sym.Group([data, mx.sym.BlockGrad(label)])
    exe = sym.simple_bind(ctx, data=shape, label=(shape[0],),
                          grad_req={"data": "write", "label": "null"})
    exe.arg_dict["data"][:] = mx.nd.random.normal(shape=shape, ctx=ctx)
    exe.arg_dict["label"][:] = mx.nd.array(np.arange(shape[0]) % 10, ctx=ctx)
    head = [mx.nd.random.normal(shape=shape, ctx=ctx), mx.nd.zeros((shape[0], 10), ctx=ctx)]

    def step():
        exe.forward(is_train=True)
        exe.backward(head)
        mx.nd.waitall()
    return step


def _copy_floor(shape, ctx):
    x, dy = (mx.nd.random.normal(shape=shape, ctx=ctx) for _ in range(2))
    out, dx = mx.nd.zeros(shape, ctx=ctx), mx.nd.zeros(shape, ctx=ctx)

    def step():
        x.copyto(out)
        dy.copyto(dx)
        mx.nd.waitall()
    return step


def run(ctx, rounds=7, iters=10):
    results = []
    for shape in SHAPES:
        builders = {
            "mixup_op": lambda d, l, **kw: mixup.symbol(d, l, **kw),
            "cutmix_op": lambda d, l, **kw: mixup.symbol(d, l, mode="cutmix", **kw),
            "builtin_composition": lambda d, l, **kw: builtin_mixup(d, l, batch=shape[0], **kw),
            "host_round_trip": host_mixup,
        }
        candidates = {name: _executor(build, shape, ctx) for name, build in builders.items()}
        candidates["copy_floor"] = _copy_floor(shape, ctx)
        timing = interleaved(candidates, rounds, iters)
        ours = timing["mixup_op"]["median_s"]
        for name, t in timing.items():
            results.append({"shape": "x".join(map(str, shape)), "impl": name,
                            "ms": round(1e3 * t["median_s"], 3),
                            "vs_mixup_op": round(t["median_s"] / ours, 2)})
    table("1. MixUp forward+backward alone (median ms per call; ratio to our op)", results,
          ["shape", "impl", "ms", "vs_mixup_op"])
    return results
