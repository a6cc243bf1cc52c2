"""Parameters are validated in Python, at the call, by mixup.parse, mixup.symbol and
mixup.gluon.MixUp alike: a ValueError whose message names the parameter and the value.
(The mx.sym.Custom / mx.nd.Custom paths are in test_op_errors.py, in subprocesses.)"""
import mxnet as mx
import pytest

import mixup
from mixup.gluon import MixUp

# keyword arguments (num_classes=3 unless given) -> pattern the message must match
BAD = [
    (dict(num_classes=None), r"num_classes is required"),
    (dict(num_classes=1), r"num_classes must be >= 2, got 1"),
    (dict(num_classes=2.5), r"num_classes must be a whole number, got 2.5"),
    (dict(alpha=0), r"alpha must be > 0 .*got 0"),
    (dict(alpha=-1), r"alpha must be > 0 .*got -1"),
    (dict(alpha="abc"), r"alpha must be a number, got 'abc'"),
    (dict(alpha=float("nan")), r"alpha must be a finite number, got nan"),
    (dict(mix_rate=1.5), r"mix_rate must be in \[0, 1\].*got 1.5"),
    (dict(mix_rate=-0.1), r"mix_rate must be in \[0, 1\].*got -0.1"),
    (dict(lam_mode="pixel"),
     r"lam_mode must be one of \('batch', 'sample', 'input'\), got 'pixel'"),
    (dict(lam_mode="input", mode="cutmix"),
     r"lam_mode='input' .*mode='mixup' only, got mode='cutmix'"),
    (dict(lam_mode="input", mode="switch"),
     r"lam_mode='input' .*mode='mixup' only, got mode='switch'"),
    (dict(mode="mixcut"), r"mode must be one of \('mixup', 'cutmix', 'switch'\), got 'mixcut'"),
    (dict(cutmix_alpha=0), r"cutmix_alpha must be > 0 .*got 0"),
    (dict(cutmix_alpha=float("inf")), r"cutmix_alpha must be a finite number, got inf"),
    (dict(switch_prob=1.2), r"switch_prob must be in \[0, 1\].*got 1.2"),
    (dict(label_smoothing=1.0), r"label_smoothing must be in \[0, 1\), got 1.0"),
    (dict(label_smoothing=-0.1), r"label_smoothing must be in \[0, 1\), got -0.1"),
    (dict(check_labels="maybe"), r"check_labels must be true or false, got 'maybe'"),
    (dict(num_places=0), r"num_places must be >= 1, got 0"),
    (dict(place=3, num_places=3), r"place must be in \[0, num_places=3\), got 3"),
    (dict(place=-1), r"place must be in \[0, num_places=1\), got -1"),
]


def _kwargs(bad):
    return {"num_classes": 3, **bad}


@pytest.mark.parametrize("bad, message", BAD)
def test_parse_refuses_with_a_message_naming_the_parameter(bad, message):
    with pytest.raises(ValueError, match=message):
        mixup.parse(**_kwargs(bad))


@pytest.mark.parametrize("bad, message", BAD)
def test_symbol_and_gluon_block_refuse_at_the_call(bad, message):
    with pytest.raises(ValueError, match=message):
        mixup.symbol(mx.sym.var("d"), mx.sym.var("l"), **_kwargs(bad))
    with pytest.raises(ValueError, match=message):
        MixUp(**_kwargs(bad))


def test_unknown_and_positional_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown parameter.*alhpa"):
        mixup.parse(num_classes=3, alhpa=0.3)
    with pytest.raises(TypeError):
        mixup.symbol(mx.sym.var("d"), mx.sym.var("l"), 3)  # num_classes is keyword-only
    with pytest.raises(TypeError):
        MixUp(3)
    with pytest.raises(ValueError, match="batch_size must be >= 1 if given, got 0"):
        mixup.parse(num_classes=3, batch_size=0)


def test_strings_as_mxnet_passes_them_parse_to_the_same_values():
    given = dict(num_classes=10, alpha=0.3, mix_rate=0.5, lam_mode="sample", mode="switch",
                 cutmix_alpha=2.0, switch_prob=0.25, label_smoothing=0.1, check_labels=False,
                 place=1, num_places=3)
    params = mixup.parse(**given)
    assert mixup.parse(**{k: str(v) for k, v in given.items()}) == params
    kwargs = params.op_kwargs()
    assert kwargs.pop("op_type") == "MixUp"  # the public contract's name
    assert mixup.parse(**{k: str(v) for k, v in kwargs.items()}) == params
