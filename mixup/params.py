"""The MixUp operator's parameters, each declared once: its default, its validation (with the
message that names it), its documentation (:data:`ARGS_DOC`, shared by every docstring that
takes them) and its command-line option.

Two typed records:

* :class:`Mixing`: *how* to mix (alpha, mix_rate, mode, ...), what a network and a training
  run are configured with (``mixup_symbols.get_symbol(..., mixing=...)``, the application's
  ``RunConfig.mixing`` and command-line options, built from the declarations below);
* :class:`MixUpParams`: one node's full parameter set, the mixing plus the node's wiring
  (num_classes, check_labels, manifold mixup's place, batch_size), which
  ``mx.sym.Custom(op_type='MixUp', ...)`` receives.

MXNet hands a CustomOp's keyword arguments over as strings (``str(value)``), so every value is
parsed from text here. Everything that accepts MixUp parameters (the operator itself, the Gluon
block, :func:`mixup.symbol`, the networks, the command lines) goes through :func:`parse` or
:func:`parse_mixing`, so a bad value gets the same message wherever it enters; a parsed
:class:`Mixing` is not parsed again (:meth:`Mixing.node` checks a node's wiring only). The value
checks below are the training command's too (mixup_app.config): one wording for a refusal.
"""
import dataclasses
import math
import textwrap
from dataclasses import dataclass

OP_TYPE = "MixUp"

# Larger batches would lose exactness of the float32 indices that carry the mixing plan.
MAX_BATCH = 1 << 24

# lambda drawn by the op (the trainer's choices), or taken from the graph ('input': a third
# input `lam`, which the trainer's networks do not have)
DRAWN_LAM_MODES = ("batch", "sample")
LAM_INPUT = "input"
LAM_MODES = DRAWN_LAM_MODES + (LAM_INPUT,)
MODES = ("mixup", "cutmix", "switch")
PAIRINGS = ("random", "other_class", "same_class", "flip")
# the pairings that choose partners by the samples' classes (read from the labels)
CLASS_PAIRINGS = ("other_class", "same_class")
LABEL_MODES = ("mixed", "own")


# ---------------------------------------------------------------------- value checks
# One set of checks for every value that enters from text: the op's parameters (MXNet hands
# them over as strings) and the training command's options (mixup_app.config, from the command
# line and from config.json). A check is ``check(name, raw) -> value``; ``name`` is how the
# caller calls the value ('alpha' here, '--alpha' on the command line), and a refusal is a
# :class:`Refused` naming it.

class Refused(ValueError):
    """A value refused by a check: ``name`` (as the caller called it) ``problem`` ('must be > 0
    (...), got -1'). ``where`` prefixes the message with whose value it is ('MixUp: ')."""

    def __init__(self, name, problem, where=""):
        super().__init__("%s%s %s" % (where, name, problem))
        self.name, self.problem = name, problem


def _finite(name, raw):
    """float(raw), refusing what is not a number (JSON's true/false included: no option means
    them as numbers) and the infinities and NaN that float() accepts."""
    try:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise Refused(name, "must be a number, got %r" % (raw,)) from None
    if not math.isfinite(value):
        raise Refused(name, "must be a finite number, got %r" % (raw,))
    return value


def _interval(low, high, low_open, high_open):
    """'in [0, 1)', '> 0', '>= 0', '<= 1'...: the values a bounded check takes."""
    if low is not None and high is not None:
        return "in %s%g, %g%s" % ("(" if low_open else "[", low, high, ")" if high_open else "]")
    if low is not None:
        return "%s %g" % (">" if low_open else ">=", low)
    return "%s %g" % ("<" if high_open else "<=", high)


def real(low=None, high=None, *, low_open=False, high_open=False, why=None):
    """The check of a finite number within bounds (open or closed; None: unbounded there);
    ``why``: what the value is, said in the refusal."""
    def check(name, raw):
        value = _finite(name, raw)
        if ((low is not None and (value <= low if low_open else value < low)) or
                (high is not None and (value >= high if high_open else value > high))):
            raise Refused(name, "must be %s%s, got %r" % (
                _interval(low, high, low_open, high_open), " (%s)" % why if why else "", raw))
        return value
    return check


def positive(why):
    return real(0, low_open=True, why=why)


def fraction(why=None, open_at_one=False):
    return real(0, 1, high_open=open_at_one, why=why)


