"""A run's configuration: one frozen, typed record of every option that defines a run.

Each option is declared once, as a field of :class:`RunConfig` (:func:`option`): its default,
the check of its value, and its command-line option (group, help text, metavar; its choices
are its check's). ``./train.sh``'s parser (mixup_app.train.build_parser) and the validation
(:meth:`RunConfig.from_options`, from the command line or from a run's ``config.json``) are
both made from these declarations; the mixing options (--alpha, --mix-rate, ...) are the
op's parameters, declared in mixup.params. The checks are the op's own (mixup.params), so a
value is refused in the same words wherever it enters, naming the option.

The record holds shapes and lists as tuples, and is saved to and loaded from ``config.json``
here only. Options that only say how this process runs (``--resume``, ``--out-dir``,
``--progress``, ``--threads``) are not part of it.
"""
import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Optional, Tuple

from mixup import params as mixup_params
from mixup.params import Refused, fraction, one_of, real, whole
from mixup_app import paths
from mixup_app.cli import flag
from mixup_app.files import load_json, write_atomic

KV_STORES = ("device", "local", "dist_sync", "dist_device_sync")
LR_SCHEDULES = ("step", "cosine")
AUGMENTS = ("standard", "none")
DTYPES = ("float32", "float16")
# --subset-draw (mixup_app.data.trainset.SUBSET_DRAWS, kept here so that the config loads without MXNet)
SUBSET_DRAWS = ("balanced", "uniform")
# --semi (mixup_app.semi): none (supervised) or a semi-supervised method
SEMI_METHODS = ("none", "ict", "mixmatch")
# Each method's defaults of the --semi options left unset (None), resolved once when the
# config is made, so config.json records the values a run started with (a resumed or
# extended run keeps them). Sources: ICT's CIFAR-10 command (github.com/vikasverma1077/ICT,
# README, 4000 labels); MixMatch's paper (arXiv 1905.02249, CIFAR-10) and code
# (github.com/google-research/mixmatch, mixmatch.py and runs/table1.sh). A function is of
# the config.
METHOD_DEFAULTS = {
    "ict": dict(unlabeled_weight=100.0, rampup_epochs=100.0, unlabeled_alpha=1.0),
    # ramp: warmup_kimg 1024 of train_kimg 65536 (1 << 16), 1/64 of the training
    "mixmatch": dict(unlabeled_weight=75.0, rampup_epochs=lambda c: c.num_epochs / 64.0,
                     unlabeled_alpha=0.75, mixmatch_k=2, sharpen_temperature=0.5),
}
# options that only MixMatch reads
MIXMATCH_ONLY = ("mixmatch_k", "sharpen_temperature")
# --policy (mixup_app.adaptive.POLICIES, kept here so that the config loads without MXNet)
POLICIES = ("fixed", "adaptive")
# A C int: MXNet's seeds are ints, and --seed is the root of every derived seed.
MAX_SEED = 2 ** 31 - 1


class ConfigError(ValueError):
    """An option's value is refused; the message names the option and the value."""


# Options are read from the command line and from a run's config.json, which may come from
# anywhere (./test.sh scores runs made elsewhere): every value is checked for its type, and
# sizes for what a machine can build, before anything is built from it.
# The deepest ResNet trained on CIFAR in the literature (He et al., 2016): 1202 layers.
MAX_LAYERS = 1202


# ---------------------------------------------------------------------- the run's own checks
# Each is check(name, raw) -> value, as mixup.params' checks, raising Refused naming `name`.

def whole_numbers(count=None, low=None):
    """The check of comma-separated whole numbers: '3,28,28' or [3, 28, 28] -> (3, 28, 28)."""
    number = whole()

    def check(name, raw):
        not_numbers = Refused(name, "must be comma-separated whole numbers, got %r" % (raw,))
        if isinstance(raw, str):
            parts = [p.strip() for p in raw.split(",") if p.strip()]
        elif raw is None or isinstance(raw, (list, tuple)):
            parts = list(raw or ())
        else:
            raise not_numbers
        try:
            out = tuple(number(name, p) for p in parts)
        except Refused:
            raise not_numbers from None
        if count is not None and len(out) != count:
            raise Refused(name, "needs %d numbers, got %r" % (count, raw))
        if low is not None and any(v < low for v in out):
            raise Refused(name, "must be >= %d each, got %r" % (low, raw))
        return out
    return check


