"""Manifold mixup: MixUp nodes at several places of one network, exactly one of which mixes in
each training step, chosen uniformly (seeded chi-square), reproducibly (mx.random.seed before
bind, mixup.seek), per device; and the gradient through each place (finite differences)."""
import mxnet as mx
import numpy as np
import pytest
from scipy import stats

import mixup
from mixup_symbols import get_symbol, resnet

P, N = 3, 4


@pytest.fixture(autouse=True)
def back_to_step_zero():
    mixup.seek(0)  # a trainer run in this process (tests/test_runs.py) leaves its step behind
    yield
    mixup.seek(0)


def chain():
    """P MixUp nodes in a row on the identity; outputs: every node's data_out, and the label."""
    data, label = mx.sym.var("data"), mx.sym.var("softmax_label")
    outputs = []
    for k in range(P):
        data, label = mixup.symbol(data, label, name="m%d" % k, num_classes=N, alpha=1.0,
                                   place=k, num_places=P, check_labels=k == 0)
        outputs.append(data)
    return mx.sym.Group(outputs + [mx.sym.BlockGrad(label)])


def mixing_places(outputs, rows=slice(None)):
    """The places whose node changed its input (node k's input is node k-1's output); the
    data are identity matrices stacked, one per device."""
    before = np.vstack([np.eye(N)] * (len(outputs[0]) // N))[rows]
    places = []
    for k, out in enumerate(outputs[:P]):
        if not np.array_equal(out[rows], before):
            places.append(k)
        before = out[rows]
    return places


def run(exe, steps):
    chosen = []
    for _ in range(steps):
        exe.forward(is_train=True, data=mx.nd.array(np.eye(N)),
                    softmax_label=mx.nd.array(np.arange(N)))
        outputs = [o.asnumpy() for o in exe.outputs]
        places = mixing_places(outputs)
        assert len(places) == 1, "exactly one place mixes per step, got %s" % places
        # the label follows from that place: it is the mixing matrix observed there
        np.testing.assert_allclose(outputs[-1], outputs[places[0]], rtol=1e-6)
        chosen.append(places[0])
    return chosen


def bind(seed):
    mx.random.seed(seed)
    return chain().simple_bind(mx.cpu(), data=(N, N), softmax_label=(N,), grad_req="null")


def test_one_place_per_step_uniformly_and_reproducibly():
    chosen = run(bind(4), 450)
    counts = np.bincount(chosen, minlength=P)
    assert stats.chisquare(counts).pvalue > 1e-3, counts
    assert run(bind(4), 30) == chosen[:30], "mx.random.seed before bind reproduces the places"
    assert run(bind(5), 30) != chosen[:30]
    mixup.seek(100)
    assert run(bind(4), 20) == chosen[100:120], "seek continues the places"


def test_inference_and_paused_mix_nowhere():
    exe = bind(1)
    exe.forward(is_train=False, data=mx.nd.array(np.eye(N)),
                softmax_label=mx.nd.array(np.arange(N)))
    assert mixing_places([o.asnumpy() for o in exe.outputs]) == []
    with mixup.paused():  # (the forward runs asynchronously: wait for it inside)
        exe.forward(is_train=True, data=mx.nd.array(np.eye(N)),
                    softmax_label=mx.nd.array(np.arange(N)))
        assert mixing_places([o.asnumpy() for o in exe.outputs]) == []


def test_each_device_slice_makes_its_own_choice():
    mx.random.seed(2)
    mod = mx.mod.Module(chain(), context=[mx.cpu(0), mx.cpu(1)], data_names=["data"],
                        label_names=["softmax_label"])
    mod.bind(data_shapes=[("data", (2 * N, N))], label_shapes=[("softmax_label", (2 * N,))],
             for_training=True)
    mod.init_params()
    batch = mx.io.DataBatch([mx.nd.array(np.vstack([np.eye(N)] * 2))],
                            [mx.nd.array(np.arange(2 * N) % N)])
    same, steps, counts = 0, 200, np.zeros((2, P))
    for _ in range(steps):
        mod.forward(batch, is_train=True)
        outputs = [o.asnumpy() for o in mod.get_outputs()]
        choices = []
        for half in (slice(0, N), slice(N, 2 * N)):
            places = mixing_places(outputs, half)
            assert len(places) == 1
            choices.append(places[0])
        counts[0, choices[0]] += 1
        counts[1, choices[1]] += 1
        same += choices[0] == choices[1]
    for device in range(2):
        assert stats.chisquare(counts[device]).pvalue > 1e-3
    # independent uniform choices agree with probability 1/P
    assert stats.binomtest(same, steps, 1 / P).pvalue > 1e-3


def test_gradient_through_each_place_matches_finite_differences(rng):
    """ResNet-8 with mixup_at='input,stem,stage1': for a step at which each place mixes, the
    gradient of a fixed read-out of the logits w.r.t. conv0's weight and the data, against
    central differences along random directions (float64; the step fixed by mixup.seek)."""
    shape, batch = (3, 6, 6), 4
    net = resnet.get_symbol(4, 8, shape, mixup_at="input,stem,stage1", alpha=1.0)
    internals = net.get_internals()
    readout = mx.sym.var("readout")
    nodes = [internals["mixup_%s_data_out" % place] for place in ("input", "stem", "stage1")]
    sym = mx.sym.Group([mx.sym.MakeLoss(mx.sym.sum(internals["fc_output"] * readout))]
                       + [mx.sym.BlockGrad(node) for node in nodes]
                       + [mx.sym.BlockGrad(node.get_children()[0]) for node in nodes])
    x = rng.normal(size=(batch,) + shape)
    weights = rng.normal(scale=0.3, size=(16, 3, 3, 3))
    read = rng.normal(size=(batch, 4))
    labels = mx.nd.array([0, 1, 2, 3])
    # every other parameter fixed, random (MXNet's zero-filled arrays would block the signal)
    arg_shapes, _, _ = sym.infer_shape(data=x.shape, softmax_label=(batch,), readout=read.shape)
    fixed = {}
    for name, arg_shape in zip(sym.list_arguments(), arg_shapes):
        if name.endswith("_gamma"):
            fixed[name] = 1 + 0.1 * rng.normal(size=arg_shape)
        elif name.endswith(("_beta", "_bias")):
            fixed[name] = 0.1 * rng.normal(size=arg_shape)
        elif name.endswith("_weight"):
            fixed[name] = rng.normal(size=arg_shape) / np.sqrt(np.prod(arg_shape[1:]))

    def evaluate(step, w, data, backward=False):
        mx.random.seed(5)
        mixup.seek(step)
        exe = sym.simple_bind(mx.cpu(), data=x.shape, softmax_label=(batch,),
                              readout=read.shape, type_dict={"data": "float64",
                                                             "readout": "float64"})
        for name, value in fixed.items():
            exe.arg_dict[name][:] = value
        exe.arg_dict["conv0_weight"][:] = w
        exe.forward(is_train=True, data=mx.nd.array(data, dtype="float64"),
                    softmax_label=labels, readout=mx.nd.array(read, dtype="float64"))
        outs = [o.asnumpy() for o in exe.outputs]
        if not backward:
            return float(outs[0].sum())
        exe.backward()
        # which place mixed: its data_out differs from its input
        mixed = [k for k in range(3) if not np.array_equal(outs[1 + k], outs[4 + k])]
        return (exe.grad_dict["conv0_weight"].asnumpy(), exe.grad_dict["data"].asnumpy(),
                mixed)

    places_seen = {}
    for step in range(30):
        _, _, mixed = evaluate(step, weights, x, backward=True)
        assert len(mixed) == 1
        places_seen.setdefault(mixed[0], step)
        if len(places_seen) == 3:
            break
    assert sorted(places_seen) == [0, 1, 2]
    for place, step in sorted(places_seen.items()):
        grad_w, grad_x, _ = evaluate(step, weights, x, backward=True)
        assert np.abs(grad_w).max() > 1e-3 and np.abs(grad_x).max() > 1e-3
        eps = 1e-6
        for _ in range(3):
            dw, dx = rng.normal(size=weights.shape), rng.normal(size=x.shape)
            plus = evaluate(step, weights + eps * dw, x + eps * dx)
            minus = evaluate(step, weights - eps * dw, x - eps * dx)
            numeric = (plus - minus) / (2 * eps)
            analytic = (grad_w * dw).sum() + (grad_x * dx).sum()
            assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7), (place, step)
        # the mixing is in it: the same step with MixUp paused gives another gradient
        with mixup.paused():
            plain_w, _, mixed = evaluate(step, weights, x, backward=True)
        assert mixed == [] and not np.allclose(plain_w, grad_w, rtol=1e-3)


def test_symbols_name_places_and_return_the_label_the_loss_sees():
    shape = (3, 8, 8)
    net, label = get_symbol("resnet", num_classes=5, num_layers=8, image_shape=shape,
                            mixup_at=("stage2", "input"), with_label=True)
    names = net.get_internals().list_outputs()
    assert "mixup_input_label_out" in names and "mixup_stage2_label_out" in names
    assert label.name == "mixup_stage2"  # the last node's label feeds the loss
    single, label = get_symbol("resnet", num_classes=5, num_layers=8, image_shape=shape,
                               mixup_at="stem", with_label=True)
    assert label.list_outputs() == ["mixup_label_out"]
    _, none = get_symbol("resnet", num_classes=5, num_layers=8, image_shape=shape,
                         mixup_at="none", with_label=True)
    assert none is None
    _, none = get_symbol("resnet", num_classes=5, num_layers=8, image_shape=shape,
                         mixup_at="input", train=False, with_label=True)
    assert none is None
    for bad in ("input,stage9", "none,input", "input,input", ""):
        with pytest.raises(ValueError, match="mixup_at"):
            resnet.get_symbol(5, 8, shape, mixup_at=bad)
