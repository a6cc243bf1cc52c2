"""A run's configuration: one frozen, typed record of every option that defines a run.

It is parsed and validated once (:meth:`RunConfig.from_options`, from the command line or from
a run's ``config.json``), holds shapes and lists as tuples, and is saved to and loaded from
``config.json`` here only. Options that only say how this process runs (``--resume``,
``--out-dir``, ``--progress``, ``--threads``) are not part of it.
"""
import dataclasses
import json
import math
import os
from dataclasses import dataclass
from typing import Optional, Tuple

from mixup import params as mixup_params
from mixup_app.files import load_json, write_atomic

KV_STORES = ("device", "local", "dist_sync", "dist_device_sync")
LR_SCHEDULES = ("step", "cosine")
AUGMENTS = ("standard", "none")
DTYPES = ("float32", "float16")
# --subset-draw (mixup_app.data.trainset.SUBSET_DRAWS, kept here so that the config loads without MXNet)
SUBSET_DRAWS = ("balanced", "uniform")
# A C int: MXNet's seeds are ints, and --seed is the root of every derived seed.
MAX_SEED = 2 ** 31 - 1


class ConfigError(ValueError):
    """An option's value is refused; the message names the option and the value."""


# Options are read from the command line and from a run's config.json, which may come from
# anywhere (./test.sh scores runs made elsewhere): every value is checked for its type, and
# sizes for what a machine can build, before anything is built from it.
# The deepest ResNet trained on CIFAR in the literature (He et al., 2016): 1202 layers.
MAX_LAYERS = 1202


def _whole(value):
    """int(value) for a whole number given as int, float or text; ValueError otherwise (JSON's
    true/false are not numbers here, nor infinities)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError
    number = float(value) if isinstance(value, float) else int(value)
    if not math.isfinite(number) or number != int(number):
        raise ValueError
    return int(number)


def _ints(option, value, count=None, low=None, high=None):
    """'3,28,28' or [3, 28, 28] -> (3, 28, 28), checked."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    elif value is None or isinstance(value, (list, tuple)):
        parts = list(value or ())
    else:
        parts = None
    try:
        if parts is None:
            raise ValueError
        out = tuple(_whole(p) for p in parts)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError("%s must be comma-separated whole numbers, got %r"
                          % (option, value)) from None
    if count is not None and len(out) != count:
        raise ConfigError("%s needs %d numbers, got %r" % (option, count, value))
    if low is not None and any(v < low for v in out):
        raise ConfigError("%s must be >= %d each, got %r" % (option, low, value))
    if high is not None and any(v > high for v in out):
        raise ConfigError("%s must be <= %d each, got %r" % (option, high, value))
    return out


