"""``mixup.gluon.MixUp``: the MixUp operator as a hybridizable Gluon block."""
from typing import Optional

from mxnet.gluon import HybridBlock

from . import op as _op  # noqa: F401  (registers the operator)
from .params import ARGS_DOC, parse


class MixUp(HybridBlock):
    """``data_out, label_out = MixUp(num_classes=10, alpha=0.2)(data, label)``.

    The same operator as ``op_type='MixUp'`` (see :mod:`mixup.op` for the exact semantics): it
    mixes in training mode (``autograd.record()``, or ``train_mode``) and is the identity with
    one-hot labels otherwise. Parameters are validated at construction (``ValueError``).
    """

    def __init__(self, *, num_classes: int, alpha: float = 0.2, mix_rate: float = 1.0,
                 lam_mode: str = "batch", mode: str = "mixup", cutmix_alpha: float = 1.0,
                 switch_prob: float = 0.5, label_smoothing: float = 0.0,
                 check_labels: bool = True, place: int = 0, num_places: int = 1,
                 prefix: Optional[str] = None, params=None):
        super().__init__(prefix=prefix, params=params)
        self.mixup_params = parse(num_classes=num_classes, alpha=alpha, mix_rate=mix_rate,
                                  lam_mode=lam_mode, mode=mode, cutmix_alpha=cutmix_alpha,
                                  switch_prob=switch_prob, label_smoothing=label_smoothing,
                                  check_labels=check_labels, place=place,
                                  num_places=num_places)

    def hybrid_forward(self, F, data, label):
        out = F.Custom(data, label, **self.mixup_params.op_kwargs())
        return out[0], out[1]


MixUp.__doc__ += ARGS_DOC + """        prefix, params: as for any Gluon block.
"""
