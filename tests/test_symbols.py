"""mixup_symbols/resnet.py: sizes, shapes, MixUp placement, loss scale, checkpoints; and the metrics."""
import mxnet as mx
import numpy as np
import pytest

from mixup_app.metrics import SoftMetrics
from mixup_symbols import get_symbol, resnet


def count_params(sym, shape):
    args, _, _ = sym.infer_shape(data=(2,) + shape, softmax_label=(2,))
    return sum(int(np.prod(a)) for name, a in zip(sym.list_arguments(), args)
               if name not in ("data", "softmax_label"))


def paper_count(units, widths, bottleneck, in_ch, classes, stem_kernel=3, stem_bn=False):
    """Learned parameters of a pre-activation ResNet, by arithmetic: convolutions without bias,
    two per BatchNorm (gamma, beta; bn_data's fixed gamma is still an argument), fc with bias."""
    total = 2 * in_ch + in_ch * widths[0] * stem_kernel ** 2 + (2 * widths[0] if stem_bn else 0)
    channels = widths[0]
    for stage, n in enumerate(units):
        out = widths[stage + 1]
        for unit in range(n):
            total += 2 * channels  # bn1
            if bottleneck:
                mid = out // 4
                total += channels * mid + 2 * mid + 9 * mid * mid + 2 * mid + mid * out
            else:
                total += 9 * channels * out + 2 * out + 9 * out * out
            if unit == 0 and (stage > 0 or channels != out):
                total += channels * out  # 1x1 projection
            channels = out
    return total + 2 * channels + channels * classes + classes


@pytest.mark.parametrize("layers, shape, classes, expect", [
    (20, (3, 28, 28), 10, paper_count([3] * 3, [16, 16, 32, 64], False, 3, 10)),
    (50, (3, 28, 28), 10, paper_count([8] * 3, [16, 16, 32, 64], False, 3, 10)),
    (164, (3, 28, 28), 10, paper_count([18] * 3, [16, 64, 128, 256], True, 3, 10)),
    (18, (3, 32, 32), 10, paper_count([2, 2, 2, 2], [64, 64, 128, 256, 512], False, 3, 10)),
    (50, (3, 32, 32), 10, paper_count([3, 4, 6, 3], [64, 256, 512, 1024, 2048], True, 3, 10)),
    (50, (3, 224, 224), 1000, paper_count([3, 4, 6, 3], [64, 256, 512, 1024, 2048], True, 3,
                                          1000, stem_kernel=7, stem_bn=True)),
    (26, (1, 28, 28), 10, paper_count([4] * 3, [16, 16, 32, 64], False, 1, 10)),
])
def test_parameter_counts_match_the_architecture(layers, shape, classes, expect):
    assert count_params(resnet.get_symbol(classes, layers, shape), shape) == expect


def test_published_sizes():
    # He et al. 2016: ResNet-20 0.27M, pre-activation ResNet-164 1.7M; ResNet-50 ~25.6M.
    assert round(count_params(resnet.get_symbol(10, 20, (3, 28, 28)), (3, 28, 28)) / 1e6, 2) \
        == 0.27
    assert round(count_params(resnet.get_symbol(10, 164, (3, 28, 28)), (3, 28, 28)) / 1e6, 1) \
        == 1.7
    big = count_params(resnet.get_symbol(1000, 50, (3, 224, 224)), (3, 224, 224))
    assert 25.5e6 < big < 25.7e6


@pytest.mark.parametrize("layers, shape", [(8, (3, 28, 28)), (18, (3, 32, 32)),
                                           (50, (3, 64, 64))])
@pytest.mark.parametrize("place", resnet.MIXUP_PLACES)
def test_output_shapes_for_every_family_and_placement(layers, shape, place):
    sym = resnet.get_symbol(7, layers, shape, mixup_at=place)
    _, outs, _ = sym.infer_shape(data=(4,) + shape, softmax_label=(4,))
    assert outs == [(4, 7)]
    has_mixup = any(n.startswith("mixup") for n in sym.get_internals().list_outputs())
    assert has_mixup == (place != "none")


