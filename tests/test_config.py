"""mixup_app/config.py: every option parsed and checked once, the config.json round trip, and the
command line's refusals (one line, the option and the value, exit code 2)."""
import json

import pytest

from conftest import TINY
from mixup_app import fit, train
from mixup_app.config import ConfigError, RunConfig


@pytest.mark.parametrize("options, words", [
    (dict(alpha=0), ["--alpha", "alpha", "0"]),
    (dict(mix_rate=1.5), ["--mix-rate", "1.5"]),
    (dict(batch_size=0), ["--batch-size", "0"]),
    (dict(lr=-1), ["--lr", "-1"]),
    (dict(lr=float("nan")), ["--lr", "nan"]),
    (dict(num_epochs=2, mixup_off_epochs=3), ["--mixup-off-epochs", "3"]),
    (dict(lr_step_epochs="50,20"), ["--lr-step-epochs", "50,20"]),
    (dict(image_shape="3,28"), ["--image-shape", "3,28"]),
    (dict(gpus="a,b"), ["--gpus", "a,b"]),
    (dict(num_workers=2), ["--num-workers", "dist_sync"]),
    (dict(synthetic_size="5,1"), ["--synthetic-size", "5,1"]),
    (dict(kv_store="nccl"), ["--kv-store", "nccl"]),
    (dict(mom=1.0), ["--mom", "1.0"]),
    (dict(seed=-1), ["--seed", "-1"]),
    (dict(seed=2 ** 31), ["--seed", "2147483648"]),
    (dict(label_noise=1.0), ["--label-noise", "1.0"]),
    (dict(train_subset=-5), ["--train-subset", "-5"]),
    (dict(subset_draw="stratified"), ["--subset-draw", "stratified",
                                        "('balanced', 'uniform')"]),
    (dict(subset_draw=None), ["--subset-draw", "None"]),
    (dict(val_last=0), ["--val-last", "0"]),
    (dict(val_last="x"), ["--val-last", "'x'"]),
    (dict(dtype="float16"), ["--dtype float16", "--gpus"]),
    (dict(cpu_devices=4, batch_size=2), ["--batch-size 2", "--cpu-devices 4"]),
    (dict(save_period=0), ["--save-period", "0"]),
    (dict(keep_last=-1), ["--keep-last", "-1"]),
    (dict(mixup_at="input,nowhere"), ["--mixup-at", "input,nowhere"]),
    (dict(mode="mixcut"), ["--mode", "mixcut"]),
    (dict(cutmix_alpha=0), ["--cutmix-alpha", "0"]),
    (dict(switch_prob=1.5), ["--switch-prob", "1.5"]),
    (dict(label_smoothing=1), ["--label-smoothing", "1"]),
    (dict(dataset="rec"), ["--dataset rec", "--train-rec", "--val-rec", "--num-classes"]),
])
def test_bad_options_are_refused_naming_them(options, words):
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_options(**options)
    for word in words:
        assert word in str(caught.value)


HOSTILE_VALUES = [None, True, "x", "", [], [1], {"a": 1}, -1, 1e300, float("inf"),
                  float("nan"), 10 ** 30, "1e9"]


@pytest.mark.parametrize("name", RunConfig.option_names())
def test_any_value_in_config_json_is_taken_or_refused_naming_it(name):
    # config.json may come from elsewhere (./test.sh scores foreign runs)
    for value in HOSTILE_VALUES:
        try:
            config = RunConfig.from_options(**{name: value})
        except ConfigError as error:
            assert "--" + name.replace("_", "-") in str(error) or name in str(error), (
                name, value, str(error))
            continue
        assert RunConfig.from_options(**config.flat()).flat() == config.flat(), (name, value)


@pytest.mark.parametrize("options, words", [
    (dict(num_layers=999999998), ["--num-layers", "<= 1202", "999999998"]),
    (dict(image_shape=[3, 10 ** 9, 10 ** 9]), ["--image-shape", "89478485 pixels"]),
    (dict(image_shape="2,28,28"), ["--image-shape", "C 1 or 3"]),
    (dict(num_classes=10 ** 9), ["--num-classes", "<= 100000"]),
    (dict(num_layers=True), ["--num-layers", "True"]),
    (dict(lr="0.1", wd=False), ["--wd", "False"]),
    (dict(train_count=None), ["train_count", "None"]),
    (dict(dataset="../../etc/passwd"), ["--dataset", "'../../etc/passwd'"]),
    (dict(dataset=["cifar10"]), ["--dataset", "['cifar10']"]),
    (dict(data_dir={"a": 1}), ["--data-dir", "{'a': 1}"]),
])
def test_absurd_sizes_and_wrong_types_are_refused(options, words):
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_options(**options)
    for word in words:
        assert word in str(caught.value)


