"""mixup/scoring.py: the FGSM / I-FGSM attack against an independent numpy computation."""
import mxnet as mx
import numpy as np

from mixup import scoring


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
