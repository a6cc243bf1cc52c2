"""Fully connected ReLU networks as MXNet symbols, with MixUp on the input rows: the classifier
of ``./tools.sh tabular`` and the discriminator and generator of ``./tools.sh gan``."""
from typing import Optional, Sequence

import mixup
import mxnet as mx

from .resnet import loss


def body(data, hidden: Sequence[int], outputs: int, prefix: str = ""):
    """``data`` (N, F) through one FullyConnected + ReLU layer per width in ``hidden``
    (``PREFIXfc1``, ``PREFIXfc2``, ...) and a last linear layer of ``outputs`` units
    (``PREFIXfc_out``)."""
    for depth, width in enumerate(hidden, start=1):
        data = mx.sym.FullyConnected(data, num_hidden=width, name="%sfc%d" % (prefix, depth))
        data = mx.sym.Activation(data, act_type="relu", name="%srelu%d" % (prefix, depth))
    return mx.sym.FullyConnected(data, num_hidden=outputs, name="%sfc_out" % prefix)


def initializer():
    """PyTorch's default for its Linear layers, in which the papers' MLPs were written:
    weights ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); biases start at zero (PyTorch draws them
    from the same range)."""
    return mx.init.Xavier(rnd_type="uniform", factor_type="in", magnitude=1)


def init_like_pytorch(module):
    """Initialise a bound Module's FullyConnected layers exactly as PyTorch's Linear does by
    default: weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the GAN demo's
    networks). Draws from MXNet's seeded generator."""
    module.init_params(initializer())
    weights, aux = module.get_params()
    for name in list(weights):
        if name.endswith("_bias"):
            bound = weights[name[:-len("_bias")] + "_weight"].shape[1] ** -0.5
            weights[name] = mx.nd.random.uniform(-bound, bound, shape=weights[name].shape)
    module.set_params(weights, aux)


def get_symbol(num_classes: int, hidden: Sequence[int], *, alpha: Optional[float] = None,
               lam_mode: str = "batch", train: bool = True, prefix: str = ""):
    """A classifier of (N, F) rows ending in ``SoftmaxOutput`` named ``softmax`` (label
    ``softmax_label``: class indices).

    With ``alpha`` (> 0) and ``train`` a MixUp node (``PREFIXmixup``, mix_rate 1: every row
    mixed, λ ~ Beta(alpha, alpha), one λ per batch or per row as ``lam_mode`` says) sits on
    the input rows and the loss trains against its probability labels; ``alpha=None`` (ERM)
    or ``train=False`` (the scoring graph: same parameter names, so trained parameters load
    into it) has no MixUp node. The loss is the project's (``mixup_symbols.resnet.loss``:
    normalization 'null', the optimizer's ``rescale_grad = 1/batch`` the only division by
    the batch), so one learning rate means the same with and without MixUp.
    """
    data = mx.sym.var("data")
    label = mx.sym.var("softmax_label")
    if train and alpha is not None:
        data, label = mixup.symbol(data, label, num_classes=num_classes, alpha=alpha,
                                   mix_rate=1.0, lam_mode=lam_mode, name=prefix + "mixup")
    return loss(body(data, hidden, num_classes, prefix), label)