def test_with_label_returns_the_label_the_loss_trains_against(rng):
    shape = (3, 8, 8)
    net, label = get_symbol("resnet", num_classes=4, num_layers=8, image_shape=shape,
                            mixup_at="stem", alpha=1.0, mode="switch", label_smoothing=0.1,
                            with_label=True)
    attrs = net.attr_dict()["mixup"]
    assert (attrs["mode"], attrs["label_smoothing"]) == ("switch", "0.1")
    group = mx.sym.Group([net, mx.sym.BlockGrad(label)])
    exe = group.simple_bind(mx.cpu(), data=(4,) + shape, softmax_label=(4,))
    for name, array in exe.arg_dict.items():
        if name not in ("data", "softmax_label"):
            array[:] = rng.normal(scale=0.3, size=array.shape)
    exe.forward(is_train=True, data=mx.nd.array(rng.normal(size=(4,) + shape)),
                softmax_label=mx.nd.array([0, 1, 2, 3]))
    exe.backward()
    probs, soft = (o.asnumpy() for o in exe.outputs)
    np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-5)
    assert soft.min() > 0, "smoothed labels"
    # SoftmaxOutput(normalization='null') trains against exactly this label: d/dlogits = p - y
    np.testing.assert_allclose(exe.grad_dict["fc_bias"].asnumpy(), (probs - soft).sum(axis=0),
                               rtol=1e-4, atol=1e-5)
    assert get_symbol("resnet", num_classes=4, num_layers=8, image_shape=shape,
                      with_label=True)[1] is None


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="num_layers=21"):
        resnet.get_symbol(10, 21, (3, 28, 28))
    with pytest.raises(ValueError, match="num_layers=77"):
        resnet.get_symbol(10, 77, (3, 32, 32))
    with pytest.raises(ValueError, match="mixup_at"):
        resnet.get_symbol(10, 20, (3, 28, 28), mixup_at="stage9")
    with pytest.raises(ValueError, match="alpha"):
        resnet.get_symbol(10, 20, (3, 28, 28), mixup_at="input", alpha=0)
    with pytest.raises(ValueError, match="network"):
        get_symbol("vgg", num_classes=10)


