"""mixup.params: each MixUp parameter declared once, and every entry point built from it."""
import dataclasses
import random

import pytest

import mixup
import mixup.gluon
from mixup import params
from mixup_app.config import RunConfig
from mixup_app.train import build_parser

EXAMPLES = dict(alpha=0.4, mix_rate=0.5, lam_mode="sample", mode="switch", cutmix_alpha=2.0,
                switch_prob=0.25, label_smoothing=0.1, pairing="other_class", label_mode="own",
                num_mix=2, num_classes=7,
                check_labels=False, place=1, num_places=3, batch_size=32)

BAD = [("alpha", "0"), ("alpha", "-1"), ("alpha", "nan"), ("alpha", "x"), ("mix_rate", "1.5"),
       ("lam_mode", "row"), ("mode", "cutout"), ("cutmix_alpha", "0"), ("switch_prob", "-0.1"),
       ("label_smoothing", "1"), ("pairing", "same"), ("label_mode", "soft"),
       ("num_mix", "1"), ("num_mix", "2.5"), ("num_classes", "1"),
       ("num_classes", "2.5"), ("check_labels", "maybe"), ("num_places", "0"),
       ("batch_size", "0")]


def test_the_examples_cover_every_parameter():
    assert set(EXAMPLES) == set(params.KNOWN)


def test_mxnets_strings_parse_back_to_the_values():
    # MXNet hands a CustomOp its keyword arguments as str(value)
    parsed = params.parse(**{k: str(v) for k, v in EXAMPLES.items()})
    assert dataclasses.asdict(parsed) == EXAMPLES
    # what mx.sym.Custom receives parses back to the same node (batch_size is not passed on)
    kwargs = parsed.op_kwargs()
    assert kwargs.pop("op_type") == "MixUp"
    assert params.parse(**{k: str(v) for k, v in kwargs.items()}) == \
        dataclasses.replace(parsed, batch_size=0)


@pytest.mark.parametrize("name,bad", BAD)
def test_a_bad_value_is_refused_naming_the_parameter_and_the_value(name, bad):
    raw = dict(num_classes=10, **{name: bad}) if name != "num_classes" else {name: bad}
    with pytest.raises(ValueError) as error:
        params.parse(**raw)
    assert name in str(error.value) and repr(bad) in str(error.value)


def test_unknown_and_missing_parameters_are_named():
    with pytest.raises(ValueError, match="unknown parameter.*alfa"):
        params.parse(num_classes=10, alfa=1)
    with pytest.raises(ValueError, match="num_classes is required"):
        params.parse(alpha=1)
    with pytest.raises(ValueError, match=r"place must be in \[0, num_places=2\), got 2"):
        params.parse(num_classes=10, place=2, num_places=2)


def test_the_documentation_names_every_parameter_with_its_default():
    for f in dataclasses.fields(params.MixUpParams):
        line = next(line for line in params.ARGS_DOC.splitlines()
                    if line.strip().startswith(f.name + " ("))
        assert f.name in line
        if f.name not in ("num_classes", "batch_size"):
            assert ("Default %r" % (f.default,)) in " ".join(params.ARGS_DOC.split())
    for documented in (params.parse, mixup.symbol, mixup.gluon.MixUp):
        assert " ".join(params.ARGS_DOC.split()) in " ".join(documented.__doc__.split())


def test_the_trainer_has_an_option_per_mixing_parameter_with_its_declared_default():
    defaults = vars(build_parser().parse_args([]))
    for name in params.MIXING_FIELDS:
        assert defaults[name] == params.mixing_defaults("train")[name]
    # the one deliberate difference, declared on the field
    assert params.mixing_defaults("train")["mix_rate"] == 0.7
    assert params.mixing_defaults("op")["mix_rate"] == params.Mixing().mix_rate == 1.0
    differing = {n for n in params.MIXING_FIELDS
                 if params.mixing_defaults("train")[n] != params.mixing_defaults("op")[n]}
    assert differing == {"mix_rate"}
    assert RunConfig().mixing == params.Mixing(**params.mixing_defaults("train"))


def test_the_trainers_choices_are_the_declared_ones():
    parser = build_parser()
    for option, choices in (("--mode", params.MODES), ("--lam-mode", params.DRAWN_LAM_MODES),
                            ("--pairing", params.PAIRINGS),
                            ("--label-mode", params.LABEL_MODES)):
        action = next(a for a in parser._actions if option in a.option_strings)
        assert tuple(action.choices) == choices


def test_a_bad_trainer_value_is_refused_with_the_option_name():
    with pytest.raises(Exception) as error:
        RunConfig.from_options(alpha=-2.0)
    assert "--alpha" in str(error.value) and "-2" in str(error.value)


def test_mixing_from_lays_keywords_over_a_mixing_and_returns_the_rest():
    base = params.Mixing(alpha=1.0, mode="cutmix")
    mixing, rest = params.mixing_from(base, alpha="0.4", num_layers=20)
    assert mixing == params.Mixing(alpha=0.4, mode="cutmix")
    assert rest == {"num_layers": 20}
    assert params.mixing_from(None)[0] == params.Mixing()


def test_node_parameters_keep_the_mixing_and_add_the_wiring():
    rng = random.Random(3)
    for _ in range(20):
        values = {"alpha": rng.uniform(0.05, 4), "mix_rate": rng.random(),
                  "mode": rng.choice(params.MODES), "pairing": rng.choice(params.PAIRINGS)}
        mixing = params.parse_mixing(**values)
        node = mixing.node(num_classes=5)
        assert node.mixing == mixing and node.num_classes == 5


@pytest.mark.parametrize("rate,batch,expected", [(0.7, 128, 90), (0.5, 3, 2), (0.25, 2, 1),
                                                 (1.0, 1, 0), (0.0, 64, 0), (1.0, 64, 64)])
def test_mixed_count_rounds_halves_up(rate, batch, expected):
    # round(rate * batch), halves up; a batch of one has no partner
    assert params.mixed_count(rate, batch) == expected
