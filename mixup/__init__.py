"""mixup (Zhang et al., 2017) for Apache MXNet 1.x.

``import mixup`` registers the CustomOp ``MixUp``::

    data, label = mx.sym.Custom(data=data, label=label, alpha=0.2, num_classes=10,
                                mix_rate=0.7, op_type='MixUp')

:func:`symbol` builds the same node after validating the parameters in Python, so a bad value
raises ``ValueError`` at the call instead of an ``MXNetError`` at bind time.
"""
import os

# MXNet 1.9.1's MKLDNN fusion of convolution + BatchNorm (with the ReLU and sum of pre-activation
# residual units) changes an inference-only bind's outputs by up to 5e-3 in probability against
# the same parameters bound for training (tests/test_symbols.py shows it). MXNet reads this
# switch once, when it loads: it works when mixup is imported before mxnet.
os.environ.setdefault("MXNET_DISABLE_MKLDNN_FUSE_CONV_BN", "1")

from .params import MixUpParams, mixed_count, parse
from .op import OP_TYPE, draw_plan, paused, seek

__all__ = ["OP_TYPE", "MixUpParams", "parse", "mixed_count", "draw_plan", "paused", "seek", "symbol"]
__version__ = "0.1.0"


def symbol(data, label, name=None, **params):
    """``(data_out, label_out)`` symbols of a MixUp node on ``data``, ``label``.

    ``params`` are the operator's (num_classes, alpha, mix_rate, lam_mode, check_labels,
    batch_size); they are validated here.
    """
    import mxnet as mx
    node = mx.sym.Custom(data=data, label=label, name=name, **parse(**params).op_kwargs())
    return node[0], node[1]
