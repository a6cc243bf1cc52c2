"""The op's gradient: finite differences, the transpose of the observed mixing, req modes,
two devices under Module, and the Gluon block."""
import mxnet as mx
import numpy as np
import pytest

from conftest import mixup_nd, observed_matrix

PARAMS = dict(num_classes=3, alpha=0.5, mix_rate=0.7)


def bind(shape, grad_req, seed, dtype=np.float64, **params):
    """Bind after mx.random.seed(seed): the operator's generator is seeded when it is created."""
    mx.random.seed(seed)
    sym = mx.sym.Custom(mx.sym.var("data", dtype=dtype), mx.sym.var("label"), op_type="MixUp",
                        **{**PARAMS, **params})
    return sym.simple_bind(mx.cpu(), data=shape, label=(shape[0],), type_dict={"data": dtype},
                           grad_req={"data": grad_req, "label": "null"})


def forward_backward(exe, x, y, head):
    exe.forward(is_train=True, data=mx.nd.array(x, dtype=x.dtype), label=mx.nd.array(y))
    exe.backward([mx.nd.array(head, dtype=x.dtype), mx.nd.zeros((x.shape[0], 3))])
    return exe.outputs[0].asnumpy()


def loss_at(x, y, head, seed):
    exe = bind(x.shape, "null", seed)
    exe.forward(is_train=True, data=mx.nd.array(x, dtype=x.dtype), label=mx.nd.array(y))
    return float((exe.outputs[0].asnumpy() * head).sum())


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3, 3)])
def test_gradient_matches_central_finite_differences(rng, shape):
    x = rng.normal(size=shape)
    y = rng.integers(0, 3, size=shape[0])
    head = rng.normal(size=shape)
    exe = bind(shape, "write", 21)
    forward_backward(exe, x, y, head)
    analytic = exe.grad_dict["data"].asnumpy()
    numeric = np.zeros_like(x)
    eps = 1e-4
    for idx in np.ndindex(*shape):
        step = np.zeros_like(x)
        step[idx] = eps
        numeric[idx] = (loss_at(x + step, y, head, 21) - loss_at(x - step, y, head, 21)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    # the partner terms matter: the gradient is not just lambda * head
    assert not np.allclose(analytic, head * np.diag(observed_matrix(shape[0], 21, **PARAMS))
                           .reshape((-1,) + (1,) * (len(shape) - 1)))


def test_gradient_is_the_transpose_of_the_observed_mixing(rng):
    n = 9
    m = observed_matrix(n, seed=4, **PARAMS)
    exe = bind((n, 6), "write", 4)
    head = rng.normal(size=(n, 6))
    forward_backward(exe, rng.normal(size=(n, 6)), np.zeros(n), head)
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy(), m.T @ head, rtol=1e-6)


def test_add_request_accumulates_and_null_leaves_untouched(rng):
    n = 6
    x, head = rng.normal(size=(n, 4)), rng.normal(size=(n, 4))
    m = observed_matrix(n, seed=8, **PARAMS)
    exe = bind((n, 4), "add", 8)
    start = rng.normal(size=(n, 4))
    exe.grad_dict["data"][:] = start
    forward_backward(exe, x, np.zeros(n), head)
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy(), start + m.T @ head, rtol=1e-6)

    exe = bind((n, 4), "null", 8)
    forward_backward(exe, x, np.zeros(n), head)
    assert exe.grad_dict.get("data") is None


def test_inference_forward_then_backward_passes_the_gradient_through(rng):
    exe = bind((4, 2), "write", 0)
    head = rng.normal(size=(4, 2))
    exe.forward(is_train=False, data=mx.nd.array(rng.normal(size=(4, 2))), label=mx.nd.zeros(4))
    exe.backward([mx.nd.array(head, dtype=np.float64), mx.nd.zeros((4, 3))])
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy(), head)