def text(name, raw):
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise Refused(name, "must be text, got %r" % (raw,))
    return raw


def optional(check):
    """The check of an option whose None means "the method's default" (METHOD_DEFAULTS)."""
    def checked(name, raw):
        return None if raw is None else check(name, raw)
    return checked


def _class_count(name, raw):
    from mixup_app.data.records import MAX_CLASSES  # loads MXNet: not when the config loads
    return whole(0, MAX_CLASSES)(name, raw)


def _image_shape(name, raw):
    from PIL import Image  # Pillow's decompression-bomb limit is the data tools' limit too
    if raw in (None, "", ()):
        return None
    shape = whole_numbers(count=3, low=1)(name, raw)
    if shape[0] not in (1, 3) or shape[1] * shape[2] > Image.MAX_IMAGE_PIXELS:
        raise Refused(name, "must be C,H,W with C 1 or 3 and H x W at most %d pixels, got %r"
                      % (Image.MAX_IMAGE_PIXELS, raw))
    return shape


def mixup_places():
    """The places a MixUp node can sit, from the networks' own list (mixup_symbols/resnet.py)."""
    from mixup_symbols.resnet import MIXUP_PLACES
    return tuple(p for p in MIXUP_PLACES if p != "none")


def _dataset(name, raw):
    """auto, rec, or a dataset's name: letters, digits, '.', '_', '-' (what the data tools
    name datasets), so a name is never a path."""
    from mixup_app.data.catalogue import NAME_CHARS
    value = text(name, raw)
    if not value or NAME_CHARS.search(value) or not value[0].isalnum():
        raise Refused(name, "must be auto, rec or a dataset's name (letters, digits, '.', '_', "
                      "'-'), got %r" % (raw,))
    return value


def _places(name, raw):
    """--mixup-at: one place or a comma-separated list, kept in the networks' data order."""
    from mixup_symbols.resnet import parse_places
    try:
        places = parse_places(raw)
    except (TypeError, ValueError):
        places = ()
    if not places:
        raise Refused(name, "must be one of %s or a comma-separated list of them (manifold "
                      "mixup), got %r" % (", ".join(mixup_places()), raw))
    return ",".join(places)


def _gpus(name, raw):
    from mixup_app.devices import DeviceError, parse_gpus
    if not isinstance(raw, (str, list, tuple)) and raw is not None:
        raise Refused(name, "must be comma-separated GPU indices like 0,1, got %r" % (raw,))
    try:
        return tuple(parse_gpus(raw if isinstance(raw, str) else ",".join(map(str, raw or ()))))
    except DeviceError as error:
        raise ConfigError(str(error)) from None


def _mixing(values):
    """The mixing options among ``values`` (flat, as the command line and config.json have
    them), parsed once by the op's own parser; a refusal names the option."""
    try:
        return mixup_params.parse_mixing(**{n: values[n] for n in mixup_params.MIXING_FIELDS})
    except Refused as error:
        raise ConfigError("%s %s" % (flag(error.name), error.problem)) from None


# ---------------------------------------------------------------------- the declarations

def option(default, help, check, *, group, metavar=None, shown=None, command_default=None):
    """A run option's declaration, its one home: the field's ``default``, the ``check`` of its
    value, and its command-line option --NAME in the argparse ``group``, with its ``help``
    (text, or a function giving it, where the text names what loads only with MXNet),
    ``metavar``, ``shown`` (what --help shows as the default, for one worked out later) and
    ``command_default`` (a function giving the command line's default where it is not the
    field's: --data-dir's folder, found when the command runs). Choices are the check's."""
    return dataclasses.field(default=default, metadata=dict(
        help=help, check=check, group=group, metavar=metavar, shown=shown,
        command_default=command_default))


def recorded(default, check):
    """A field recorded when the run starts (the dataset's counts, the versions): checked when
    config.json is read, but no option."""
    return dataclasses.field(default=default, metadata=dict(check=check, group=None))