@pytest.mark.slow
def test_gradient_reaches_the_stem_convolution_through_mixup(rng):
    """d/dW of a fixed linear read-out of MixUp's output after the stem convolution, against
    central differences in float64 (the BatchNorm on the input uses batch statistics)."""
    shape = (3, 6, 6)
    net = resnet.get_symbol(4, 8, shape, mixup_at="stem", alpha=1.0, mix_rate=1.0)
    mixed = net.get_internals()["mixup_data_out"]
    readout = mx.sym.var("readout")
    sym = mx.sym.MakeLoss(mx.sym.sum(mixed * readout))
    x = rng.normal(size=(5,) + shape)
    weights = rng.normal(scale=0.3, size=(16, 3, 3, 3))
    read = rng.normal(size=(5, 16) + shape[1:])

    def run(w, backward=False):
        mx.random.seed(5)  # before bind: the same MixUp draws every time
        exe = sym.simple_bind(mx.cpu(), data=x.shape, softmax_label=(5,), readout=read.shape,
                              type_dict={"data": "float64", "readout": "float64"})
        exe.arg_dict["conv0_weight"][:] = w
        exe.arg_dict["bn_data_beta"][:] = 0.1
        exe.forward(is_train=True, data=mx.nd.array(x, dtype="float64"),
                    softmax_label=mx.nd.array([0, 1, 2, 3, 0]),
                    readout=mx.nd.array(read, dtype="float64"))
        if backward:
            exe.backward()
            return exe.grad_dict["conv0_weight"].asnumpy()
        return float(exe.outputs[0].asnumpy().sum())

    grad = run(weights, backward=True)
    eps = 1e-6
    numeric = np.zeros_like(weights)
    for idx in np.ndindex(*weights.shape):
        step = np.zeros_like(weights)
        step[idx] = eps
        numeric[idx] = (run(weights + step) - run(weights - step)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
    # the partner terms are in it: the same read-out without mixing gives another gradient
    plain = mx.sym.MakeLoss(mx.sym.sum(net.get_internals()["conv0_output"] * readout))
    exe = plain.simple_bind(mx.cpu(), data=x.shape, readout=read.shape,
                            type_dict={"data": "float64", "readout": "float64"})
    exe.arg_dict["conv0_weight"][:] = weights
    exe.arg_dict["bn_data_beta"][:] = 0.1
    exe.forward(is_train=True, data=mx.nd.array(x, dtype="float64"),
                readout=mx.nd.array(read, dtype="float64"))
    exe.backward()
    assert not np.allclose(exe.grad_dict["conv0_weight"].asnumpy(), grad, rtol=1e-3)


def test_training_checkpoint_loads_into_the_scoring_graph(tmp_path, rng):
    shape = (3, 8, 8)
    train = resnet.get_symbol(5, 8, shape, mixup_at="stage2", mix_rate=0.7)
    score = resnet.get_symbol(5, 8, shape, mixup_at="stage2", train=False)
    assert "mixup" not in " ".join(score.list_outputs() + score.get_internals().list_outputs())
    assert set(train.list_arguments()) == set(score.list_arguments())
    mod = mx.mod.Module(train, context=mx.cpu())
    mod.bind(data_shapes=[("data", (4,) + shape)], label_shapes=[("softmax_label", (4,))])
    mod.init_params(mx.init.Xavier())
    batch = mx.io.DataBatch([mx.nd.array(rng.normal(size=(4,) + shape))],
                            [mx.nd.array([0, 1, 2, 3])])
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1})
    mod.forward_backward(batch)
    mod.update()
    # MXNet 1.9.1 does not order reads of BatchNorm's moving statistics after the backward
    # that updates them: without this barrier the checkpoint can hold stale statistics.
    mx.nd.waitall()
    prefix = str(tmp_path / "net")
    mod.save_checkpoint(prefix, 1)
    _, args, auxs = mx.model.load_checkpoint(prefix, 1)
    scorer = mx.mod.Module(score, context=mx.cpu())
    scorer.bind(data_shapes=[("data", (4,) + shape)], for_training=False)
    scorer.set_params(args, auxs)
    scorer.forward(batch, is_train=False)
    mod.forward(batch, is_train=False)  # MixUp is the identity in inference mode
    np.testing.assert_allclose(scorer.get_outputs()[0].asnumpy(),
                               mod.get_outputs()[0].asnumpy(), rtol=1e-5, atol=1e-6)


def test_class_and_probability_labels_give_the_same_gradient_scale(rng):
    logits = rng.normal(size=(5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    grads = []
    for label in (labels, np.eye(4)[labels]):
        sym = resnet.loss(mx.sym.var("logits"), mx.sym.var("softmax_label"))
        exe = sym.simple_bind(mx.cpu(), logits=(5, 4), softmax_label=label.shape)
        exe.forward(is_train=True, logits=mx.nd.array(logits), softmax_label=mx.nd.array(label))
        exe.backward()
        grads.append(exe.grad_dict["logits"].asnumpy())
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(grads[0], probs - np.eye(4)[labels], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6, atol=1e-7)


def test_soft_metrics_on_hand_made_cases():
    preds = mx.nd.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])
    soft = mx.nd.array([[0.6, 0.4, 0.0], [0.0, 0.7, 0.3], [0.0, 1.0, 0.0], [0.2, 0.2, 0.6]])
    m = SoftMetrics()
    m.update(soft, preds, pad=1)  # the last row is padding
    got = m.get()
    # argmax agree: row0 yes (0/0), row1 no (2 vs 1), row2 no (0 vs 1)
    assert got["count"] == 3 and got["correct"] == 1
    assert got["accuracy"] == pytest.approx(1 / 3)
    ce = -(0.6 * np.log(0.7) + 0.4 * np.log(0.2) + 0.7 * np.log(0.3) + 0.3 * np.log(0.6)
           + np.log(0.4)) / 3
    assert got["cross_entropy"] == pytest.approx(ce, rel=1e-5)
    assert "top5" not in got
    # MXNet's own Accuracy says 100% on the same input: why it must not see soft labels
    wrong = mx.metric.Accuracy()
    wrong.update([soft[:3]], [preds[:3]])
    assert wrong.get()[1] != got["accuracy"]


