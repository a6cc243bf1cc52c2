"""MixUp next to other Python CustomOps in one graph (MXNet 1.9.1 keeps some CustomOp state
process-global: see mixup_compat.CustomOpBackwardDependencies).

The neighbour is a softmax cross-entropy loss written as a CustomOp, as in the original
unsky/mixup project's ``resnet_mixup_fea`` symbol: forward softmax, backward p - y. The
reference is the same network with MXNet's built-in SoftmaxOutput, whose gradient is also
p - y, bound after the same seed, so it makes the same MixUp draws.
"""
import mxnet as mx
import numpy as np
import pytest

import mixup


class SoftmaxCrossEntropy(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], mx.nd.softmax(in_data[0], axis=1))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        label = in_data[1]
        if label.ndim == 1:
            label = mx.nd.one_hot(label, depth=out_data[0].shape[1])
        self.assign(in_grad[0], req[0], out_data[0] - label)
        self.assign(in_grad[1], req[1], 0)


def _loss_prop(need_top_grad):
    class SoftmaxCrossEntropyProp(mx.operator.CustomOpProp):
        def __init__(self):
            super().__init__(need_top_grad=need_top_grad)

        def list_arguments(self):
            return ["data", "label"]

        def list_outputs(self):
            return ["prob"]

        def infer_shape(self, in_shape):
            return in_shape, [in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return SoftmaxCrossEntropy()
    return SoftmaxCrossEntropyProp


# need_top_grad=False is the original project's loss (it declares inputs and outputs only);
# need_top_grad=True declares everything (MXNet's default).
LOSS_TYPES = {False: "test_softmax_ce_no_top_grad", True: "test_softmax_ce_top_grad"}
for _need, _name in LOSS_TYPES.items():
    mx.operator.register(_name)(_loss_prop(_need))

SHAPE, CLASSES, BATCH = (2, 5, 5), 3, 6


def _tail(features, label, loss):
    """Everything after MixUp: a fully connected layer and the loss."""
    logits = mx.sym.FullyConnected(mx.sym.flatten(features), num_hidden=CLASSES, name="fc")
    if loss == "builtin":
        return mx.sym.SoftmaxOutput(logits, label, normalization="null", name="softmax")
    return mx.sym.Custom(logits, label, op_type=loss, name="softmax")


def network(loss, order):
    """Conv stem -> MixUp -> fc -> loss. `order` says whether the loss node is created after
    the MixUp node (building from input to output) or before it (the tail is built first on
    a placeholder and MixUp composed in front of it)."""
    data, label = mx.sym.var("data"), mx.sym.var("softmax_label")
    stem = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), name="conv0")
    if order == "loss_after":
        mixed, soft = mixup.symbol(stem, label, name="mixup", num_classes=CLASSES, alpha=1.0)
        return _tail(mixed, soft, loss)
    tail = _tail(mx.sym.var("features"), mx.sym.var("soft_label"), loss)
    mixed, soft = mixup.symbol(stem, label, name="mixup", num_classes=CLASSES, alpha=1.0)
    return tail(features=mixed, soft_label=soft)


def gradients(sym, x, y, params):
    mx.random.seed(3)  # before bind: the MixUp draws
    exe = sym.simple_bind(mx.cpu(), data=x.shape, softmax_label=y.shape,
                          grad_req={name: ("null" if name == "softmax_label" else "write")
                                    for name in sym.list_arguments()})
    for name, value in params.items():
        exe.arg_dict[name][:] = value
    exe.forward(is_train=True, data=mx.nd.array(x), softmax_label=mx.nd.array(y))
    exe.backward([mx.nd.ones(exe.outputs[0].shape)])  # the losses ignore their head gradient
    return {name: exe.grad_dict[name].asnumpy() for name in ("conv0_weight", "data")}


@pytest.mark.parametrize("need_top_grad", [False, True])
@pytest.mark.parametrize("order", ["loss_after", "loss_before"])
def test_mixup_at_the_stem_next_to_a_python_loss(rng, need_top_grad, order):
    x = rng.normal(size=(BATCH,) + SHAPE)
    y = rng.integers(0, CLASSES, size=BATCH).astype(np.float64)
    params = {"conv0_weight": rng.normal(scale=0.3, size=(4, 2, 3, 3)),
              "conv0_bias": np.zeros(4),
              "fc_weight": rng.normal(scale=0.3, size=(CLASSES, 4 * 25)),
              "fc_bias": np.zeros(CLASSES)}
    expect = gradients(network("builtin", "loss_after"), x, y, params)
    got = gradients(network(LOSS_TYPES[need_top_grad], order), x, y, params)
    for name in expect:
        np.testing.assert_allclose(got[name], expect[name], rtol=1e-4, atol=1e-5)
    # MixUp did mix (its backward ran on mixed feature maps): without it the gradient differs
    plain = _tail(mx.sym.Convolution(mx.sym.var("data"), num_filter=4, kernel=(3, 3),
                                     pad=(1, 1), name="conv0"),
                  mx.sym.var("softmax_label"), "builtin")
    assert not np.allclose(gradients(plain, x, y, params)["conv0_weight"],
                           got["conv0_weight"], rtol=1e-3)


def test_a_python_loss_created_before_and_after_several_mixup_nodes(rng):
    """The loss is created between two MixUp nodes of one graph, and a third MixUp node is
    created (imperatively) after binding: neither op's backward breaks."""
    x = rng.normal(size=(BATCH, 4)).astype(np.float32)
    y = np.arange(BATCH) % CLASSES
    tail = mx.sym.Custom(mx.sym.FullyConnected(mx.sym.var("h"), num_hidden=CLASSES, name="fc"),
                         mx.sym.var("soft"), op_type=LOSS_TYPES[False])
    first, soft = mixup.symbol(mx.sym.var("data"), mx.sym.var("softmax_label"), name="m1",
                               num_classes=CLASSES, alpha=1.0)
    second, soft = mixup.symbol(first, soft, name="m2", num_classes=CLASSES, alpha=1.0)
    net = tail(h=second, soft=soft)
    exe = net.simple_bind(mx.cpu(), data=x.shape, softmax_label=(BATCH,))
    exe.arg_dict["fc_weight"][:] = rng.normal(size=(CLASSES, 4))
    with mx.autograd.train_mode():
        mx.nd.Custom(mx.nd.array(x), mx.nd.array(y), op_type="MixUp", num_classes=CLASSES)
    exe.forward(is_train=True, data=mx.nd.array(x), softmax_label=mx.nd.array(y))
    exe.backward([mx.nd.ones(exe.outputs[0].shape)])
    grad = exe.grad_dict["data"].asnumpy()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
