"""mixup_app/scoring.py: the FGSM / I-FGSM attack against an independent numpy computation."""
import mxnet as mx
import numpy as np

from mixup_app import scoring


def _linear_model(rng, shape, classes):
    data = mx.sym.var("data")
    logits = mx.sym.FullyConnected(mx.sym.flatten(data), num_hidden=classes, name="fc")
    symbol = mx.sym.SoftmaxOutput(logits, name="softmax", normalization="null")
    weight = rng.normal(size=(classes, int(np.prod(shape)))) * 0.05
    bias = rng.normal(size=classes) * 0.1
    return scoring.Checkpoint(symbol, {"fc_weight": mx.nd.array(weight),
                                       "fc_bias": mx.nd.array(bias)}, {}), weight, bias


def _numpy_attack(raw, labels, weight, bias, mean, std, eps, steps):
    """The attack on the raw image, computed by hand: z = (x - m) / s, logits = W z + b,
    d loss / d x = W^T (softmax - onehot) / s."""
    mean = np.asarray(mean).reshape(1, -1, 1, 1)
    std = np.asarray(std).reshape(1, -1, 1, 1)
    x = raw.copy()
    step = eps if steps == 1 else 2.5 * eps / steps
    for _ in range(steps):
        z = ((x - mean) / std).reshape(len(x), -1)
        logits = z @ weight.T + bias
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(x)), labels.astype(int)] -= 1
        grad = (p @ weight).reshape(x.shape) / std
        x = np.clip(np.clip(x + step * np.sign(grad), raw - eps, raw + eps), 0, 255)
    return x


def test_fgsm_and_ifgsm_match_a_hand_computed_attack(rng):
    shape, classes, n = (2, 5, 4), 3, 6
    checkpoint, weight, bias = _linear_model(rng, shape, classes)
    raw = rng.integers(0, 256, size=(n,) + shape).astype(np.float64)
    raw[0, 0, 0, 0], raw[1, 0, 0, 0] = 0, 255  # pixels at the ends of the range get clipped
    labels = rng.integers(0, classes, size=n).astype(np.float32)
    mean, std = [120.0, 60.0], [50.0, 20.0]
    gradient = scoring.InputGradient(checkpoint, n, shape, mx.cpu())
    for eps, steps in ((4.0, 1), (8.0, 1), (8.0, 5)):
        ours = scoring.attack(gradient, raw, labels, eps, steps, mean, std)
        reference = _numpy_attack(raw, labels, weight, bias, mean, std, eps, steps)
        np.testing.assert_allclose(ours, reference, atol=1e-6)
        assert np.all(np.abs(ours - raw) <= eps + 1e-9) and ours.min() >= 0
        assert ours.max() <= 255


def test_the_attack_gradient_is_that_of_the_scored_function(rng):
    """On a ResNet with BatchNorm: the gradient graph scores exactly like the inference graph
    and its input gradient matches central differences of the inference cross-entropy."""
    import mixup_symbols
    symbol = mixup_symbols.get_symbol("resnet", num_classes=4, num_layers=8,
                                image_shape=(1, 12, 12), train=False)
    shapes = dict(data=(6, 1, 12, 12), softmax_label=(6,))
    arg_shapes, _, aux_shapes = symbol.infer_shape(**shapes)
    args = {n: mx.nd.array(rng.normal(scale=0.3, size=s)) for n, s in
            zip(symbol.list_arguments(), arg_shapes) if n not in shapes}
    auxs = {n: mx.nd.array(rng.uniform(0.5, 1.5, size=s) if "var" in n else
                           rng.normal(scale=0.2, size=s))
            for n, s in zip(symbol.list_auxiliary_states(), aux_shapes)}
    checkpoint = scoring.Checkpoint(symbol, args, auxs)
    gradient = scoring.InputGradient(checkpoint, 6, (1, 12, 12), mx.cpu())
    x = rng.normal(size=(6, 1, 12, 12))
    y = rng.integers(0, 4, size=6).astype(np.float32)
    grad = gradient(x, y)
    module = scoring.module_for(checkpoint, 6, (1, 12, 12), [mx.cpu()])

    def loss(inputs):
        module.forward(mx.io.DataBatch([mx.nd.array(inputs)], [mx.nd.array(y)]),
                       is_train=False)
        p = module.get_outputs()[0].asnumpy().astype(np.float64)
        return p, -np.log(p[np.arange(6), y.astype(int)]).sum()

    probs, _ = loss(x)
    np.testing.assert_allclose(gradient.probabilities(), probs, atol=1e-5)
    direction = rng.normal(size=x.shape)
    h = 1e-3
    numeric = (loss(x + h * direction)[1] - loss(x - h * direction)[1]) / (2 * h)
    assert abs(numeric - (grad * direction).sum()) <= 0.02 * abs(numeric) + 1e-3
    for name, value in auxs.items():  # scoring never moves the moving statistics
        np.testing.assert_array_equal(gradient.exe.aux_dict[name].asnumpy(), value.asnumpy())