def whole(low=None, high=None, condition=""):
    """The check of a whole number in [low, high] (None: unbounded there); ``condition`` is
    said with the lower bound ('if given'). An int is taken exactly, however large."""
    def check(name, raw):
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        else:
            try:
                number = _finite(name, raw)
            except Refused:
                number = None
            if number is None or number != int(number):
                raise Refused(name, "must be a whole number, got %r" % (raw,))
            value = int(number)
        if low is not None and value < low:
            raise Refused(name, "must be >= %d%s, got %r"
                          % (low, " " + condition if condition else "", raw))
        if high is not None and value > high:
            raise Refused(name, "must be <= %d, got %r" % (high, raw))
        return value
    return check


def one_of(choices):
    """The check of a text among ``choices`` (any case; kept as ``check.choices``, which a
    command line offers)."""
    def check(name, raw):
        text = raw.strip().lower() if isinstance(raw, str) else None
        if text not in choices:
            raise Refused(name, "must be one of %s, got %r" % (choices, raw))
        return text
    check.choices = tuple(choices)
    return check


def boolean(name, raw):
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise Refused(name, "must be true or false, got %r" % (raw,))


def _given(raw):
    return raw is not None and str(raw).strip() not in ("", "None")


def _param(default, doc, check, *, kind, option=None, trainer_default=None):
    """A parameter's declaration: its default, its documentation (``doc``, for ARGS_DOC), the
    parser of its value, its type's name in the docs, and the short help of its command-line
    option (``option``; None: no option). ``trainer_default``: the training command's default,
    where it differs on purpose (the reason is in ``doc``)."""
    return dataclasses.field(default=default, metadata=dict(
        doc=doc, check=check, kind=kind, option=option, trainer_default=trainer_default))


def _beta_param(default, doc, name, option_prefix=""):
    """A parameter that is the alpha of lambda's Beta(alpha, alpha) law: > 0, a float; its
    option's help names the law."""
    law = "lambda ~ Beta(%s, %s)" % (name, name)
    return _param(default, doc, positive(law), kind="float", option=option_prefix + law)