def test_float16_gradient(rng):
    n = 6
    m = observed_matrix(n, seed=2, dtype=np.float32, **PARAMS)
    exe = bind((n, 5), "write", 2, dtype=np.float16)
    head = rng.normal(size=(n, 5)).astype(np.float16)
    forward_backward(exe, rng.normal(size=(n, 5)).astype(np.float16), np.zeros(n), head)
    grad = exe.grad_dict["data"].asnumpy()
    assert grad.dtype == np.float16
    np.testing.assert_allclose(grad.astype(np.float64), m.T @ head.astype(np.float64),
                               rtol=5e-3, atol=5e-3)


def test_module_on_two_devices_mixes_within_each_slice(rng):
    """Module splits the batch over cpu(0) and cpu(1); batch_size=128 is accepted and ignored."""
    n, half = 8, 4
    data, label = mx.sym.Custom(data=mx.sym.var("data"), label=mx.sym.var("softmax_label"),
                                alpha=0.2, num_classes=10, batch_size=128, mix_rate=0.7,
                                op_type="MixUp")
    net = mx.sym.Group([mx.sym.MakeLoss(mx.sym.sum(data * data)), mx.sym.BlockGrad(label)])
    mx.random.seed(1)
    mod = mx.mod.Module(net, context=[mx.cpu(0), mx.cpu(1)], data_names=["data"],
                        label_names=["softmax_label"])
    mod.bind(data_shapes=[("data", (n, n))], label_shapes=[("softmax_label", (n,))],
             inputs_need_grad=True)
    mod.init_params()
    batch = mx.io.DataBatch([mx.nd.array(np.eye(n))], [mx.nd.array(np.arange(n))])
    mod.forward(batch, is_train=True)
    m = mod.get_outputs()[0]  # placeholder to keep the graph alive
    del m
    internals = mod.get_outputs(merge_multi_context=True)
    labels = internals[1].asnumpy()
    mixing = labels[:, :n]  # one-hot of arange(8) through the mixing = the mixing matrix
    np.testing.assert_allclose(mixing.sum(axis=1), 1, atol=1e-6)
    for block in (slice(0, half), slice(half, n)):
        other = np.ones(n, bool)
        other[block] = False
        assert np.all(mixing[block][:, other] == 0), "partners come from the same device slice"
        diag = np.diag(mixing[block][:, block])
        assert np.sum(~np.isclose(diag, 1.0)) in (3, 2)  # round(0.7 * 4) = 3, unless lam ~ 1
    mod.backward()
    grad = mod.get_input_grads()[0].asnumpy()
    # d/dx sum((M x)^2) = 2 M^T M x, with x = I
    np.testing.assert_allclose(grad, 2 * mixing.T @ mixing, rtol=1e-4, atol=1e-5)


def test_gluon_block_hybridized_equals_the_operator_and_backpropagates(rng):
    from mixup.gluon import MixUp
    x = rng.normal(size=(6, 4)).astype(np.float32)
    y = np.arange(6) % 3
    expect = mixup_nd(x, y, seed=3, **PARAMS)
    block = MixUp(**PARAMS)
    block.hybridize()
    xs = mx.nd.array(x)
    xs.attach_grad()
    mx.random.seed(3)
    with mx.autograd.record():
        data, label = block(xs, mx.nd.array(y))
        loss = (data * data).sum()
    loss.backward()
    np.testing.assert_allclose(data.asnumpy(), expect[0], rtol=1e-6)
    np.testing.assert_allclose(label.asnumpy(), expect[1], rtol=1e-6)
    m = observed_matrix(6, seed=3, **PARAMS)
    np.testing.assert_allclose(xs.grad.asnumpy(), 2 * m.T @ (m @ x), rtol=1e-4, atol=1e-5)
    data, _ = block(xs, mx.nd.array(y))  # outside record(): inference, the identity
    np.testing.assert_array_equal(data.asnumpy(), x)
