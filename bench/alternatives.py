"""The implementations our op is measured against (benchmarks only)."""
import mxnet as mx
import numpy as np

import mixup


def builtin_mixup(data, label, name=None, num_classes=10, alpha=0.2, mix_rate=1.0,
                  lam_mode="batch", batch=128):
    """The same math composed from MXNet's built-in operators, draws made in the graph:
    x~ = x + w * (x[perm] - x), w = mask * (1 - lam), lam = G1 / (G1 + G2)."""
    count = mixup.mixed_count(mix_rate, batch)
    index = mx.sym.arange(batch)
    # random operators have no gradient: the draws enter the graph through BlockGrad
    perm = mx.sym.BlockGrad(mx.sym.random.shuffle(index))
    mask = mx.sym.BlockGrad(mx.sym.random.shuffle(index) < count)
    g = mx.sym.BlockGrad(mx.sym.random.gamma(alpha=alpha, beta=1.0, shape=(2,)))
    lam = mx.sym.slice_axis(g, axis=0, begin=0, end=1) / mx.sym.sum(g)
    weight = mx.sym.broadcast_mul(mask, 1 - lam)

    def mix(x, ndim):
        w = mx.sym.reshape(weight, shape=(-1,) + (1,) * (ndim - 1))
        return x + mx.sym.broadcast_mul(w, mx.sym.take(x, perm) - x)

    probs = mx.sym.one_hot(label, depth=num_classes)
    return mix(data, 4), mx.sym.BlockGrad(mix(probs, 2))


class HostRoundTrip(mx.operator.CustomOp):
    """The original's approach: copy to the host, mix in numpy, copy back (forward and
    backward)."""

    def __init__(self, num_classes, alpha, mix_rate):
        super().__init__()
        self.rng = np.random.default_rng(0)
        self.num_classes, self.alpha, self.mix_rate = num_classes, alpha, mix_rate

    def forward(self, is_train, req, in_data, out_data, aux):
        x = in_data[0].asnumpy()
        y = np.eye(self.num_classes, dtype=np.float32)[in_data[1].asnumpy().astype(int)]
        plan = mixup.draw_plan(self.rng, len(x), self.mix_rate, self.alpha)
        self.plan = plan
        w = plan.give.astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
        self.assign(out_data[0], req[0], mx.nd.array(x + w * (x[plan.partner] - x),
                                                     ctx=in_data[0].context))
        wy = plan.give.astype(np.float32)[:, None]
        self.assign(out_data[1], req[1], mx.nd.array(y + wy * (y[plan.partner] - y),
                                                     ctx=in_data[0].context))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        dy = out_grad[0].asnumpy()
        w = self.plan.give.astype(dy.dtype).reshape((-1,) + (1,) * (dy.ndim - 1))
        dx = (1 - w) * dy
        np.add.at(dx, self.plan.partner, w * dy)
        self.assign(in_grad[0], req[0], mx.nd.array(dx, ctx=out_grad[0].context))
        self.assign(in_grad[1], req[1], 0)


@mx.operator.register("MixUpHostRoundTrip")
class HostRoundTripProp(mx.operator.CustomOpProp):
    def __init__(self, num_classes="10", alpha="0.2", mix_rate="1.0", **_):
        super().__init__(need_top_grad=True)
        self.args = int(num_classes), float(alpha), float(mix_rate)

    def list_arguments(self):
        return ["data", "label"]

    def list_outputs(self):
        return ["data_out", "label_out"]

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0], (in_shape[0][0], self.args[0])], []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return [out_grad[0]]

    def create_operator(self, ctx, shapes, dtypes):
        return HostRoundTrip(*self.args)


def host_mixup(data, label, name=None, num_classes=10, alpha=0.2, mix_rate=1.0, **_):
    node = mx.sym.Custom(data, label, op_type="MixUpHostRoundTrip", num_classes=num_classes,
                         alpha=alpha, mix_rate=mix_rate)
    return node[0], node[1]
