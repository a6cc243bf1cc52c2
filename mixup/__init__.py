"""mixup (Zhang et al., 2017, https://arxiv.org/abs/1710.09412) and its family (CutMix, manifold
mixup) for Apache MXNet 1.x.

``import mixup`` registers the CustomOp ``MixUp``::

    data, label = mx.sym.Custom(data=data, label=label, alpha=0.2, num_classes=10,
                                mix_rate=0.7, op_type='MixUp')

:func:`symbol` builds the same node after validating the parameters in Python, so a bad value
raises ``ValueError`` at the call instead of an ``MXNetError`` at bind time.
"""
import mixup_compat

# MXNet is not a requirement of the wheel (the build, CPU or CUDA, is the user's choice):
# without it, one line that says what to install
mixup_compat.require_mxnet()
# Before MXNet loads (when mixup is imported first): numpy's removed names MXNet reads, and
# MXNet's load-time switches. mixup_compat says why.
mixup_compat.add_numpy_aliases()
mixup_compat.disable_mkldnn_conv_bn_fusion()

from typing import Optional, Tuple  # noqa: E402

from .params import (ARGS_DOC, OP_TYPE, Mixing, MixUpParams, lam_inputs,  # noqa: E402
                     mixed_count, parse, parse_mixing)
from .draws import draw_plan  # noqa: E402
from .op import paused, seek  # noqa: E402

# after MXNet loaded (by .op): see mixup_compat
mixup_compat.wait_for_pending_work_at_exit()

__all__ = ["OP_TYPE", "Mixing", "MixUpParams", "parse", "parse_mixing", "mixed_count",
           "draw_plan", "paused", "seek", "symbol", "node_symbol"]
__version__ = "0.2.0"


def symbol(data, label, *, num_classes: int, lam=None, name: Optional[str] = None,
           **params) -> Tuple["mx.sym.Symbol", "mx.sym.Symbol"]:
    """``(data_out, label_out)`` symbols of a MixUp node on ``data`` and ``label`` (and
    ``lam``, the (N,) symbol of lambda from the graph, exactly when ``lam_mode='input'``).

    ``data``: (N, ...) float16/32/64 (CutMix: (N, C, H, W)); ``label``: (N,) class indices or
    (N, num_classes) probabilities. ``data_out`` has data's shape and dtype, ``label_out`` is
    (N, num_classes) float32, rows summing to 1. The node mixes in training mode only
    (``forward(is_train=True)``, ``autograd.record()``) and outside :func:`paused`; otherwise it
    passes the data unchanged with one-hot labels. The parameters (keywords, below) are
    validated here (``ValueError`` naming the parameter and the value).
    """
    return node_symbol(data, label, parse(num_classes=num_classes, **params), lam=lam,
                       name=name)


def node_symbol(data, label, params: MixUpParams, *, lam=None, name: Optional[str] = None):
    """``(data_out, label_out)`` of a MixUp node whose parameters are parsed already (a
    :class:`MixUpParams`, e.g. ``Mixing.node(num_classes=10)``): a network built from a
    parsed :class:`Mixing` does not parse it again for each node."""
    import mxnet as mx
    inputs = dict(zip(params.inputs(), (data, label) + lam_inputs(params, lam)))
    node = mx.sym.Custom(name=name, **inputs, **params.op_kwargs())
    return node[0], node[1]


symbol.__doc__ += ARGS_DOC + (
    "        lam (Symbol): with lam_mode='input', the (N,) weights of the rows' own inputs.\n"
    "        name (str): the node's name (outputs NAME_data_out, NAME_label_out).\n")
