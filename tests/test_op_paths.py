"""The op's two ways of mixing give the same values, element for element, NaN and inf included:
numpy on the host (small batches and CutMix on the CPU) and MXNet's operators on the device
(larger batches, every GPU); the host-side labels agree with MXNet's one_hot; the choice between
the paths follows its thresholds; the views of the callbacks' CPU arrays alias their memory."""
import math

import mxnet as mx
import numpy as np
import pytest

import mixup_compat
from mixup import draws, mixing
from mixup import op as mixup_op

DTYPES = [np.float16, np.float32, np.float64]
N, C = 12, 4
SETTINGS = {  # name: (data shape, parameters)
    "mixup batch": ((N, 5), dict(alpha=0.4, mix_rate=0.75)),
    "mixup sample 4-D": ((N, 2, 3, 3), dict(alpha=1.0, mix_rate=1.0, lam_mode="sample")),
    "mixup tiny alpha": ((N, 5), dict(alpha=1e-20, mix_rate=0.5, lam_mode="sample")),
    "cutmix": ((N, 2, 5, 6), dict(mode="cutmix", mix_rate=0.75, lam_mode="sample")),
    "switch": ((N, 3, 4, 4), dict(mode="switch", switch_prob=0.5, alpha=0.3)),
    "smoothing, other_class": ((N, 5), dict(label_smoothing=0.1, pairing="other_class")),
}


def _bound(shape, dtype, seed, grad_req, params, probability_labels=False):
    mx.random.seed(seed)
    sym = mx.sym.Custom(mx.sym.var("data", dtype=dtype), mx.sym.var("label"), op_type="MixUp",
                        num_classes=C, **params)
    label_shape = (shape[0], C) if probability_labels else (shape[0],)
    return sym.simple_bind(mx.cpu(), data=shape, label=label_shape, type_dict={"data": dtype},
                           grad_req={"data": grad_req, "label": "null"})


def _steps(monkeypatch, on_host, shape, dtype, params, inputs, grad_req="write",
           probability_labels=False):
    """Three training steps of a freshly bound node (seed 5) with the path forced: the data
    outputs, label outputs and data gradients of each, as numpy."""
    monkeypatch.setattr(mixup_op, "mixes_on_host", lambda *_: on_host)
    exe = _bound(shape, dtype, 5, grad_req, params, probability_labels)
    if grad_req == "add":
        exe.grad_dict["data"][:] = mx.nd.array(inputs[0][2], dtype=dtype)
    results = []
    for x, y, head in inputs:
        exe.forward(is_train=True, data=mx.nd.array(x, dtype=dtype), label=mx.nd.array(y))
        exe.backward([mx.nd.array(head, dtype=dtype), mx.nd.zeros((shape[0], C))])
        results.append([exe.outputs[0].asnumpy(), exe.outputs[1].asnumpy(),
                        exe.grad_dict["data"].asnumpy()])
    return results


def _inputs(rng, shape, dtype, probability_labels=False, sick=None):
    out = []
    for step in range(3):
        x = rng.normal(size=shape).astype(dtype)
        head = rng.normal(size=shape).astype(dtype)
        if sick is not None:  # a non-finite value in one sample, forward and backward
            x[(step + 3) % shape[0]].flat[1] = sick
            head[(step + 5) % shape[0]].flat[0] = sick
        y = (rng.dirichlet(np.ones(C), size=shape[0]) if probability_labels
             else rng.integers(0, C, size=shape[0]).astype(np.float32))
        out.append((x, y, head))
    return out


def _assert_same(host, device):
    for step_host, step_device in zip(host, device):
        for a, b in zip(step_host, step_device):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)  # NaN == NaN here


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_host_and_device_paths_agree_element_for_element(monkeypatch, rng, dtype, setting):
    shape, params = SETTINGS[setting]
    inputs = _inputs(rng, shape, dtype)
    host = _steps(monkeypatch, True, shape, dtype, params, inputs)
    device = _steps(monkeypatch, False, shape, dtype, params, inputs)
    _assert_same(host, device)
    assert any(not np.array_equal(out, x) for (out, _, _), (x, _, _) in zip(host, inputs))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("setting", ["mixup tiny alpha", "mixup batch", "cutmix"])