def option_name(field):
    """How messages name a field: its option (--lr), or its config.json key if it has none."""
    return flag(field.name) if field.metadata["group"] else field.name


def _dataset_help():
    from mixup_app.data import catalogue
    return ("auto (CIFAR-10 if its files exist or can be downloaded, else Fashion-MNIST, which "
            "works offline), one of " + ", ".join(catalogue.DATASETS) + ", rec (your own "
            "RecordIO pair: --train-rec, --val-rec, --num-classes), or the NAME of a dataset "
            "made with ./tools.sh data images")


DATA, NETWORK, MIXUP = "data", "network", "mixup"
OPTIMISATION, DEVICES, RUN = "optimisation", "devices and distribution", "run"
SEMI = "semi-supervised (docs/TRAINING.md, Semi-supervised mixup)"


@dataclass(frozen=True)
class RunConfig:
    # data
    dataset: str = option("auto", _dataset_help, _dataset, group=DATA)
    dataset_reason: str = recorded("", text)
    train_rec: str = option("", "--dataset rec: the training .rec file (an .idx beside it is "
                            "used or built)", text, group=DATA)
    val_rec: str = option("", "--dataset rec: the validation .rec file", text, group=DATA)
    # --dataset rec: the number of classes; a run records its dataset's
    num_classes: int = option(0, "--dataset rec: labels are 0 .. K-1", _class_count, group=DATA,
                              metavar="K")
    data_dir: str = option("data", "where the .rec files are", text, group=DATA,
                           command_default=paths.default_data_dir)
    synthetic_size: Tuple[int, int] = option(
        (2000, 500), "TRAIN,VAL image counts of the synthetic set", whole_numbers(count=2),
        group=DATA)
    train_subset: int = option(
        0, "train on a fixed subset of N training images, drawn with --seed as --subset-draw "
        "says (0: all)", whole(0), group=DATA, metavar="N")
    # a config.json without subset_draw was drawn uniformly: see load
    subset_draw: str = option(
        SUBSET_DRAWS[0], "how --train-subset draws: balanced: N//K images of each of the K "
        "classes, one more of each of N%%K classes chosen with --seed, drawn without "
        "replacement within each class (a class with too few images is refused); uniform: N "
        "images drawn without replacement from the whole set, whatever their class (every "
        "subset before this option; a run recorded without it resumes uniform)",
        one_of(SUBSET_DRAWS), group=DATA)
    label_noise: float = option(
        0.0, "replace each training label, with probability P, by a class drawn uniformly from "
        "all classes (the original included); a function of --seed and the image; validation "
        "labels are never changed", fraction(open_at_one=True), group=DATA, metavar="P")
    augment: str = option(
        "standard", "standard: 4-pixel padding + random crop + mirror (where the dataset "
        "allows); none: the stored images, centre-cropped to --image-shape", one_of(AUGMENTS),
        group=DATA)
    # network
    network: str = option("resnet", "resnet (mixup_symbols/resnet.py) or gluoncv:NAME, e.g. "
                          "gluoncv:cifar_resnet56_v1", text, group=NETWORK)
    num_layers: int = option(50, "ResNet depth: 6n+2 / 9n+2 for images <= 28 px, else 18, 34, "
                             "50, 101, 152", whole(1, MAX_LAYERS), group=NETWORK)
    image_shape: Optional[Tuple[int, int, int]] = option(
        None, "C,H,W fed to the network, cropped from the stored images (cifar10 3,28,28; "
        "fashion-mnist 1,28,28; synthetic 3,28,28)", _image_shape, group=NETWORK,
        shown="the dataset's")
    dtype: str = option("float32", "float16 needs --gpus", one_of(DTYPES), group=NETWORK)
    # mixup: how (alpha, mix_rate, mode, ...: mixup.params declares them, their checks, help
    # and trainer defaults; config.json and the command line have them as top-level options),
    # and where
    mixing: mixup_params.Mixing = option(
        mixup_params.Mixing(**mixup_params.mixing_defaults("train")), None, _mixing,
        group=MIXUP)
    mixup_at: str = option(
        "input", lambda: "where MixUp sits: one of %s, or a comma-separated list (manifold "
        "mixup: each step mixes at one of them, chosen uniformly)" % ", ".join(mixup_places()),
        _places, group=MIXUP)
    mixup_off_epochs: int = option(0, "train the last N epochs without mixing", whole(0),
                                   group=MIXUP)
    policy: str = option(
        "fixed", "fixed: lambda ~ Beta(--alpha, --alpha) (mixup); adaptive: AdaMixup (Guo et "
        "al. 2019), lambda's range learned per pair by a generator, an intrusion "
        "discriminator on the network's features, half of each batch mixed (--alpha and "
        "--mix-rate unused; docs/TRAINING.md)", one_of(POLICIES), group=MIXUP)
    # semi-supervised (mixup_app.semi, mixup_app.data.semisplit); the per-method defaults:
    # METHOD_DEFAULTS
    labeled: int = option(
        0, "keep the labels of N training images only, a class-balanced draw with --seed "
        "(N a multiple of the classes; record ids in RUN/labeled.json); without --semi the run "
        "trains on these N alone (0: every image labeled)", whole(0), group=SEMI, metavar="N")
    unlabeled: int = option(
        0, "with --semi: use M of the other training images, drawn with --seed, without their "
        "labels (0: all the others)", whole(0), group=SEMI, metavar="M")
    semi: str = option(
        "none", "none; ict: Interpolation Consistency Training (Verma et al., 2019); mixmatch: "
        "MixMatch (Berthelot et al., 2019); on the images left unlabeled by --labeled",
        one_of(SEMI_METHODS), group=SEMI)
    ema_decay: float = option(
        0.999, "--semi: the teacher (the evaluated moving average of the student's "
        "parameters), min(1 - 1/(step+1), D) at each step (ICT's --ema_decay 0.999; MixMatch's "
        "--ema 0.999)", fraction(open_at_one=True), group=SEMI, metavar="D")
    unlabeled_weight: Optional[float] = option(
        None, "--semi: the unlabeled loss's weight after its ramp-up; ict: 100 (ICT's CIFAR-10 "
        "--mixup_consistency 100), mixmatch: 75 (lambda_U, the MixMatch paper's CIFAR-10 "
        "--w_match 75)", optional(real(0)), group=SEMI, metavar="W", shown="the method's")
    rampup_epochs: Optional[float] = option(
        None, "--semi: epochs over which that weight ramps up from 0, t counted per step; ict: "
        "sigmoid exp(-5 (1 - t/T)^2), 100 (ICT: --consistency_rampup_ends 100 of 400 "
        "epochs); mixmatch: linear t/T, --num-epochs/64 (the authors' code: 1024 of 65536 "
        "kimg, the paper's 16k of 1M steps)", optional(real(0)), group=SEMI, metavar="T",
        shown="the method's")
    unlabeled_alpha: Optional[float] = option(
        None, "--semi: lambda ~ Beta(A, A) of the method's mixing; ict: the unlabeled images' "
        "mixup, 1.0 (ICT's CIFAR-10 --mixup_usup_alpha 1.0); mixmatch: its one mixing of the "
        "labeled and unlabeled images, lambda' = max(lambda, 1 - lambda) per image, 0.75 (the "
        "paper's CIFAR-10 --beta 0.75)", optional(real(0, low_open=True)), group=SEMI,
        metavar="A", shown="the method's")
    mixmatch_k: Optional[int] = option(
        None, "--semi mixmatch: augmentations of each unlabeled image whose predictions are "
        "averaged into its guessed label, 2 (the paper's K, the authors' --nu 2)",
        optional(whole(1)), group=SEMI, metavar="K", shown="2")
    sharpen_temperature: Optional[float] = option(
        None, "--semi mixmatch: the guessed label's sharpening, p^(1/T) renormalised, 0.5 (the "
        "paper's T)", optional(real(0, low_open=True)), group=SEMI, metavar="T", shown="0.5")
    # optimisation
    batch_size: int = option(128, "images per step and worker, over all its devices", whole(1),
                             group=OPTIMISATION)
    num_epochs: int = option(200, "epochs to train; with --resume: extend or shorten the run to "
                             "this many", whole(1), group=OPTIMISATION)
    lr: float = option(0.1, "learning rate", real(0, low_open=True), group=OPTIMISATION)
    lr_schedule: str = option("step", "step or cosine (to 0 at --num-epochs)",
                              one_of(LR_SCHEDULES), group=OPTIMISATION)
    lr_step_epochs: Tuple[int, ...] = option(
        (100, 150), "step schedule: epochs at which lr is multiplied by --lr-factor",
        whole_numbers(low=1), group=OPTIMISATION)
    lr_factor: float = option(0.1, "step schedule: the factor", real(0, low_open=True),
                              group=OPTIMISATION)
    warmup_epochs: float = option(0.0, "linear warm-up from 0 over this many epochs", real(0),
                                  group=OPTIMISATION)
    wd: float = option(1e-4, "weight decay", real(0), group=OPTIMISATION)
    mom: float = option(0.9, "momentum", fraction(open_at_one=True), group=OPTIMISATION)
    # devices and distribution
    gpus: Tuple[int, ...] = option((), "GPU indices, e.g. 0,1; none: the CPU", _gpus,
                                   group=DEVICES)
    cpu_devices: int = option(1, "split each batch over this many CPU contexts (data "
                              "parallelism without GPUs, for testing)", whole(1), group=DEVICES)
    kv_store: str = option("device", "how devices and workers combine gradients",
                           one_of(KV_STORES), group=DEVICES)
    num_workers: int = option(1, "with dist_sync: launch this many local workers (plus "
                              "scheduler and servers) and wait for them", whole(1),
                              group=DEVICES)
    num_servers: int = option(1, "with dist_sync: parameter servers", whole(1), group=DEVICES)
    # run
    seed: int = option(0, "the root of every random draw (0 .. 2147483647)",
                       whole(0, MAX_SEED), group=RUN)
    save_period: int = option(1, "checkpoint every N epochs (and the last and the best)",
                              whole(1), group=RUN)
    # validate every K epochs (and the last, and a stopped one), and each of the last L
    val_every: int = option(
        1, "validate every K epochs, and always at the last one and at the one a run is "
        "stopped at; best.json and --keep-last count validated epochs only", whole(1),
        group=RUN, metavar="K")
    val_last: int = option(
        1, "also validate each of the last L epochs (1: the last one only, as always), e.g. 5 "
        "for a mean over the last 5 epochs in ./tools.sh report without validating every "
        "epoch before", whole(1), group=RUN, metavar="L")
    keep_last: int = option(0, "keep only the newest K checkpoints, plus the best (0: keep "
                            "all)", whole(0), group=RUN)
    # recorded when the run starts (not options)
    train_count: int = recorded(0, whole(0))
    train_labels_changed: float = recorded(0.0, fraction())
    # images per class of a derived training set
    train_class_counts: Tuple[int, ...] = recorded((), whole_numbers(low=0))
    mixup_version: str = recorded("", text)
    mxnet_version: str = recorded("", text)

    @property
    def uses_mixup(self):
        """Whether the training graph holds the MixUp op at all: mix_rate 0 without label
        smoothing is plain ERM."""
        return self.mixing.mix_rate > 0 or self.mixing.label_smoothing > 0

    @classmethod
    def option_names(cls):
        """The options a run is made of, as config.json and the command line name them (the
        mixing parameters among them, flat)."""
        return ([f.name for f in dataclasses.fields(cls) if f.name != "mixing"]
                + list(mixup_params.MIXING_FIELDS))

    def flat(self):
        """{option: value}: the fields, with the mixing parameters as options of their own."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.update(out.pop("mixing").values())
        return out

    @classmethod
    def from_options(cls, **raw):
        """Parse and validate, each option by its declared check (the mixing options at once,
        by the op's parser); every refusal is a ConfigError naming the option and value."""
        unknown = set(raw) - set(cls.option_names())
        if unknown:
            raise ConfigError("unknown option(s) %s" % ", ".join(sorted(unknown)))
        values = dict(cls().flat(), **raw)
        config = cls(**{f.name: _read(f, values) for f in dataclasses.fields(cls)})
        config._check_together()
        return config._with_method_defaults()

    def _with_method_defaults(self):
        """A copy with the --semi method's defaults (METHOD_DEFAULTS) for its options left
        unset."""
        unset = {name: value(self) if callable(value) else value
                 for name, value in METHOD_DEFAULTS.get(self.semi, {}).items()
                 if getattr(self, name) is None}
        return dataclasses.replace(self, **unset) if unset else self

    def _check_together(self):
        from mixup_app.adaptive import refusal
        if refusal(self):
            raise ConfigError(refusal(self))
        if self.mixing.lam_mode not in mixup_params.DRAWN_LAM_MODES:
            # lambda from the graph needs a network that computes it (not offered here yet)
            raise ConfigError("--lam-mode must be one of %s for a run, got %r" % (
                ", ".join(mixup_params.DRAWN_LAM_MODES), self.mixing.lam_mode))
        if self.dataset == "rec":
            missing = [flag for flag, value in (("--train-rec", self.train_rec),
                                                ("--val-rec", self.val_rec),
                                                ("--num-classes", self.num_classes)) if not value]
            if missing:
                raise ConfigError("--dataset rec needs %s (your own RecordIO files and their "
                                  "number of classes)" % ", ".join(missing))
            if self.num_classes < 2:
                raise ConfigError("--num-classes must be >= 2, got %d" % self.num_classes)
        elif (self.train_rec or self.val_rec) and not self.dataset.startswith("rec-"):
            raise ConfigError("--train-rec/--val-rec go with --dataset rec, not --dataset %s"
                              % self.dataset)
        self._check_semi()
        steps = self.lr_step_epochs
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ConfigError("--lr-step-epochs must be increasing, got %s"
                              % ",".join(map(str, steps)))
        from mixup_app.data.catalogue import DataError, check_synthetic_counts
        try:
            check_synthetic_counts(self.synthetic_size)
        except DataError as error:
            raise ConfigError(str(error)) from None
        if self.mixup_off_epochs > self.num_epochs:
            raise ConfigError("--mixup-off-epochs %d exceeds --num-epochs %d"
                              % (self.mixup_off_epochs, self.num_epochs))
        if self.warmup_epochs >= self.num_epochs:
            raise ConfigError("--warmup-epochs %g must be below --num-epochs %d"
                              % (self.warmup_epochs, self.num_epochs))
        if self.num_workers > 1 and not self.kv_store.startswith("dist"):
            raise ConfigError("--num-workers %d needs --kv-store dist_sync or dist_device_sync"
                              % self.num_workers)
        if self.gpus and self.cpu_devices > 1:
            raise ConfigError("--cpu-devices is for CPU training; drop it with --gpus")
        if self.dtype == "float16" and not self.gpus:
            raise ConfigError("--dtype float16 needs --gpus: MXNet 1.9.1 has no float16 "
                              "matrix multiply on the CPU")
        devices = len(self.gpus) or self.cpu_devices
        if self.batch_size < devices:
            raise ConfigError("--batch-size %d cannot be split over %d devices (%s): give at "
                              "least one image per device" % (
                                  self.batch_size, devices, self.devices_option()))

    def _check_semi(self):
        """The semi-supervised options together (the data's counts: mixup_app.data.semisplit)."""
        if self.semi != "none" and not self.labeled:
            raise ConfigError("--semi %s needs --labeled N (the images that keep their labels)"
                              % self.semi)
        if self.unlabeled and self.semi == "none":
            raise ConfigError("--unlabeled %d goes with --semi (without it the unlabeled images "
                              "are not used)" % self.unlabeled)
        if self.labeled and self.train_subset:
            raise ConfigError("--labeled and --train-subset both choose the training images: "
                              "give one")
        for name in MIXMATCH_ONLY:
            if self.semi != "mixmatch" and getattr(self, name) is not None:
                raise ConfigError("%s goes with --semi mixmatch, not --semi %s"
                                  % (flag(name), self.semi))
        if self.semi == "mixmatch":
            self._check_mixmatch()

    def _check_mixmatch(self):
        """MixMatch mixes the labeled and unlabeled images itself, in one node over their
        concatenation: the supervised graph's mixing options do not go with it. On several
        devices each device's slice holds B/d labeled and K B/d unlabeled rows
        (semi.mixmatch.MixMatch interleaves them), so the batch must divide among the
        devices."""
        defaults = mixup_params.Mixing(**mixup_params.mixing_defaults("train"))
        wrong = ["%s %s" % (flag(name), value) for name, value in self.mixing.values().items()
                 if value != getattr(defaults, name)]
        wrong += ["%s %s" % (flag(name), getattr(self, name))
                  for name, usual in (("policy", "fixed"), ("mixup_at", "input"))
                  if getattr(self, name) != usual]
        if wrong:
            raise ConfigError("--semi mixmatch mixes the labeled and unlabeled images itself "
                              "(lambda ~ Beta(--unlabeled-alpha)): drop %s" % ", ".join(wrong))
        devices = len(self.gpus) or self.cpu_devices
        if self.batch_size % devices:
            raise ConfigError(
                "--semi mixmatch needs --batch-size a multiple of the %d devices (%s), got %d: "
                "each device's slice holds the same share of labeled and unlabeled rows" % (
                    devices, self.devices_option(), self.batch_size))

    def devices_option(self):
        """The option that chose the devices, as given: '--gpus 0,1' or '--cpu-devices N'."""
        if self.gpus:
            return "--gpus %s" % ",".join(map(str, self.gpus))
        return "--cpu-devices %d" % self.cpu_devices

    def resolved(self, **recorded):
        """A copy with fields filled in when the run starts (dataset, image shape, counts)."""
        return dataclasses.replace(self, **recorded)

    def describe_mixup(self):
        m = self.mixing
        if self.semi == "mixmatch":  # its own mixing; the supervised graph's is not used
            return "MixMatch alpha=%g over the labeled and %d views of the unlabeled, T=%g" % (
                self.unlabeled_alpha, self.mixmatch_k, self.sharpen_temperature)
        if self.policy == "adaptive":
            from mixup_app.adaptive import describe
            return describe(self)
        if not self.uses_mixup:
            return "no MixUp (ERM)"
        if m.mix_rate == 0:
            return "no mixing, label smoothing %g" % m.label_smoothing
        what = {"mixup": "MixUp alpha=%g" % m.alpha,
                "cutmix": "CutMix alpha=%g" % m.cutmix_alpha,
                "switch": "MixUp alpha=%g / CutMix alpha=%g (p=%g)" % (
                    m.alpha, m.cutmix_alpha, m.switch_prob)}[m.mode]
        return "%s mix_rate=%g at %s%s" % (
            what, m.mix_rate, self.mixup_at.replace(",", " or "),
            ", label smoothing %g" % m.label_smoothing if m.label_smoothing else "")

    # ------------------------------------------------------------------ config.json

    def to_json(self):
        return json.dumps(self.flat(), indent=2, sort_keys=True)

    def save(self, run_dir):
        write_atomic(os.path.join(run_dir, "config.json"), self.to_json())

    @classmethod
    def load(cls, run_dir):
        path = os.path.join(run_dir, "config.json")
        try:
            raw = load_json(path)
        except FileNotFoundError:
            raise FileNotFoundError("%s not found: is %s a run directory made by ./train.sh?"
                                    % (path, run_dir)) from None
        except (OSError, ValueError) as error:
            raise ConfigError("%s is unreadable (%s)" % (path, error)) from None
        if not isinstance(raw, dict):
            raise ConfigError("%s is not a JSON object of options" % path)
        # --semi ict's weight was recorded as consistency_weight before MixMatch shared it
        if "consistency_weight" in raw:
            raw.setdefault("unlabeled_weight", raw["consistency_weight"])
        known = {k: v for k, v in raw.items() if k in cls.option_names()}
        # Subsets were drawn uniformly until --subset-draw existed: a run recorded before it
        # keeps that draw (resumed, scored and reported as what it was).
        known.setdefault("subset_draw", "uniform")
        try:
            return cls.from_options(**known)
        except ConfigError as error:
            raise ConfigError("%s: %s" % (path, error)) from None



def _read(field, values):
    """A field's value from the flat options, by its declared check."""
    check = field.metadata["check"]
    if field.name == "mixing":  # its options are the op's mixing parameters, flat: read at once
        return check(values)
    try:
        return check(option_name(field), values[field.name])
    except Refused as error:
        raise ConfigError(str(error)) from None