@dataclass(frozen=True)
class Mixing:
    """How a MixUp node mixes: the operator's tunable parameters, validated (see ARGS_DOC)."""
    alpha: float = _beta_param(
        0.2, "mixup's lambda ~ Beta(alpha, alpha), alpha > 0 (any: tiny values are drawn "
        "exactly, lambda then tends to 0 or 1). `mixup <https://arxiv.org/abs/1710.09412>`_ "
        "(Zhang et al.) uses 0.1-0.4 on ImageNet, 1 on CIFAR-10.", "alpha")
    mix_rate: float = _param(
        1.0, "fraction of each batch that is mixed, in [0, 1]: exactly round(mix_rate * N) "
        "samples (halves up), chosen uniformly; 1 is the paper, 0 plain training. The "
        "training command's default is 0.7, the setting of the original MXNet project "
        "(unsky/mixup) whose results it continues.",
        fraction("the fraction of each batch that is mixed"), kind="float",
        option="fraction of each batch that is mixed; 0 is plain ERM (no MixUp node at all)",
        trainer_default=0.7)
    lam_mode: str = _param(
        "batch", "``'batch'``: one lambda (and, for CutMix, one box) per batch, as the "
        "papers; ``'sample'``: one per mixed sample; ``'input'``: lambda from the graph, a "
        "third input ``lam`` of shape (N,), one weight in [0, 1] per row (the op still draws "
        "the partners and, by mix_rate, the mixed rows; the others keep lam = 1 and get no "
        "gradient), with its exact gradient; mode='mixup' only.", one_of(LAM_MODES),
        kind="str", option="one lambda per batch (the paper) or per sample")
    mode: str = _param(
        "mixup", "``'mixup'``: x~ = lam * x_i + (1 - lam) * x_j; ``'cutmix'``: a box of "
        "partner j's pixels pasted into x_i, `CutMix <https://arxiv.org/abs/1905.04899>`_ "
        "(Yun et al.), data must be (N, C, H, W); ``'switch'``: each batch is CutMix with "
        "probability `switch_prob`, else mixup (one draw per batch).", one_of(MODES),
        kind="str", option="mixup, cutmix (a box of the partner's pixels), or switch (each "
        "batch CutMix with probability --switch-prob, else mixup)")
    cutmix_alpha: float = _beta_param(
        1.0, "CutMix's lambda ~ Beta(cutmix_alpha, cutmix_alpha), > 0; the box covers about "
        "1 - lambda of the image. 1.0 is the CutMix paper's.", "cutmix_alpha", "CutMix: ")
    switch_prob: float = _param(
        0.5, "probability that a batch is CutMix in ``mode='switch'``, in [0, 1].",
        fraction("the probability that a batch is CutMix"), kind="float",
        option="switch: probability that a batch is CutMix")
    label_smoothing: float = _param(
        0.0, "epsilon in [0, 1): in training mode class-index labels become (1 - eps) * "
        "one_hot + eps / num_classes before mixing, unmixed rows included. Probability labels "
        "(N, num_classes) are taken as given (they already are the target distribution; so "
        "chained MixUp nodes never smooth twice).", fraction(open_at_one=True), kind="float",
        option="one-hot labels become (1-e) onehot + e/K before mixing, unmixed ones too")
    pairing: str = _param(
        "random", "who mixes with whom. ``'random'``: the partners form one uniformly random "
        "cycle through the batch. ``'other_class'``: every mixed sample's partner has another "
        "class wherever the batch allows it (when one class holds more than half the batch, "
        "as few same-class pairs as possible): the samples are laid out class after class "
        "(classes, and samples within a class, in random order) and each takes the sample a "
        "random shift further (mixup.draws.other_class_partners states the exact "
        "distribution). ``'same_class'``: the paper's ablation, partners of the sample's own "
        "class only: the samples of each class present form one uniformly random cycle (so "
        "a partner is uniform over the other samples of its class), and a sample alone of its "
        "class in the batch is its own partner, so it stays unmixed even when drawn among the "
        "mixed (mixup.draws.same_class_partners). Both take the classes from the labels the "
        "op reads back each batch anyway; a probability label's class is its largest entry "
        "(the first of ties). ``'flip'``: the partner of row i is row N-1-i (the batch "
        "reversed, a random pairing when the batch is shuffled, as timm's mixup pairs), so "
        "the graph can build each row's partner itself (``mx.sym.reverse(data, axis=0)``), "
        "e.g. to compute lambda from the pair (lam_mode='input'); with N odd the middle row "
        "is its own partner and stays unmixed (mixup.draws.flip_partners).",
        one_of(PAIRINGS), kind="str", option="random: partners on a random cycle; "
        "other_class: every partner of another class wherever the batch allows; same_class: "
        "partners of the sample's own class only; flip: row i with row N-1-i")

    label_mode: str = _param(
        "mixed", "``'mixed'``: labels are mixed with the inputs' weights (the papers); "
        "``'own'``: only the inputs are mixed and every row keeps its own (one-hot or "
        "smoothed) label, the mixup paper's \"mix inputs only\" ablation, in every mode "
        "(the data's gradient is unchanged; with lam_mode='input' lam's gradient then comes "
        "through the data only).", one_of(LABEL_MODES), kind="str",
        option="mixed: labels mixed as the inputs (the paper); own: inputs mixed, every row "
        "keeps its own label (ablation)")
    num_mix: int = _param(
        2, "how many samples each mixed row combines, k >= 2: itself and k - 1 distinct "
        "others, the next k - 1 samples after it on the random partner cycle, with weights "
        "~ Dirichlet(alpha, ..., alpha) (the row's own weight is one minus the others'), one "
        "weight vector per batch with lam_mode='batch', one per mixed row with 'sample'; "
        "labels mixed with the same weights. 2 is mixup (Dirichlet(alpha, alpha) is "
        "Beta(alpha, alpha): the same draws). k > 2 works with mode='mixup', "
        "pairing='random' and a drawn lambda only, and needs batches of at least k samples "
        "(a smaller batch is refused at shape inference).", whole(2), kind="int",
        option="samples each mixed row combines: itself and k-1 others, weights ~ "
        "Dirichlet(alpha, ..., alpha); 2 is mixup")

    def node(self, **wiring):
        """The parameters of a node that mixes this way, wired by ``wiring`` (at least
        num_classes), which is checked here; the mixing itself, parsed already, is not."""
        _refuse_unknown(wiring, WIRING_FIELDS)
        if not _given(wiring.get("num_classes")):
            raise ValueError("MixUp: num_classes is required (the number of classes, >= 2)")
        values = _checked(_WIRING, wiring)
        places, place = values.get("num_places", 1), values.get("place", 0)
        if not 0 <= place < places:
            raise ValueError("MixUp: place must be in [0, num_places=%d), got %r"
                             % (places, wiring.get("place")))
        return MixUpParams(**self.values(), **values)

    def values(self):
        """{name: value} of the mixing parameters."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(Mixing)}


@dataclass(frozen=True)
class MixUpParams(Mixing):
    """Validated parameters of one ``MixUp`` node: its :class:`Mixing` and its wiring (see
    :data:`ARGS_DOC`)."""
    num_classes: int = _param(
        0, "number of classes, >= 2. Class-index labels become one-hot rows of this width; "
        "probability labels must have this many columns.", whole(2), kind="int")
    check_labels: bool = _param(
        True, "refuse class indices outside [0, num_classes) and probability rows that are "
        "not distributions (checked on the host, where the op reads the batch's labels back "
        "once per batch whether or not it checks them).", boolean, kind="bool")
    place: int = _param(
        0, "`manifold mixup <https://arxiv.org/abs/1806.05236>`_ (Verma et al.): a network "
        "holds num_places MixUp nodes, this one at position place (0 = closest to the input, "
        "in data order); in each training step exactly one of them, chosen uniformly, mixes "
        "and the others pass data and labels through. 0 <= place < num_places.", whole(),
        kind="int")
    num_places: int = _param(
        1, "the number of MixUp nodes of a manifold-mixup network (1: a single node that "
        "always mixes).", whole(1), kind="int")
    batch_size: int = _param(
        0, "accepted for compatibility with the original op, never required: the op mixes the "
        "batch it is given.", whole(1, condition="if given"), kind="int")

    @property
    def lam_input(self):
        """Whether the node takes lambda from the graph: a third input ``lam``."""
        return self.lam_mode == LAM_INPUT

    def inputs(self):
        """The node's input names, in MXNet's order: data, label (and lam)."""
        return input_names(self.lam_mode)

    def op_kwargs(self):
        """Keyword arguments for ``mx.sym.Custom`` / ``mx.nd.Custom`` (without the inputs)."""
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del kwargs["batch_size"]
        return dict(op_type=OP_TYPE, **kwargs)

    @property
    def mixing(self):
        return Mixing(**self.values())


def input_names(lam_mode):
    """The input names of a node with this lam_mode (a value or MXNet's string), in MXNet's
    order: data, label, and lam with lam_mode='input'."""
    lam_input = str(lam_mode).strip().lower() == LAM_INPUT
    return ("data", "label", "lam") if lam_input else ("data", "label")


MIXING_FIELDS = tuple(f.name for f in dataclasses.fields(Mixing))
KNOWN = tuple(f.name for f in dataclasses.fields(MixUpParams))
_WIRING = tuple(f for f in dataclasses.fields(MixUpParams) if f.name not in MIXING_FIELDS)
WIRING_FIELDS = tuple(f.name for f in _WIRING)


def _checked(fields, raw):
    """{name: checked value} of the ``fields`` given in ``raw``; a refusal says it is MixUp's
    parameter (a :class:`Refused` whose ``name`` is the parameter's)."""
    out = {}
    for f in fields:
        if f.name in raw and _given(raw[f.name]):
            try:
                out[f.name] = f.metadata["check"](f.name, raw[f.name])
            except Refused as error:
                raise Refused(f.name, error.problem, where="MixUp: ") from None
    return out


def _refuse_unknown(raw, known):
    unknown = set(raw) - set(known)
    if unknown:
        raise ValueError("MixUp: unknown parameter(s) %s; known: %s"
                         % (", ".join(sorted(unknown)), ", ".join(known)))


def _refuse_combinations(values):
    """Refuse parameters that are valid alone but have no meaning together."""
    mode = values.get("mode", "mixup")
    if values.get("lam_mode") == LAM_INPUT and mode != "mixup":
        # CutMix's label weight is its box's area, drawn by the op: a lam input would not set it
        raise ValueError("MixUp: lam_mode='input' (lambda from the graph) works with "
                         "mode='mixup' only, got mode=%r" % mode)
    num_mix, pairing = values.get("num_mix", 2), values.get("pairing", "random")
    lam_mode = values.get("lam_mode", "batch")
    if num_mix > 2 and (mode != "mixup" or lam_mode == LAM_INPUT or pairing != "random"):
        # a box pastes one partner's pixels, a lam from the graph weighs one partner, and the
        # class pairings choose one partner per row
        raise ValueError("MixUp: num_mix=%d (several partners a row) works with mode='mixup', "
                         "pairing='random' and a drawn lambda (lam_mode 'batch' or 'sample') "
                         "only; got mode=%r, pairing=%r, lam_mode=%r"
                         % (num_mix, mode, pairing, lam_mode))


def _mixing(raw):
    _refuse_unknown(raw, MIXING_FIELDS)
    values = _checked(dataclasses.fields(Mixing), raw)
    _refuse_combinations(values)
    return Mixing(**values)


def parse_mixing(**raw) -> Mixing:
    """A :class:`Mixing` from values or MXNet's strings (missing ones take their defaults).
    Raises ``ValueError`` whose message names the parameter and the bad value (a
    :class:`Refused`, whose ``name`` and ``problem`` let a command line name its option)."""
    return _mixing(raw)


def parse(**raw) -> MixUpParams:
    """Parse and validate a node's MixUp parameters given as values or as MXNet's strings.

    Raises ``ValueError`` whose message names the parameter and the bad value.
    """
    _refuse_unknown(raw, KNOWN)
    wiring = {k: v for k, v in raw.items() if k in WIRING_FIELDS}
    return _mixing({k: v for k, v in raw.items() if k in MIXING_FIELDS}).node(**wiring)


def lam_inputs(params, lam):
    """The inputs after data and label that a node with ``params`` takes: (lam,) with
    lam_mode='input', else none. A lam without lam_mode='input', or the reverse, is refused
    (ValueError): the op would otherwise ignore the weights, or lack them."""
    if params.lam_input != (lam is not None):
        raise ValueError("MixUp: lam (lambda from the graph) is given exactly when "
                         "lam_mode='input'; got lam_mode=%r and %s" % (
                             params.lam_mode, "a lam" if lam is not None else "no lam"))
    return () if lam is None else (lam,)


def _wrapped(text, indent):
    return textwrap.fill(text, width=96, initial_indent=indent, subsequent_indent=indent + "    ")


def _args_doc():
    lines = ["", "    Args:"]
    for f in dataclasses.fields(MixUpParams):
        default = "Required" if f.name == "num_classes" else "Default %r" % (f.default,)
        if f.name == "batch_size":
            default = "Default: not given"
        lines.append(_wrapped("%s (%s): %s %s." % (f.name, f.metadata["kind"],
                                                   f.metadata["doc"], default), " " * 8))
    return "\n".join(lines) + "\n"


ARGS_DOC = _args_doc()
parse.__doc__ += ARGS_DOC


def mixing_from(mixing=None, **legacy):
    """The :class:`Mixing` a network is given: ``mixing`` (a Mixing, already parsed: taken as
    it is, or None for the defaults), with any mixing parameters given as keywords the old way
    (``alpha=0.4``), parsed, laid over it. Returns (mixing, the keywords that are not mixing
    parameters)."""
    given = {k: legacy.pop(k) for k in list(legacy) if k in MIXING_FIELDS}
    mixing = mixing or Mixing()
    if given:
        mixing = dataclasses.replace(mixing, **_checked(dataclasses.fields(Mixing), given))
    return mixing, legacy


def mixing_defaults(entry="op"):
    """{name: default} of the mixing parameters for an entry point: ``op`` (the operator's,
    mixup.symbol, the Gluon block, the networks) or ``train`` (the training command, where
    a parameter declares a trainer_default)."""
    out = {}
    for f in dataclasses.fields(Mixing):
        trainer = f.metadata["trainer_default"]
        out[f.name] = trainer if entry == "train" and trainer is not None else f.default
    return out


def mixed_count(mix_rate, batch):
    """How many samples of a batch of ``batch`` are mixed: round(mix_rate * batch), halves up.

    A single sample has no partner to mix with, so a batch of one is never mixed.
    """
    if batch < 2:
        return 0
    return min(batch, int(math.floor(mix_rate * batch + 0.5)))
