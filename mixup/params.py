"""The MixUp operator's parameters: their defaults, their parsing, their validation and their
documentation (:data:`ARGS_DOC`, shared by every docstring that takes them).

MXNet hands a CustomOp's keyword arguments over as strings (``str(value)``), so every
parameter is parsed from text here. Everything that accepts MixUp parameters (the operator
itself, the Gluon block, :func:`mixup.symbol`, the training CLI) goes through :func:`parse`,
so a bad value gets the same message wherever it enters.
"""
import math
from dataclasses import dataclass
from typing import Optional, Union

OP_TYPE = "MixUp"

# Larger batches would lose exactness of the float32 indices that carry the mixing plan.
MAX_BATCH = 1 << 24

LAM_MODES = ("batch", "sample")
MODES = ("mixup", "cutmix", "switch")

ARGS_DOC = """
    Args:
        num_classes (int): number of classes, >= 2. Required. Class-index labels become
            one-hot rows of this width; probability labels must have this many columns.
        alpha (float): mixup's lambda ~ Beta(alpha, alpha), alpha > 0 (any: tiny values are
            drawn exactly, lambda then tends to 0 or 1). Default 0.2. `mixup
            <https://arxiv.org/abs/1710.09412>`_ (Zhang et al.) uses 0.1-0.4 on ImageNet,
            1 on CIFAR-10.
        mix_rate (float): fraction of each batch that is mixed, in [0, 1]: exactly
            round(mix_rate * N) samples (halves up), chosen uniformly; 1 is the paper, 0 plain
            training. Default 1.0.
        lam_mode (str): ``'batch'``: one lambda (and, for CutMix, one box) per batch, as the
            papers; ``'sample'``: one per mixed sample. Default ``'batch'``.
        mode (str): ``'mixup'``: x~ = lam * x_i + (1 - lam) * x_j; ``'cutmix'``: a box of
            partner j's pixels pasted into x_i, `CutMix <https://arxiv.org/abs/1905.04899>`_
            (Yun et al.), data must be (N, C, H, W); ``'switch'``: each batch is CutMix with
            probability `switch_prob`, else mixup (one draw per batch). Default ``'mixup'``.
        cutmix_alpha (float): CutMix's lambda ~ Beta(cutmix_alpha, cutmix_alpha), > 0; the
            box covers about 1 - lambda of the image. Default 1.0 (the CutMix paper).
        switch_prob (float): probability that a batch is CutMix in ``mode='switch'``, in
            [0, 1]. Default 0.5.
        label_smoothing (float): epsilon in [0, 1): in training mode class-index labels
            become (1 - eps) * one_hot + eps / num_classes before mixing, unmixed rows
            included. Probability labels (N, num_classes) are taken as given (they already
            are the target distribution; so chained MixUp nodes never smooth twice). Default 0.
        check_labels (bool): refuse class indices outside [0, num_classes) and probability
            rows that are not distributions (reads one number back per batch). Default True.
        place (int), num_places (int): `manifold mixup <https://arxiv.org/abs/1806.05236>`_
            (Verma et al.): a network holds num_places MixUp nodes, this one at position
            place (0 = closest to the input, in data order); in each training step exactly
            one of them, chosen uniformly, mixes and the others pass data and labels through.
            0 <= place < num_places. Defaults 0 and 1 (a single node that always mixes).
        batch_size (int): accepted for compatibility with the original op, never required:
            the op mixes the batch it is given.
"""


@dataclass(frozen=True)
class MixUpParams:
    """Validated parameters of the ``MixUp`` operator (see :data:`ARGS_DOC`)."""
    num_classes: int
    alpha: float = 0.2
    mix_rate: float = 1.0
    lam_mode: str = "batch"
    mode: str = "mixup"
    cutmix_alpha: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.0
    check_labels: bool = True
    place: int = 0
    num_places: int = 1
    batch_size: int = 0  # accepted for compatibility; the op mixes the batch it is given

    def op_kwargs(self):
        """Keyword arguments for ``mx.sym.Custom`` / ``mx.nd.Custom`` (without data, label)."""
        return dict(op_type=OP_TYPE, num_classes=self.num_classes, alpha=self.alpha,
                    mix_rate=self.mix_rate, lam_mode=self.lam_mode, mode=self.mode,
                    cutmix_alpha=self.cutmix_alpha, switch_prob=self.switch_prob,
                    label_smoothing=self.label_smoothing, check_labels=self.check_labels,
                    place=self.place, num_places=self.num_places)


