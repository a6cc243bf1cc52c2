"""The implementations our op is measured against (benchmarks only)."""
import mxnet as mx

import mixup


def builtin_mixup(data, label, name=None, num_classes=10, alpha=0.2, mix_rate=1.0,
                  lam_mode="batch", batch=128, ndim=4, F=mx.sym):
    """The same math composed from MXNet's built-in operators, draws made in the graph:
    x~ = x + w * (x[perm] - x), w = mask * (1 - lam), lam = G1 / (G1 + G2). ``F``: mx.sym for
    a graph, mx.nd for imperative calls; data of ``ndim`` dimensions. One lambda per batch
    (lam_mode is accepted and ignored: a per-sample lambda costs the same here)."""
    count = mixup.mixed_count(mix_rate, batch)
    index = F.arange(batch)
    # random operators have no gradient: the draws enter the graph through BlockGrad
    perm = F.BlockGrad(F.random.shuffle(index))
    mask = F.BlockGrad(F.random.shuffle(index) < count)
    g = F.BlockGrad(F.random.gamma(alpha=alpha, beta=1.0, shape=(2,)))
    lam = F.slice_axis(g, axis=0, begin=0, end=1) / F.sum(g)
    weight = F.broadcast_mul(mask, 1 - lam)

    def mix(x, dims):
        w = F.reshape(weight, shape=(-1,) + (1,) * (dims - 1))
        return x + F.broadcast_mul(w, F.take(x, perm) - x)

    probs = F.one_hot(label, depth=num_classes)
    return mix(data, ndim), F.BlockGrad(mix(probs, 2))