def test_paths_agree_on_non_finite_samples(monkeypatch, rng, dtype, bad, setting):
    shape, params = SETTINGS[setting]
    inputs = _inputs(rng, shape, dtype, sick=bad)
    host = _steps(monkeypatch, True, shape, dtype, params, inputs)
    _assert_same(host, _steps(monkeypatch, False, shape, dtype, params, inputs))
    for out, _, grad in host:  # never every row: zero weights were selected away
        for result in (out, grad):
            rows = ~np.isfinite(result.astype(np.float64)).reshape(shape[0], -1).all(axis=1)
            assert rows.sum() < shape[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_paths_agree_with_an_add_request_and_probability_labels(monkeypatch, rng, dtype):
    shape, params = SETTINGS["mixup batch"]
    inputs = _inputs(rng, shape, dtype, probability_labels=True)
    host = _steps(monkeypatch, True, shape, dtype, params, inputs, "add", True)
    device = _steps(monkeypatch, False, shape, dtype, params, inputs, "add", True)
    _assert_same(host, device)
    # add accumulates: the gradient after step k holds the first step's head and k gradients
    write = _steps(monkeypatch, True, shape, dtype, params, inputs, "write", True)
    total = inputs[0][2].astype(np.float64) + sum(g.astype(np.float64) for _, _, g in write)
    tol = 1e-2 if dtype == np.float16 else 1e-6
    np.testing.assert_allclose(host[-1][2].astype(np.float64), total, rtol=tol, atol=tol)


@pytest.mark.parametrize("on_host", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_request_of_the_callbacks_on_both_paths(monkeypatch, rng, on_host, dtype):
    """forward and backward called as MXNet calls them, with write, add and null requests
    for each output and gradient: add adds to what was there, null leaves it."""
    monkeypatch.setattr(mixup_op, "mixes_on_host", lambda *_: on_host)
    params = mixup_op.parse(num_classes=C, alpha=0.5, mix_rate=0.75)
    x = rng.normal(size=(N, 3)).astype(dtype)
    y = rng.integers(0, C, size=N).astype(np.float32)
    head = rng.normal(size=(N, 3)).astype(dtype)
    results = {}
    for req in ("write", "add", "null"):
        op = mixup_op.MixUpOp(params, seed=11, place_seed=None, ctx=mx.cpu())
        before = [rng.normal(size=(N, 3)).astype(dtype), rng.random((N, C)).astype(np.float32),
                  rng.normal(size=(N, 3)).astype(dtype), rng.normal(size=N).astype(np.float32)]
        out = [mx.nd.array(before[0], dtype=dtype), mx.nd.array(before[1])]
        grad = [mx.nd.array(before[2], dtype=dtype), mx.nd.array(before[3])]
        inputs = [mx.nd.array(x, dtype=dtype), mx.nd.array(y)]
        mx.nd.waitall()
        op.forward(True, [req, req], inputs, out, [])
        mx.nd.waitall()
        op.backward([req, req], [mx.nd.array(head, dtype=dtype), mx.nd.zeros((N, C))], inputs,
                    out, grad, [])
        results[req] = [a.asnumpy() for a in out + grad], before
    written, _ = results["write"]
    added, before = results["add"]
    for k in range(3):
        np.testing.assert_array_equal(added[k], (before[k] + written[k]).astype(before[k].dtype))
    np.testing.assert_array_equal(added[3], before[3])  # the label's gradient: zero, added
    np.testing.assert_array_equal(written[3], np.zeros(N))
    left, before = results["null"]
    for k in range(4):
        np.testing.assert_array_equal(left[k], before[k])


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("label_dtype", [np.float16, np.float32, np.float64])
def test_host_one_hot_rows_match_mxnet_one_hot(smoothing, label_dtype):
    labels = np.array([0, 3, 2.7, -0.5, -1, 4, 7, np.nan, np.inf, -np.inf, 1e10, 1],
                      dtype=label_dtype)
    reference = mx.nd.one_hot(mx.nd.array(labels, dtype=label_dtype), depth=C,
                              on_value=1.0 - smoothing + smoothing / C,
                              off_value=smoothing / C, dtype="float32").asnumpy()
    ours = mixing.label_probabilities(labels, C, smoothing)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, reference)
    valid = labels[[0, 1, 11]]
    np.testing.assert_array_equal(mixing.label_probabilities(valid, C, smoothing, checked=True),
                                  reference[[0, 1, 11]])


def test_unchecked_labels_pass_through_the_op_as_mxnet_one_hot_has_them(rng):
    labels = np.array([0, 3, 2.7, -0.5, 9, np.nan], dtype=np.float32)
    with mx.autograd.predict_mode():
        out = mx.nd.Custom(mx.nd.zeros((6, 2)), mx.nd.array(labels), op_type="MixUp",
                           num_classes=C, check_labels=False)
    np.testing.assert_array_equal(out[1].asnumpy(),
                                  mx.nd.one_hot(mx.nd.array(labels), depth=C).asnumpy())


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_mixup_goes_to_numpy_up_to_the_threshold_of_its_dtype(dtype):
    limit = mixup_op.HOST_MIX_MAX_ELEMENTS[dtype]
    assert mixup_op.mixes_on_host(False, (limit,), dtype)
    assert mixup_op.mixes_on_host(False, (2, limit // 2), np.dtype(dtype))
    assert not mixup_op.mixes_on_host(False, (limit + 1,), dtype)
    assert not mixup_op.mixes_on_host(False, (4, limit // 2), dtype)
    assert mixup_op.mixes_on_host(True, (128, 64, 32, 32), dtype)  # CutMix: always
    # the measured crossovers order the thresholds: numpy's float16 is the slowest
    assert (mixup_op.HOST_MIX_MAX_ELEMENTS["float16"] < mixup_op.HOST_MIX_MAX_ELEMENTS["float64"]
            < mixup_op.HOST_MIX_MAX_ELEMENTS["float32"])


def test_the_op_takes_the_path_its_thresholds_choose(monkeypatch, rng):
    calls = []
    for name in ("apply", "apply_numpy"):
        for cls in (mixing.RowMixing, mixing.BoxMixing):
            original = getattr(cls, name)

            def spy(self, x, *args, _original=original, _name=name, **kwargs):
                calls.append((type(self).__name__, _name, x.shape))
                return _original(self, x, *args, **kwargs)
            monkeypatch.setattr(cls, name, spy)
    monkeypatch.setitem(mixup_op.HOST_MIX_MAX_ELEMENTS, "float32", 6 * 4)

    def run(shape, **params):
        calls.clear()
        x = mx.nd.array(rng.normal(size=shape))
        x.attach_grad()
        with mx.autograd.record():
            out = mx.nd.Custom(x, mx.nd.array(np.arange(shape[0]) % C), op_type="MixUp",
                               num_classes=C, mix_rate=1.0, **params)
        out[0].backward(mx.nd.ones(shape))
        mx.nd.waitall()
        return [(cls, name) for cls, name, s in calls if s == shape]

    assert run((6, 3)) == [("RowMixing", "apply_numpy")] * 2
    assert run((6, 5)) == [("RowMixing", "apply")] * 2
    assert run((6, 1, 3, 3), mode="cutmix") == [("BoxMixing", "apply_numpy")] * 2
    # labels are mixed on the host whatever the data's path
    assert ("RowMixing", "apply_numpy", (6, C)) in calls


def test_row_mixing_selects_zero_weights_away_on_both_sides():
    keep = np.array([1.0, 0.0, 0.25, 1.0, 0.5])
    give = 1 - keep
    index = np.array([3, 0, 4, 1, 2])
    m = mixing.RowMixing(keep, give, index)
    x = np.arange(15, dtype=np.float64).reshape(5, 3)
    x[3, 1] = np.nan
    x[0, 2] = np.inf
    dense = np.diag(keep) + np.diag(give) @ np.eye(5)[index]
    clean = np.where(np.isfinite(x), x, 0)
    for transpose in (False, True):
        matrix = dense.T if transpose else dense
        host = m.apply_numpy(x, transpose=transpose)
        device = m.apply(mx.nd.array(x, dtype=np.float64), transpose=transpose).asnumpy()
        np.testing.assert_array_equal(host, device)
        sick = np.flatnonzero(~np.isfinite(x).all(axis=1))
        reached = set(np.flatnonzero((matrix[:, sick] != 0).any(axis=1)))
        assert set(np.flatnonzero(~np.isfinite(host).all(axis=1))) == reached
        healthy = sorted(set(range(5)) - reached)
        np.testing.assert_allclose(host[healthy], (matrix @ clean)[healthy])


def test_box_mixing_on_the_host_copies_boxes_and_their_gradients_back():
    rng = np.random.default_rng(3)
    plan = draws.draw_cutmix_plan(rng, 5, 6, 7, 0.8, 1.0, "sample")
    m = mixing.BoxMixing(plan.boxes, plan.partner)
    x = rng.normal(size=(5, 2, 6, 7))
    out = m.apply_numpy(x)
    back = m.apply_numpy(x, transpose=True)
    for i, (top, bottom, left, right) in enumerate(plan.boxes):
        inside = np.zeros((6, 7), bool)
        inside[top:bottom, left:right] = True
        np.testing.assert_array_equal(out[i][:, inside], x[plan.partner[i]][:, inside])
        np.testing.assert_array_equal(out[i][:, ~inside], x[i][:, ~inside])
    # the backward is the transpose: <M x, y> = <x, M^T y>
    y = rng.normal(size=x.shape)
    assert math.isclose(float((out * y).sum()), float((x * m.apply_numpy(y, transpose=True))
                                                      .sum()), rel_tol=1e-12)
    np.testing.assert_array_equal(back, m.apply(mx.nd.array(x, dtype=np.float64),
                                                transpose=True).asnumpy())


def test_callback_views_alias_the_arrays_memory():
    view = mixup_compat.callback_viewer()
    a = mx.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    mx.nd.waitall()
    seen = view(a)
    np.testing.assert_array_equal(seen, a.asnumpy())
    with pytest.raises(ValueError):
        seen[0, 0] = 5  # inputs are read-only
    view(a, writeable=True, shape=(2, 3), dtype=np.float32)[1, 2] = -7
    assert a.asnumpy()[1, 2] == -7
    half = mx.nd.ones((4,), dtype=np.float16)
    mx.nd.waitall()
    assert view(half).dtype == np.float16 and view(half).tolist() == [1, 1, 1, 1]