def _int(option, value, low=None, high=None):
    try:
        number = _whole(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError("%s must be a whole number, got %r" % (option, value)) from None
    if low is not None and number < low:
        raise ConfigError("%s must be >= %d, got %d" % (option, low, number))
    if high is not None and number > high:
        raise ConfigError("%s must be <= %d, got %d" % (option, high, number))
    return number


def _float(option, value, low=None, high=None, low_open=False, high_open=False):
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError("%s must be a number, got %r" % (option, value)) from None
    bad = not math.isfinite(number)
    if low is not None:
        bad = bad or (number <= low if low_open else number < low)
    if high is not None:
        bad = bad or (number >= high if high_open else number > high)
    if bad:
        interval = "%s%s, %s%s" % ("(" if low_open else "[", "-inf" if low is None else low,
                                   "inf" if high is None else high, ")" if high_open else "]")
        raise ConfigError("%s must be a finite number in %s, got %r" % (option, interval, value))
    return number


def _text(option, value):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError("%s must be text, got %r" % (option, value))
    return value


def _image_shape(value):
    from PIL import Image  # Pillow's decompression-bomb limit is the data tools' limit too
    if value in (None, "", ()):
        return None
    shape = _ints("--image-shape", value, count=3, low=1)
    if shape[0] not in (1, 3) or shape[1] * shape[2] > Image.MAX_IMAGE_PIXELS:
        raise ConfigError("--image-shape must be C,H,W with C 1 or 3 and H x W at most %d "
                          "pixels, got %r" % (Image.MAX_IMAGE_PIXELS, value))
    return shape


def _choice(option, value, choices):
    if value not in choices:
        raise ConfigError("%s must be one of %s, got %r" % (option, ", ".join(choices), value))
    return value


def mixup_places():
    """The places a MixUp node can sit, from the networks' own list (mixup_symbols/resnet.py)."""
    from mixup_symbols.resnet import MIXUP_PLACES
    return tuple(p for p in MIXUP_PLACES if p != "none")


def _dataset(value):
    """auto, rec, or a dataset's name: letters, digits, '.', '_', '-' (what the data tools
    name datasets), so a name is never a path."""
    from mixup_app.data.catalogue import NAME_CHARS
    name = _text("--dataset", value)
    if not name or NAME_CHARS.search(name) or not name[0].isalnum():
        raise ConfigError("--dataset must be auto, rec or a dataset's name (letters, digits, "
                          "'.', '_', '-'), got %r" % (value,))
    return name


def _places(value):
    """--mixup-at: one place or a comma-separated list, kept in the networks' data order."""
    from mixup_symbols.resnet import parse_places
    try:
        places = parse_places(value)
    except (TypeError, ValueError):
        places = ()
    if not places:
        raise ConfigError("--mixup-at must be one of %s or a comma-separated list of them "
                          "(manifold mixup), got %r" % (", ".join(mixup_places()), value))
    return ",".join(places)


@dataclass(frozen=True)
class RunConfig:
    # data
    dataset: str = "auto"
    dataset_reason: str = ""
    data_dir: str = "data"
    train_rec: str = ""         # --dataset rec: the user's record files
    val_rec: str = ""
    num_classes: int = 0        # --dataset rec: the number of classes; a run records its dataset's
    synthetic_size: Tuple[int, int] = (2000, 500)
    train_subset: int = 0
    subset_draw: str = SUBSET_DRAWS[0]  # how --train-subset draws (uniform: a config.json
    #                                     without it, see load)
    label_noise: float = 0.0
    augment: str = "standard"
    # network
    network: str = "resnet"
    num_layers: int = 50
    image_shape: Optional[Tuple[int, int, int]] = None  # None: the dataset's default
    dtype: str = "float32"
    # mixup: how (alpha, mix_rate, mode, ...: mixup.params declares them and their trainer
    # defaults; config.json and the command line have them as top-level options), and where
    mixing: mixup_params.Mixing = mixup_params.Mixing(**mixup_params.mixing_defaults("train"))
    mixup_at: str = "input"     # one place, or comma-separated places (manifold mixup)
    mixup_off_epochs: int = 0
    # optimisation
    batch_size: int = 128
    num_epochs: int = 200
    lr: float = 0.1
    lr_schedule: str = "step"
    lr_step_epochs: Tuple[int, ...] = (100, 150)
    lr_factor: float = 0.1
    warmup_epochs: float = 0.0
    wd: float = 1e-4
    mom: float = 0.9
    # devices and distribution
    gpus: Tuple[int, ...] = ()
    cpu_devices: int = 1
    kv_store: str = "device"
    num_workers: int = 1
    num_servers: int = 1
    # run
    seed: int = 0
    save_period: int = 1
    keep_last: int = 0
    val_every: int = 1          # validate every K epochs (and the last, and a stopped one)
    val_last: int = 1           # ... and each of the last L epochs
    # recorded when the run starts (not options)
    train_count: int = 0
    train_labels_changed: float = 0.0
    train_class_counts: Tuple[int, ...] = ()  # images per class of a derived training set
    mixup_version: str = ""
    mxnet_version: str = ""

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
        """Parse and validate; every refusal is a ConfigError naming the option and value."""
        unknown = set(raw) - set(cls.option_names())
        if unknown:
            raise ConfigError("unknown option(s) %s" % ", ".join(sorted(unknown)))
        v = dict(cls().flat(), **raw)
        from mixup_app.data.records import MAX_CLASSES
        out = dict(
            dataset=_dataset(v["dataset"]),
            dataset_reason=_text("dataset_reason", v["dataset_reason"]),
            data_dir=_text("--data-dir", v["data_dir"]),
            train_rec=_text("--train-rec", v["train_rec"]),
            val_rec=_text("--val-rec", v["val_rec"]),
            num_classes=_int("--num-classes", v["num_classes"], low=0, high=MAX_CLASSES),
            synthetic_size=_ints("--synthetic-size", v["synthetic_size"], count=2),
            train_subset=_int("--train-subset", v["train_subset"], low=0),
            subset_draw=_choice("--subset-draw", v["subset_draw"], SUBSET_DRAWS),
            label_noise=_float("--label-noise", v["label_noise"], 0, 1, high_open=True),
            augment=_choice("--augment", v["augment"], AUGMENTS),
            network=_text("--network", v["network"]),
            num_layers=_int("--num-layers", v["num_layers"], low=1, high=MAX_LAYERS),
            image_shape=_image_shape(v["image_shape"]),
            dtype=_choice("--dtype", v["dtype"], DTYPES),
            mixing=_mixing(v),
            mixup_at=_places(v["mixup_at"]),
            mixup_off_epochs=_int("--mixup-off-epochs", v["mixup_off_epochs"], low=0),
            batch_size=_int("--batch-size", v["batch_size"], low=1),
            num_epochs=_int("--num-epochs", v["num_epochs"], low=1),
            lr=_float("--lr", v["lr"], 0, low_open=True),
            lr_schedule=_choice("--lr-schedule", v["lr_schedule"], LR_SCHEDULES),
            lr_step_epochs=_ints("--lr-step-epochs", v["lr_step_epochs"], low=1),
            lr_factor=_float("--lr-factor", v["lr_factor"], 0, low_open=True),
            warmup_epochs=_float("--warmup-epochs", v["warmup_epochs"], 0),
            wd=_float("--wd", v["wd"], 0),
            mom=_float("--mom", v["mom"], 0, 1, high_open=True),
            gpus=_gpus(v["gpus"]),
            cpu_devices=_int("--cpu-devices", v["cpu_devices"], low=1),
            kv_store=_choice("--kv-store", v["kv_store"], KV_STORES),
            num_workers=_int("--num-workers", v["num_workers"], low=1),
            num_servers=_int("--num-servers", v["num_servers"], low=1),
            seed=_int("--seed", v["seed"], low=0, high=MAX_SEED),
            save_period=_int("--save-period", v["save_period"], low=1),
            keep_last=_int("--keep-last", v["keep_last"], low=0),
            val_every=_int("--val-every", v["val_every"], low=1),
            val_last=_int("--val-last", v["val_last"], low=1),
            train_count=_int("train_count", v["train_count"], low=0),
            train_labels_changed=_float("train_labels_changed", v["train_labels_changed"], 0, 1),
            train_class_counts=_ints("train_class_counts", v["train_class_counts"], low=0),
            mixup_version=_text("mixup_version", v["mixup_version"]),
            mxnet_version=_text("mxnet_version", v["mxnet_version"]),
        )
        config = cls(**out)
        config._check_together()
        return config

    def _check_together(self):
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
                                  self.batch_size, devices,
                                  "--gpus %s" % ",".join(map(str, self.gpus)) if self.gpus
                                  else "--cpu-devices %d" % self.cpu_devices))

    def resolved(self, **recorded):
        """A copy with fields filled in when the run starts (dataset, image shape, counts)."""
        return dataclasses.replace(self, **recorded)

    def describe_mixup(self):
        m = self.mixing
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
        known = {k: v for k, v in raw.items() if k in cls.option_names()}
        # Subsets were drawn uniformly until --subset-draw existed: a run recorded before it
        # keeps that draw (resumed, scored and reported as what it was).
        known.setdefault("subset_draw", "uniform")
        try:
            return cls.from_options(**known)
        except ConfigError as error:
            raise ConfigError("%s: %s" % (path, error)) from None


def _mixing(values):
    """The mixing parameters among `values`, with the op's own checks and messages, one option
    at a time so that the error names it."""
    for name in mixup_params.MIXING_FIELDS:
        try:
            mixup_params.parse_mixing(**{name: values[name]})
        except (TypeError, ValueError) as error:
            raise ConfigError("--%s: %s" % (name.replace("_", "-"), error)) from None
    return mixup_params.parse_mixing(**{n: values[n] for n in mixup_params.MIXING_FIELDS})


def _gpus(value):
    from mixup_app.devices import DeviceError, parse_gpus
    if not isinstance(value, (str, list, tuple)) and value is not None:
        raise ConfigError("--gpus must be comma-separated GPU indices like 0,1, got %r"
                          % (value,))
    text = value if isinstance(value, str) else ",".join(map(str, value or ()))
    try:
        return tuple(parse_gpus(text))
    except DeviceError as error:
        raise ConfigError(str(error)) from None