def test_the_command_line_refuses_in_one_line_with_a_hint(capsys):
    assert train.main(["--lr", "-1", "--dataset", "synthetic"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--lr" in err and "-1" in err and "--help" in err
    with pytest.raises(SystemExit) as caught:  # argparse's own refusals get the same manners
        train.main(["--kv-store", "nccl"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nccl" in err and "usage" not in err


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    text = capsys.readouterr().out
    for action in train.build_parser()._actions:
        if action.dest not in ("help", "resume"):
            assert "(default: " in (action.help or ""), action.dest
    assert "(default: 0.2)" in text and "(default: 200)" in text


def test_config_json_round_trip(tmp_path):
    config = RunConfig.from_options(image_shape="1,28,28", gpus="", lr_step_epochs="3,7",
                                    seed=31337, label_noise=0.4)
    assert config.image_shape == (1, 28, 28) and config.lr_step_epochs == (3, 7)
    config.save(str(tmp_path))
    again = RunConfig.load(str(tmp_path))
    assert again == config and isinstance(again.image_shape, tuple)


def test_a_config_json_from_before_subset_draw_was_a_uniform_draw(tmp_path):
    config = RunConfig.from_options(train_subset=2000, seed=3)
    assert config.subset_draw == "balanced" and config.val_last == 1   # the defaults
    config.save(str(tmp_path))
    assert RunConfig.load(str(tmp_path)) == config          # recorded: kept as it is
    path = tmp_path / "config.json"
    raw = json.loads(path.read_text())
    del raw["subset_draw"], raw["val_last"], raw["train_class_counts"]
    path.write_text(json.dumps(raw))
    old = RunConfig.load(str(tmp_path))
    assert old.subset_draw == "uniform" and old.val_last == 1 and old.train_class_counts == ()


@pytest.mark.parametrize("options, validated", [
    (dict(num_epochs=100, val_every=10), list(range(10, 101, 10))),
    (dict(num_epochs=100, val_every=10, val_last=5), list(range(10, 91, 10)) + [96, 97, 98, 99,
                                                                                 100]),
    (dict(num_epochs=7, val_every=100, val_last=3), [5, 6, 7]),
    (dict(num_epochs=3, val_every=100, val_last=10), [1, 2, 3]),
    (dict(num_epochs=5, val_every=2), [2, 4, 5]),
])
def test_validated_epochs(options, validated):
    config = RunConfig.from_options(**options)
    assert [e for e in range(1, config.num_epochs + 1)
            if fit.should_validate(config, e, stopping=False)] == validated
    assert fit.should_validate(config, 1, stopping=True)


def test_learning_rate_schedules():
    def lr_at(update, **options):
        config = RunConfig.from_options(lr=0.4, num_epochs=10, **options)
        return fit.lr_scheduler(config, batches_per_epoch=10)(update)

    assert lr_at(1, lr_step_epochs="4,8") == pytest.approx(0.4)
    assert lr_at(45, lr_step_epochs="4,8") == pytest.approx(0.04)
    assert lr_at(95, lr_step_epochs="4,8") == pytest.approx(0.004)
    assert lr_at(10, warmup_epochs=2) == pytest.approx(0.2)  # half-way up
    assert lr_at(50, lr_schedule="cosine") == pytest.approx(0.2)
    assert lr_at(100, lr_schedule="cosine") == pytest.approx(0.0, abs=1e-9)


def test_derived_seeds_fit_a_c_int_for_every_accepted_seed():
    seeds = {fit.derived_seed(s, e, r) for s in (0, 1, 31337, 2 ** 31 - 1)
             for e in range(3) for r in range(2)}
    assert len(seeds) == 24 and all(0 <= s < 2 ** 31 for s in seeds)


def test_a_large_seed_trains(tmp_path, data_dir):
    assert train.main(TINY + ["--data-dir", data_dir, "--num-epochs", "1", "--seed",
                              "2147483647", "--out-dir", str(tmp_path / "r")]) == 0


def test_mix_rate_zero_trains_a_graph_without_mixup():
    config = RunConfig.from_options(network="resnet", num_layers=8, mix_rate=0.0,
                                    image_shape="3,28,28")
    symbol, has_mixup = fit.training_graph(config, 10)
    assert not has_mixup and "mixup" not in " ".join(symbol.get_internals().list_outputs())
    half = RunConfig.from_options(**dict(config.flat(), mix_rate=0.5))
    symbol, has_mixup = fit.training_graph(half, 10)
    assert has_mixup and len(symbol.list_outputs()) == 2  # probabilities and the soft label
    _, outs, _ = symbol.infer_shape(data=(4, 3, 28, 28), softmax_label=(4,))
    assert outs == [(4, 10), (4, 10)]
