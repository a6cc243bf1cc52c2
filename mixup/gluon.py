"""``mixup.gluon.MixUp``: the MixUp operator as a hybridizable Gluon block."""
from typing import Optional

from mxnet.gluon import HybridBlock

from . import op as _op  # noqa: F401  (registers the operator)
from .params import ARGS_DOC, lam_inputs, parse


class MixUp(HybridBlock):
    """``data_out, label_out = MixUp(num_classes=10, alpha=0.2)(data, label)``; with
    ``lam_mode='input'``, ``MixUp(num_classes=10, lam_mode='input')(data, label, lam)``
    (lam: (N,) weights in [0, 1], e.g. from a learnable Parameter, which gets their gradient).

    The same operator as ``op_type='MixUp'`` (see :mod:`mixup.op` for the exact semantics): it
    mixes in training mode (``autograd.record()``, or ``train_mode``) and is the identity with
    one-hot labels otherwise. Parameters are validated at construction (``ValueError``).
    """

    def __init__(self, *, num_classes: int, prefix: Optional[str] = None, params=None,
                 **mixup_params):
        super().__init__(prefix=prefix, params=params)
        self.mixup_params = parse(num_classes=num_classes, **mixup_params)

    def hybrid_forward(self, F, data, label, lam=None):
        extra = lam_inputs(self.mixup_params, lam)
        out = F.Custom(data, label, *extra, **self.mixup_params.op_kwargs())
        return out[0], out[1]


MixUp.__doc__ += ARGS_DOC + """        prefix, params: as for any Gluon block.
"""
