"""2. A full training step of ResNet-50 (CIFAR family, 28x28, batch 128): MixUp and CutMix at
the input and at the stem against the same network without MixUp, interleaved rounds, medians."""
import mxnet as mx
import numpy as np

from mixup_symbols import resnet

from .alternatives import builtin_mixup
from .common import interleaved, paired_ratios, table

VARIANTS = {
    "no_mixup": dict(mixup_at="none"),
    "mixup_op@input": dict(mixup_at="input"),
    "mixup_op@stem": dict(mixup_at="stem"),
    "cutmix_op@input": dict(mixup_at="input", mode="cutmix"),
    "cutmix_op@stem": dict(mixup_at="stem", mode="cutmix"),
    "builtin@stem": dict(mixup_at="stem", mixup_impl=True),
}


def _module(batch, shape, ctx, num_layers, mixup_at, mixup_impl=None, mode="mixup"):
    impl = (lambda d, l, **kw: builtin_mixup(d, l, batch=batch, **kw)) if mixup_impl else None
    sym = resnet.get_symbol(10, num_layers, shape, mixup_at=mixup_at, alpha=0.2, mix_rate=0.7,
                            mode=mode, mixup_impl=impl)
    mod = mx.mod.Module(sym, context=ctx)
    mod.bind(data_shapes=[("data", (batch,) + shape)],
             label_shapes=[("softmax_label", (batch,))])
    mx.random.seed(0)
    mod.init_params(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    mod.init_optimizer(optimizer_params={"learning_rate": 0.05, "momentum": 0.9})
    data = mx.io.DataBatch([mx.nd.random.normal(shape=(batch,) + shape, ctx=ctx)],
                           [mx.nd.array(np.arange(batch) % 10, ctx=ctx)])

    def step():
        mod.forward_backward(data)
        mod.update()
        mx.nd.waitall()
    return step


def run(ctx, rounds=7, iters=1, num_layers=50, batch=128, shape=(3, 28, 28)):
    candidates = {name: _module(batch, shape, ctx, num_layers, **cfg)
                  for name, cfg in VARIANTS.items()}
    timing = interleaved(candidates, rounds, iters)
    ratios = paired_ratios(timing, "no_mixup")
    rows = [{"variant": name, "ms_per_step": round(1e3 * t["median_s"], 1),
             "images_per_s": round(batch / t["median_s"], 1),
             "vs_no_mixup": "%+.2f%%" % (100 * (ratios[name]["mean"] - 1)),
             "95% CI": "%+.2f%% .. %+.2f%%" % (100 * (ratios[name]["low"] - 1),
                                              100 * (ratios[name]["high"] - 1))}
            for name, t in timing.items()]
    table("2. ResNet-%d training step, batch %d at %s (%d interleaved rounds; step: median; "
          "vs_no_mixup: mean of per-round ratios with its 95%% confidence interval)"
          % (num_layers, batch, "x".join(map(str, shape)), rounds), rows,
          ["variant", "ms_per_step", "images_per_s", "vs_no_mixup", "95% CI"])
    return rows
