"""lam_mode='input': lambda from the graph, a third input lam (N,). Forward and gradient against
a numpy reference built from the op's observed partners (identity data, lam = 1/2), central
finite differences, every float dtype, req and path (numpy on the host, MXNet's operators);
the refusals; the two-input op unchanged; the Gluon block with a learnable lam; seek, paused,
inference and manifold mixup with input lam."""
import mxnet as mx
import numpy as np
import pytest

import mixup
from conftest import assert_refused, refusal_outcomes
from mixup import op as mixup_op
from mixup.gluon import MixUp

C = 3
PARAMS = dict(num_classes=C, lam_mode="input", mix_rate=0.7)
DTYPES = [np.float16, np.float32, np.float64]
# tolerances by dtype: float16 data are mixed in float16 arithmetic; label_out is float32, so
# its part of lam's gradient is summed in float32 whatever the data's dtype
TOLERANCE = {np.float16: 5e-3, np.float32: 1e-5, np.float64: 1e-10}
LAM_TOLERANCE = {**TOLERANCE, np.float64: 1e-6}


@pytest.fixture(autouse=True)
def back_to_step_zero():
    yield
    mixup.seek(0)  # seek is process-wide: later tests start at step 0 again


def run(x, y, lam, seed, train=True, **params):
    """The op imperatively after mx.random.seed(seed): numpy (data_out, label_out)."""
    mx.random.seed(seed)
    with mx.autograd.train_mode() if train else mx.autograd.predict_mode():
        out = mx.nd.Custom(mx.nd.array(x, dtype=x.dtype), mx.nd.array(y),
                           mx.nd.array(lam, dtype=lam.dtype), op_type="MixUp",
                           **{**PARAMS, **params})
    return out[0].asnumpy(), out[1].asnumpy()


def observed_pairs(y, seed, **params):
    """(partner, mixed) of the draws made under `seed`, seen through identity data with every
    lam = 1/2: a mixed row i is (e_i + e_partner(i)) / 2, an unmixed one e_i (partner i)."""
    n = len(y)
    m, _ = run(np.eye(n), y, np.full(n, 0.5), seed, **params)
    mixed = np.diag(m) == 0.5
    np.testing.assert_array_equal(m[~mixed], np.eye(n)[~mixed])
    partner = np.where(mixed, np.argmax(m - np.diag(np.diag(m)), axis=1), np.arange(n))
    np.testing.assert_array_equal(m[mixed, partner[mixed]], 0.5)
    return partner, mixed


def probabilities(y, smoothing=0.0):
    if y.ndim == 2:
        return y.astype(np.float64)
    return (1 - smoothing) * np.eye(C)[y.astype(int)] + smoothing / C


def reference_forward(x, probs, lam, partner, mixed):
    """Row i: lam_i * x_i + (1 - lam_i) * x_partner(i) where mixed, else x_i (and labels)."""
    w = np.where(mixed, lam.astype(np.float64), 1.0)
    column = (-1,) + (1,) * (x.ndim - 1)
    x = x.astype(np.float64)
    return (w.reshape(column) * x + (1 - w).reshape(column) * x[partner],
            w[:, None] * probs + (1 - w[:, None]) * probs[partner])


def reference_gradients(x, probs, lam, partner, mixed, head, head_label):
    """(d/dx, d/dlam) of <head, data_out> + <head_label, label_out>."""
    n = len(lam)
    w = np.where(mixed, lam.astype(np.float64), 1.0)
    m = np.diag(w) + np.diag(1 - w) @ np.eye(n)[partner]
    x, head = x.astype(np.float64).reshape(n, -1), head.astype(np.float64).reshape(n, -1)
    grad_lam = ((head * (x - x[partner])).sum(axis=1)
                + (head_label * (probs - probs[partner])).sum(axis=1))
    return m.T @ head, np.where(mixed, grad_lam, 0.0)


def bind(shape, seed, dtype=np.float64, lam_dtype=None, grad_req="write", **params):
    mx.random.seed(seed)
    sym = mx.sym.Custom(data=mx.sym.var("data"), label=mx.sym.var("label"),
                        lam=mx.sym.var("lam"), op_type="MixUp", **{**PARAMS, **params})
    return sym.simple_bind(mx.cpu(), data=shape, label=(shape[0],), lam=(shape[0],),
                           type_dict={"data": dtype, "lam": lam_dtype or dtype},
                           grad_req={"data": grad_req, "label": "null", "lam": grad_req})