def test_top5_with_class_labels():
    rng = np.random.default_rng(0)
    preds = rng.dirichlet(np.ones(10), size=50)
    labels = rng.integers(0, 10, size=50)
    m = SoftMetrics()
    m.update(mx.nd.array(labels), mx.nd.array(preds))
    ranks = (-preds).argsort(axis=1)[:, :5]
    assert m.get()["top5"] == pytest.approx(np.mean([labels[i] in ranks[i] for i in range(50)]))
    assert m.get()["accuracy"] == pytest.approx(np.mean(preds.argmax(1) == labels))


def test_gluoncv_cifar_models_become_symbols_with_stable_names():
    pytest.importorskip("gluoncv")
    from gluoncv.model_zoo import get_model
    train = get_symbol("gluoncv:cifar_resnet20_v1", num_classes=10, mixup_at="input",
                       mix_rate=0.7)
    score = get_symbol("gluoncv:cifar_resnet20_v1", num_classes=10, train=False)
    assert set(train.list_arguments()) == set(score.list_arguments())
    assert "mixup_data_out" in train.get_internals().list_outputs()
    _, outs, _ = train.infer_shape(data=(2, 3, 32, 32), softmax_label=(2,))
    assert outs == [(2, 10)]
    # the symbol's parameters are exactly the Gluon block's
    block = get_model("cifar_resnet20_v1", classes=10)
    block.initialize()
    block(mx.nd.zeros((1, 3, 32, 32)))
    gluon_count = sum(int(np.prod(p.shape)) for p in block.collect_params().values()
                      if p.grad_req != "null")
    args, _, _ = score.infer_shape(data=(2, 3, 32, 32), softmax_label=(2,))
    symbol_count = sum(int(np.prod(a)) for n, a in zip(score.list_arguments(), args)
                       if n not in ("data", "softmax_label"))
    assert symbol_count == gluon_count
    with pytest.raises(ValueError, match="stem"):
        get_symbol("gluoncv:cifar_resnet20_v1", num_classes=10, mixup_at="stem")
    # the mixing family passes through, and with_label returns the label the loss sees
    net, label = get_symbol("gluoncv:cifar_resnet20_v1", num_classes=10, mode="cutmix",
                            cutmix_alpha=0.5, switch_prob=0.2, label_smoothing=0.1,
                            with_label=True)
    attrs = net.attr_dict()["mixup"]
    assert (attrs["mode"], attrs["cutmix_alpha"], attrs["switch_prob"],
            attrs["label_smoothing"]) == ("cutmix", "0.5", "0.2", "0.1")
    assert label.list_outputs() == ["mixup_label_out"]
    assert get_symbol("gluoncv:cifar_resnet20_v1", num_classes=10, train=False,
                      with_label=True)[1] is None
    with pytest.raises(ValueError, match="not a GluonCV CIFAR model"):
        get_symbol("gluoncv:resnet50_v1", num_classes=10)


def test_float16_graph_computes_in_float16_and_returns_float32():
    sym = resnet.get_symbol(10, 20, (3, 28, 28), mixup_at="input", dtype="float16")
    args, outs, _ = sym.infer_type(data="float32", softmax_label="float32")
    types = dict(zip(sym.list_arguments(), args))
    assert types["conv0_weight"] == np.float16 and types["fc_weight"] == np.float16
    assert outs == [np.float32]
    with pytest.raises(ValueError, match="dtype"):
        resnet.get_symbol(10, 20, (3, 28, 28), dtype="int8")