KNOWN = ("num_classes", "alpha", "mix_rate", "lam_mode", "mode", "cutmix_alpha", "switch_prob",
         "label_smoothing", "check_labels", "place", "num_places", "batch_size")


def _number(name, raw):
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError("MixUp: %s must be a number, got %r" % (name, raw)) from None
    if not math.isfinite(value):
        raise ValueError("MixUp: %s must be a finite number, got %r" % (name, raw))
    return value


def _integer(name, raw):
    value = _number(name, raw)
    if value != int(value):
        raise ValueError("MixUp: %s must be a whole number, got %r" % (name, raw))
    return int(value)


def _boolean(name, raw):
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ValueError("MixUp: %s must be true or false, got %r" % (name, raw))


def _choice(name, raw, choices):
    text = str(raw).strip().lower()
    if text not in choices:
        raise ValueError("MixUp: %s must be one of %s, got %r" % (name, choices, raw))
    return text


def _given(raw):
    return raw is not None and str(raw).strip() not in ("", "None")


Number = Union[int, float, str]


def parse(*, num_classes: Union[int, str, None] = None, alpha: Number = 0.2,
          mix_rate: Number = 1.0, lam_mode: str = "batch", mode: str = "mixup",
          cutmix_alpha: Number = 1.0, switch_prob: Number = 0.5, label_smoothing: Number = 0.0,
          check_labels: Union[bool, str] = True, place: Union[int, str] = 0,
          num_places: Union[int, str] = 1, batch_size: Optional[Union[int, str]] = None,
          **unknown) -> MixUpParams:
    """Parse and validate MixUp parameters given as values or as MXNet's strings.

    Raises ``ValueError`` whose message names the parameter and the bad value.
    """
    if unknown:
        raise ValueError("MixUp: unknown parameter(s) %s; known: %s"
                         % (", ".join(sorted(unknown)), ", ".join(KNOWN)))
    if not _given(num_classes):
        raise ValueError("MixUp: num_classes is required (the number of classes, >= 2)")
    n_classes = _integer("num_classes", num_classes)
    if n_classes < 2:
        raise ValueError("MixUp: num_classes must be >= 2, got %r" % (num_classes,))
    a = _number("alpha", alpha)
    if a <= 0:
        raise ValueError("MixUp: alpha must be > 0 (lambda ~ Beta(alpha, alpha)), got %r"
                         % (alpha,))
    rate = _number("mix_rate", mix_rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError("MixUp: mix_rate must be in [0, 1] (the fraction of each batch that "
                         "is mixed), got %r" % (mix_rate,))
    cut_a = _number("cutmix_alpha", cutmix_alpha)
    if cut_a <= 0:
        raise ValueError("MixUp: cutmix_alpha must be > 0 (lambda ~ Beta(cutmix_alpha, "
                         "cutmix_alpha)), got %r" % (cutmix_alpha,))
    prob = _number("switch_prob", switch_prob)
    if not 0.0 <= prob <= 1.0:
        raise ValueError("MixUp: switch_prob must be in [0, 1] (the probability that a batch "
                         "is CutMix), got %r" % (switch_prob,))
    eps = _number("label_smoothing", label_smoothing)
    if not 0.0 <= eps < 1.0:
        raise ValueError("MixUp: label_smoothing must be in [0, 1), got %r"
                         % (label_smoothing,))
    places = _integer("num_places", num_places)
    if places < 1:
        raise ValueError("MixUp: num_places must be >= 1, got %r" % (num_places,))
    position = _integer("place", place)
    if not 0 <= position < places:
        raise ValueError("MixUp: place must be in [0, num_places=%d), got %r"
                         % (places, place))
    size = 0
    if _given(batch_size):
        size = _integer("batch_size", batch_size)
        if size < 1:
            raise ValueError("MixUp: batch_size must be >= 1 if given, got %r" % (batch_size,))
    return MixUpParams(num_classes=n_classes, alpha=a, mix_rate=rate,
                       lam_mode=_choice("lam_mode", lam_mode, LAM_MODES),
                       mode=_choice("mode", mode, MODES), cutmix_alpha=cut_a,
                       switch_prob=prob, label_smoothing=eps,
                       check_labels=_boolean("check_labels", check_labels),
                       place=position, num_places=places, batch_size=size)


parse.__doc__ += ARGS_DOC


def mixed_count(mix_rate, batch):
    """How many samples of a batch of ``batch`` are mixed: round(mix_rate * batch), halves up.

    A single sample has no partner to mix with, so a batch of one is never mixed.
    """
    if batch < 2:
        return 0
    return min(batch, int(math.floor(mix_rate * batch + 0.5)))