def step(exe, x, y, lam, head, head_label, train=True):
    exe.forward(is_train=train, data=mx.nd.array(x, dtype=x.dtype), label=mx.nd.array(y),
                lam=mx.nd.array(lam, dtype=lam.dtype))
    exe.backward([mx.nd.array(head, dtype=x.dtype), mx.nd.array(head_label)])
    return [o.asnumpy() for o in exe.outputs]


def inputs(rng, shape, dtype=np.float64, lam_dtype=None):
    n = shape[0]
    return (rng.normal(size=shape).astype(dtype), rng.integers(0, C, size=n).astype(np.float32),
            rng.uniform(0.05, 0.95, size=n).astype(lam_dtype or dtype),
            rng.normal(size=shape).astype(dtype), rng.normal(size=(n, C)).astype(np.float32))


# ---------------------------------------------------------------------- forward

@pytest.mark.parametrize("shape", [(8, 5), (6, 3, 4, 4)])
@pytest.mark.parametrize("params", [dict(mix_rate=1.0), dict(mix_rate=0.5),
                                    dict(pairing="other_class", label_smoothing=0.1),
                                    dict(lam_mode="input")])
def test_forward_is_lam_times_own_plus_rest_times_partner(rng, shape, params):
    n = shape[0]
    x, y, lam, _, _ = inputs(rng, shape)
    partner, mixed = observed_pairs(y, 7, **params)
    assert mixed.sum() == mixup.mixed_count(params.get("mix_rate", PARAMS["mix_rate"]), n)
    assert np.all(partner[mixed] != np.flatnonzero(mixed)), "a partner is never the row itself"
    data, label = run(x, y, lam, 7, **params)
    expect = reference_forward(x, probabilities(y, params.get("label_smoothing", 0.0)), lam,
                               partner, mixed)
    np.testing.assert_allclose(data, expect[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(label, expect[1], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(data[~mixed], x[~mixed])  # left out by mix_rate: copies


def test_probability_labels_and_the_same_partners_as_the_drawn_modes(rng):
    """The op draws partners and mixed rows from (seed, step) exactly as with lam_mode='batch',
    only lambda comes from the graph."""
    n = 7
    y = rng.dirichlet(np.ones(C), size=n)
    partner, mixed = observed_pairs(y, 3)
    # lam_mode='batch' under the same seed (its lam drawn after the pairs): the same pairs
    mx.random.seed(3)
    with mx.autograd.train_mode():
        batch = mx.nd.Custom(mx.nd.array(np.eye(n), dtype=np.float64), mx.nd.array(y),
                             op_type="MixUp", num_classes=C, mix_rate=0.7, alpha=1.0)
    batch = batch[0].asnumpy()
    np.testing.assert_array_equal(np.diag(batch) != 1, mixed)
    np.testing.assert_array_equal(np.argmax(batch - np.diag(np.diag(batch)), axis=1)[mixed],
                                  partner[mixed])
    x, lam = rng.normal(size=(n, 4)), rng.uniform(size=n)
    data, label = run(x, y, lam, 3)
    expect = reference_forward(x, y, lam, partner, mixed)
    np.testing.assert_allclose(data, expect[0], rtol=1e-12)
    np.testing.assert_allclose(label, expect[1], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(label.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_float_dtypes_stay_and_match_the_reference(rng, dtype):
    x, y, lam, _, _ = inputs(rng, (8, 3, 2), dtype)
    partner, mixed = observed_pairs(y, 5)
    data, label = run(x, y, lam, 5)
    assert data.dtype == dtype and label.dtype == np.float32
    expect = reference_forward(x, probabilities(y), lam, partner, mixed)
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(data.astype(np.float64), expect[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(label, expect[1], rtol=1e-6, atol=1e-6)


def test_inference_and_paused_are_the_identity_with_zero_lam_gradient(rng):
    x, y, lam, head, head_label = inputs(rng, (6, 4))
    exe = bind((6, 4), 2)
    out = step(exe, x, y, lam, head, head_label, train=False)
    np.testing.assert_array_equal(out[0], x)
    np.testing.assert_array_equal(exe.grad_dict["lam"].asnumpy(), np.zeros(6))
    np.testing.assert_array_equal(exe.grad_dict["data"].asnumpy(), head)
    with mixup.paused():
        out = step(exe, x, y, lam, head, head_label)
        np.testing.assert_array_equal(out[0], x)
        np.testing.assert_array_equal(exe.grad_dict["lam"].asnumpy(), np.zeros(6))


# ---------------------------------------------------------------------- backward

@pytest.mark.parametrize("on_host", [True, False])
@pytest.mark.parametrize("shape", [(6, 4), (5, 2, 3, 3)])
def test_lam_gradient_matches_central_finite_differences(monkeypatch, rng, on_host, shape):
    """Through data and labels (label_out given a gradient), on both of the op's paths."""
    monkeypatch.setattr(mixup_op, "mixes_on_host", lambda *_: on_host)
    x, y, lam, head, head_label = inputs(rng, shape)
    exe = bind(shape, 21)
    step(exe, x, y, lam, head, head_label)
    analytic = exe.grad_dict["lam"].asnumpy()

    def loss(at):
        exe = bind(shape, 21, grad_req="null")
        exe.forward(is_train=True, data=mx.nd.array(x, dtype=x.dtype), label=mx.nd.array(y),
                    lam=mx.nd.array(at, dtype=at.dtype))
        out = [o.asnumpy().astype(np.float64) for o in exe.outputs]
        return float((out[0] * head).sum() + (out[1] * head_label).sum())

    eps = 1e-3  # the output is linear in lam: only rounding (label_out is float32) errs
    numeric = np.array([(loss(lam + eps * e) - loss(lam - eps * e)) / (2 * eps)
                        for e in np.eye(shape[0])])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-4)
    assert np.count_nonzero(analytic) == mixup.mixed_count(PARAMS["mix_rate"], shape[0])
    partner, mixed = observed_pairs(y, 21)
    expect = reference_gradients(x, probabilities(y), lam, partner, mixed, head, head_label)
    np.testing.assert_allclose(analytic, expect[1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy().reshape(shape[0], -1),
                               expect[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("on_host", [True, False])
@pytest.mark.parametrize("req", ["write", "add", "null"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_and_request_against_the_reference(monkeypatch, rng, on_host, req, dtype):
    monkeypatch.setattr(mixup_op, "mixes_on_host", lambda *_: on_host)
    shape = (8, 5)
    x, y, lam, head, head_label = inputs(rng, shape, dtype)
    exe = bind(shape, 4, dtype, grad_req=req)
    start = {}
    if req == "add":
        for name in ("data", "lam"):
            start[name] = rng.normal(size=exe.grad_dict[name].shape).astype(dtype)
            exe.grad_dict[name][:] = mx.nd.array(start[name], dtype=dtype)
    step(exe, x, y, lam, head, head_label)
    if req == "null":
        assert exe.grad_dict.get("data") is None and exe.grad_dict.get("lam") is None
        return
    partner, mixed = observed_pairs(y, 4)
    expect = dict(zip(("data", "lam"), reference_gradients(
        x, probabilities(y), lam, partner, mixed, head, head_label)))
    for name, tol in (("data", TOLERANCE[dtype]), ("lam", LAM_TOLERANCE[dtype])):
        got = exe.grad_dict[name].asnumpy()
        assert got.dtype == dtype
        want = expect[name].reshape(got.shape) + start.get(name, 0)
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol, atol=tol * 4)


def test_lam_of_another_float_type_than_data_gets_its_gradient_in_its_own_type(rng):
    x, y, lam, head, head_label = inputs(rng, (6, 4), np.float16, lam_dtype=np.float64)
    exe = bind((6, 4), 8, np.float16, lam_dtype=np.float64)
    step(exe, x, y, lam, head, head_label)
    grad = exe.grad_dict["lam"].asnumpy()
    assert grad.dtype == np.float64 and exe.outputs[0].dtype == np.float16
    partner, mixed = observed_pairs(y, 8)
    expect = reference_gradients(x, probabilities(y), lam, partner, mixed, head, head_label)[1]
    np.testing.assert_allclose(grad, expect, rtol=1e-5, atol=1e-5)  # summed in float32


def test_a_mixed_row_at_lam_one_is_a_copy_yet_has_the_exact_gradient(rng):
    x, y, lam, head, _ = inputs(rng, (6, 4))
    partner, mixed = observed_pairs(y, 6, mix_rate=1.0)
    lam[0] = 1.0
    exe = bind((6, 4), 6, mix_rate=1.0)
    out = step(exe, x, y, lam, head, np.zeros((6, C)))
    np.testing.assert_array_equal(out[0][0], x[0])
    np.testing.assert_allclose(exe.grad_dict["lam"].asnumpy()[0],
                               (head[0] * (x[0] - x[partner[0]])).sum(), rtol=1e-12)


# ---------------------------------------------------------------------- refusals

REFUSALS = {  # case -> (call, words the message must contain)
    "above_one": ("nd(lam=[0.5, 1.5, 0.2, 0.3])", ["lam[1]", "1.5", "[0, 1]"]),
    "negative": ("nd(lam=[0.5, 0.5, -0.25, 0.3])", ["lam[2]", "-0.25"]),
    "nan": ("nd(lam=[0.5, 0.5, 0.5, float('nan')])", ["lam[3]", "nan"]),
    "inf": ("nd(lam=[float('inf'), 0.5, 0.5, 0.5])", ["lam[0]", "inf"]),
    "bound_executor": ("bound_forward([0.5, 2.0, 0.5, 0.5])", ["lam[1]", "2.0"]),
    "at_inference_too": ("nd(lam=[0.5, 1.5, 0.2, 0.3], train=False)", ["lam[1]", "1.5"]),
    "shape_2d": ("bind(lam=(4, 1))", ["lam must have shape (N,) = (4,)", "(4, 1)"]),
    "shape_batch": ("bind(lam=(5,))", ["lam must have shape (N,) = (4,)", "(5,)"]),
    "integer_lam": ("nd(lam=[1, 0, 1, 0], dtype='int32')", ["lam", "float16", "int32"]),
    "with_cutmix": ("bind(mode='cutmix')", ["lam_mode='input'", "mode='cutmix'"]),
    "missing_lam": ("mx.nd.Custom(mx.nd.zeros((4, 3)), mx.nd.zeros(4), op_type='MixUp', "
                    "num_classes=2, lam_mode='input')[0].asnumpy()",
                    ["expects 3 inputs, but got 2"]),
}

REFUSAL_PRELUDE = """
import mxnet as mx, numpy as np, mixup
def nd(lam, train=True, dtype='float32'):
    with mx.autograd.train_mode() if train else mx.autograd.predict_mode():
        out = mx.nd.Custom(mx.nd.zeros((4, 3)), mx.nd.zeros(4), mx.nd.array(lam, dtype=dtype),
                           op_type='MixUp', num_classes=2, lam_mode='input')
    out[0].asnumpy()
def bind(lam=(4,), **kw):
    node = mx.sym.Custom(data=mx.sym.var('data'), label=mx.sym.var('label'),
                         lam=mx.sym.var('lam'), op_type='MixUp', num_classes=2,
                         lam_mode='input', **kw)
    return node.simple_bind(mx.cpu(), data=(4, 3), label=(4,), lam=lam)
def bound_forward(lam):
    exe = bind()
    exe.forward(is_train=True, data=mx.nd.zeros((4, 3)), label=mx.nd.zeros(4),
                lam=mx.nd.array(lam))
    exe.outputs[0].asnumpy()
"""


@pytest.fixture(scope="module")
def refusals():
    return refusal_outcomes(REFUSAL_PRELUDE, REFUSALS)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_lam_is_refused_with_a_message_naming_it(refusals, case):
    assert_refused(refusals[case], REFUSALS[case][1])


def test_python_entry_points_refuse_lam_exactly_when_lam_mode_is_not_input():
    data, label, lam = mx.sym.var("d"), mx.sym.var("l"), mx.sym.var("w")
    with pytest.raises(ValueError, match=r"lam_mode='input'; got lam_mode='input' and no lam"):
        mixup.symbol(data, label, num_classes=3, lam_mode="input")
    with pytest.raises(ValueError, match=r"got lam_mode='batch' and a lam"):
        mixup.symbol(data, label, num_classes=3, lam=lam)
    with pytest.raises(ValueError, match=r"got lam_mode='sample' and a lam"):
        MixUp(num_classes=3, lam_mode="sample")(mx.nd.zeros((2, 2)), mx.nd.zeros(2),
                                                 mx.nd.ones(2))
    with pytest.raises(ValueError, match="no lam"):
        MixUp(num_classes=3, lam_mode="input")(mx.nd.zeros((2, 2)), mx.nd.zeros(2))


# ---------------------------------------------------------------------- compatibility

def test_the_original_two_input_call_is_unchanged():
    data, label = mx.sym.var("data"), mx.sym.var("label")
    node = mx.sym.Custom(data=data, label=label, alpha=0.2, num_classes=10, batch_size=128,
                         mix_rate=0.7, op_type="MixUp")
    assert node.list_arguments() == ["data", "label"]
    assert node.infer_shape(data=(8, 3))[0] == [(8, 3), (8,)]
    with_lam = mixup.symbol(data, label, num_classes=10, lam_mode="input",
                            lam=mx.sym.var("lam"))[0]
    assert with_lam.list_arguments() == ["data", "label", "lam"]
    assert with_lam.infer_shape(data=(8, 3))[0] == [(8, 3), (8,), (8,)]
    exe = node.simple_bind(mx.cpu(), data=(8, 3), label=(8,))
    exe.forward(is_train=True, data=mx.nd.ones((8, 3)), label=mx.nd.zeros(8))
    exe.backward([mx.nd.ones((8, 3)), mx.nd.zeros((8, 10))])
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), 1.0, rtol=1e-6)


# ---------------------------------------------------------------------- Gluon, seek, manifold

@pytest.mark.parametrize("hybridize", [False, True])
def test_gluon_block_gives_a_learnable_lam_its_gradient(rng, hybridize):
    n = 6
    x, y, lam, head, head_label = inputs(rng, (n, 4), np.float32)
    block = MixUp(num_classes=C, lam_mode="input", mix_rate=0.7)
    if hybridize:
        block.hybridize()
    weights = mx.gluon.Parameter("lam", shape=(n,), init=mx.init.Constant(lam.tolist()))
    weights.initialize()
    mx.random.seed(9)
    with mx.autograd.record():
        data, label = block(mx.nd.array(x), mx.nd.array(y), weights.data())
        loss = (data * mx.nd.array(head)).sum() + (label * mx.nd.array(head_label)).sum()
    loss.backward()
    partner, mixed = observed_pairs(y, 9)
    expect = reference_forward(x, probabilities(y), lam, partner, mixed)
    np.testing.assert_allclose(data.asnumpy(), expect[0], rtol=1e-6, atol=1e-6)
    grad = reference_gradients(x, probabilities(y), lam, partner, mixed, head, head_label)[1]
    np.testing.assert_allclose(weights.grad().asnumpy(), grad, rtol=1e-4, atol=1e-5)
    assert np.count_nonzero(weights.grad().asnumpy()) == mixed.sum()
    data, _ = block(mx.nd.array(x), mx.nd.array(y), weights.data())  # inference: identity
    np.testing.assert_array_equal(data.asnumpy(), x)


def test_seek_resumes_the_pairs_with_input_lam(rng):
    n = 6
    x, y, _, _, _ = inputs(rng, (n, n))
    lams = rng.uniform(size=(5, n))

    def forward(exe, lam):
        exe.forward(is_train=True, data=mx.nd.array(np.eye(n)), label=mx.nd.array(y),
                    lam=mx.nd.array(lam))
        return exe.outputs[0].asnumpy()

    uninterrupted = bind((n, n), 11, grad_req="null")
    outputs = [forward(uninterrupted, lam) for lam in lams]
    assert not np.array_equal(outputs[0], outputs[1])
    mixup.seek(3)
    resumed = bind((n, n), 11, grad_req="null")
    for k in (3, 4):
        np.testing.assert_array_equal(forward(resumed, lams[k]), outputs[k])


def test_manifold_mixup_mixes_at_one_place_with_that_places_lam(rng):
    """Two nodes in a row, each with its own lam: in each step one of them mixes and only its
    lam gets a gradient; the other passes data through with zero lam gradient."""
    n = 4
    data, label = mx.sym.var("data"), mx.sym.var("label")
    for k in range(2):
        data, label = mixup.symbol(data, label, num_classes=C, lam=mx.sym.var("lam%d" % k),
                                   lam_mode="input", place=k, num_places=2, name="m%d" % k)
    net = mx.sym.Group([mx.sym.MakeLoss(mx.sym.sum(data * data)), mx.sym.BlockGrad(data)])
    mx.random.seed(3)
    exe = net.simple_bind(mx.cpu(), data=(n, n), label=(n,), lam0=(n,), lam1=(n,),
                          grad_req={"data": "null", "label": "null", "lam0": "write",
                                    "lam1": "write"})
    seen = set()
    for _ in range(12):
        exe.forward(is_train=True, data=mx.nd.array(np.eye(n)), label=mx.nd.arange(n) % C,
                    lam0=mx.nd.full(n, 0.2), lam1=mx.nd.full(n, 0.3))
        exe.backward()
        grads = [exe.grad_dict["lam%d" % k].asnumpy() for k in range(2)]
        mixing = [k for k in range(2) if np.any(grads[k] != 0)]
        assert len(mixing) == 1, grads
        # every row mixed (mix_rate 1) with the weight of the place that mixed
        np.testing.assert_allclose(np.diag(exe.outputs[1].asnumpy()), (0.2, 0.3)[mixing[0]],
                                   rtol=1e-6)
        seen.add(mixing[0])
    assert seen == {0, 1}
