"""mixup.gluon.MixUp over the whole family: hybridized or not, the block is the operator."""
import mxnet as mx
import numpy as np
import pytest

from conftest import mixup_nd
from mixup.gluon import MixUp


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("params", [
    dict(mode="cutmix", cutmix_alpha=1.0, lam_mode="sample"),
    dict(mode="switch", switch_prob=0.5, label_smoothing=0.1),
    dict(mode="mixup", alpha=0.4, label_smoothing=0.2, mix_rate=0.5),
    dict(mode="switch", pairing="same_class", label_mode="own"),
    dict(num_mix=3, lam_mode="sample", alpha=0.5),
])
def test_block_equals_the_operator_and_backpropagates_through_it(rng, hybridize, params):
    x = rng.normal(size=(6, 2, 5, 5)).astype(np.float32)
    y = np.arange(6) % 3
    expect = mixup_nd(x, y, seed=3, num_classes=3, **params)
    block = MixUp(num_classes=3, **params)
    if hybridize:
        block.hybridize()
    xs = mx.nd.array(x)
    xs.attach_grad()
    head = rng.normal(size=x.shape).astype(np.float32)
    mx.random.seed(3)
    with mx.autograd.record():
        data, label = block(xs, mx.nd.array(y))
        loss = (data * mx.nd.array(head)).sum()
    loss.backward()
    np.testing.assert_allclose(data.asnumpy(), expect[0], rtol=1e-6)
    np.testing.assert_allclose(label.asnumpy(), expect[1], rtol=1e-6)
    # the gradient of a linear read-out is the adjoint: <grad, v> = <head, mix(v)>
    v = rng.normal(size=x.shape).astype(np.float32)
    mixed_v = mixup_nd(v, y, seed=3, num_classes=3, **params)[0]
    assert float((xs.grad.asnumpy() * v).sum()) == pytest.approx(float((head * mixed_v).sum()),
                                                                 rel=1e-4)
    data, label = block(xs, mx.nd.array(y))  # outside record(): inference
    np.testing.assert_array_equal(data.asnumpy(), x)
    np.testing.assert_array_equal(label.asnumpy(), np.eye(3)[y])
