"""The MixUp operator's parameters: their defaults, their parsing and their validation.

MXNet hands a CustomOp's keyword arguments over as strings (``str(value)``), so every
parameter is parsed from text here. Everything that accepts MixUp parameters (the operator
itself, the Gluon block, :func:`mixup.symbol`, the training CLI) goes through :func:`parse`,
so a bad value gets the same message wherever it enters.
"""
import math
from dataclasses import dataclass

# Larger batches would lose exactness of the float32 indices that carry the mixing plan.
MAX_BATCH = 1 << 24

LAM_MODES = ("batch", "sample")


@dataclass(frozen=True)
class MixUpParams:
    """Validated parameters of the ``MixUp`` operator (see the README for exact semantics)."""
    num_classes: int
    alpha: float = 0.2
    mix_rate: float = 1.0
    lam_mode: str = "batch"
    check_labels: bool = True
    batch_size: int = 0  # accepted for compatibility; the op mixes the batch it is given

    def op_kwargs(self):
        """Keyword arguments for ``mx.sym.Custom`` / ``mx.nd.Custom`` (without data, label)."""
        return dict(op_type="MixUp", num_classes=self.num_classes, alpha=self.alpha,
                    mix_rate=self.mix_rate, lam_mode=self.lam_mode,
                    check_labels=self.check_labels)


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


def parse(num_classes=None, alpha=0.2, mix_rate=1.0, lam_mode="batch", check_labels=True,
          batch_size=None, **unknown):
    """Parse and validate MixUp parameters given as values or as MXNet's strings.

    Raises ``ValueError`` whose message names the parameter and the bad value.
    """
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ValueError("MixUp: unknown parameter(s) %s; known: num_classes, alpha, mix_rate, "
                         "lam_mode, check_labels, batch_size" % names)
    if num_classes is None or str(num_classes).strip() in ("", "None"):
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
    mode = str(lam_mode).strip().lower()
    if mode not in LAM_MODES:
        raise ValueError("MixUp: lam_mode must be one of %s, got %r" % (LAM_MODES, lam_mode))
    size = 0
    if batch_size is not None and str(batch_size).strip() not in ("", "None"):
        size = _integer("batch_size", batch_size)
        if size < 1:
            raise ValueError("MixUp: batch_size must be >= 1 if given, got %r" % (batch_size,))
    return MixUpParams(num_classes=n_classes, alpha=a, mix_rate=rate, lam_mode=mode,
                       check_labels=_boolean("check_labels", check_labels), batch_size=size)


def mixed_count(mix_rate, batch):
    """How many samples of a batch of ``batch`` are mixed: round(mix_rate * batch), halves up.

    A single sample has no partner to mix with, so a batch of one is never mixed.
    """
    if batch < 2:
        return 0
    return min(batch, int(math.floor(mix_rate * batch + 0.5)))
