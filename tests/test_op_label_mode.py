"""label_mode='own': the paper's "mix inputs only" ablation. The data are mixed exactly as with
label_mode='mixed' (the same draws, the same gradient) and every row keeps its own one-hot,
smoothed or probability label; in every mode, with lambda from the graph too."""
import mxnet as mx
import numpy as np
import pytest

import mixup
from conftest import mixup_nd
from mixup import op as mixup_op

C = 4
MODES = [dict(mode="mixup", alpha=0.5), dict(mode="cutmix", lam_mode="sample"),
         dict(mode="switch", switch_prob=0.5, lam_mode="sample")]


@pytest.mark.parametrize("params", MODES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_own_mixes_the_data_as_mixed_does_and_keeps_each_rows_label(rng, params, smoothing):
    x = rng.normal(size=(8, 2, 4, 4))
    y = rng.integers(0, C, size=8)
    for seed in range(4):
        mixed = mixup_nd(x, y, seed, num_classes=C, mix_rate=0.75, label_smoothing=smoothing,
                         **params)
        own = mixup_nd(x, y, seed, num_classes=C, mix_rate=0.75, label_smoothing=smoothing,
                       label_mode="own", **params)
        np.testing.assert_array_equal(own[0], mixed[0])
        assert not np.array_equal(own[0], x), "the data are mixed"
        np.testing.assert_allclose(own[1], (1 - smoothing) * np.eye(C)[y] + smoothing / C,
                                   rtol=1e-6)
        assert not np.allclose(mixed[1], own[1]), "the same draws mix labels under 'mixed'"


def test_probability_labels_pass_as_given(rng):
    y = rng.dirichlet(np.ones(C), size=6)
    data, label = mixup_nd(rng.normal(size=(6, 3)), y, 2, num_classes=C, mix_rate=1.0,
                           label_mode="own")
    np.testing.assert_allclose(label, y, rtol=1e-6)


def _gradients(label_mode, x, y, head, seed):
    mx.random.seed(seed)
    sym = mx.sym.Custom(mx.sym.var("data"), mx.sym.var("label"), op_type="MixUp",
                        num_classes=C, alpha=1.0, mix_rate=0.7, label_mode=label_mode)
    exe = sym.simple_bind(mx.cpu(), data=x.shape, label=y.shape, type_dict={"data": x.dtype},
                          grad_req={"data": "write", "label": "null"})
    exe.forward(is_train=True, data=mx.nd.array(x, dtype=x.dtype), label=mx.nd.array(y))
    exe.backward([mx.nd.array(head, dtype=x.dtype), mx.nd.ones((len(y), C))])
    return exe.outputs[0].asnumpy(), exe.grad_dict["data"].asnumpy()


@pytest.mark.parametrize("on_host", [True, False])
@pytest.mark.parametrize("shape", [(7, 3), (5, 2, 3, 3)])
def test_the_data_gradient_is_unchanged(monkeypatch, rng, shape, on_host):
    monkeypatch.setattr(mixup_op, "mixes_on_host", lambda *_: on_host)
    x, head = rng.normal(size=shape), rng.normal(size=shape)
    y = rng.integers(0, C, size=shape[0]).astype(np.float64)
    out_mixed, grad_mixed = _gradients("mixed", x, y, head, 6)
    out_own, grad_own = _gradients("own", x, y, head, 6)
    np.testing.assert_array_equal(out_own, out_mixed)
    np.testing.assert_array_equal(grad_own, grad_mixed)
    assert not np.array_equal(grad_own, head)


def test_with_lambda_from_the_graph_lams_gradient_comes_through_the_data_only(rng):
    n = 6
    x, head = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    y, lam = rng.integers(0, C, size=n), rng.uniform(0.1, 0.9, size=n)
    grads = {}
    for label_mode, head_label in (("own", rng.normal(size=(n, C))), ("mixed", np.zeros((n, C)))):
        mx.random.seed(3)
        node = mixup.symbol(mx.sym.var("data"), mx.sym.var("label"), num_classes=C,
                            lam=mx.sym.var("lam"), lam_mode="input", mix_rate=1.0,
                            label_mode=label_mode)
        exe = mx.sym.Group(list(node)).simple_bind(
            mx.cpu(), data=(n, 3), label=(n,), lam=(n,), type_dict={"data": np.float64},
            grad_req={"data": "null", "label": "null", "lam": "write"})
        exe.forward(is_train=True, data=mx.nd.array(x, dtype=np.float64), label=mx.nd.array(y),
                    lam=mx.nd.array(lam))
        exe.backward([mx.nd.array(head, dtype=np.float64), mx.nd.array(head_label)])
        if label_mode == "own":
            np.testing.assert_allclose(exe.outputs[1].asnumpy(), np.eye(C)[y], rtol=1e-6)
        grads[label_mode] = exe.grad_dict["lam"].asnumpy()
    # 'own' with a label gradient = 'mixed' without one: the labels do not depend on lam
    np.testing.assert_allclose(grads["own"], grads["mixed"], rtol=1e-6)
    assert np.count_nonzero(grads["own"]) == n


def test_mixed_is_the_default_and_own_is_offered_everywhere():
    from mixup.gluon import MixUp
    from mixup_app import train
    assert mixup.parse(num_classes=3).label_mode == "mixed"
    assert MixUp(num_classes=3, label_mode="own").mixup_params.label_mode == "own"
    assert train.build_parser().parse_args(["--label-mode", "own"]).label_mode == "own"
    assert train.build_parser().parse_args([]).label_mode == "mixed"
    with pytest.raises(ValueError, match=r"label_mode must be one of \('mixed', 'own'\)"):
        mixup.symbol(mx.sym.var("d"), mx.sym.var("l"), num_classes=3, label_mode="none")
