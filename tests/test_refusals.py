"""A catalogue of bad and unusual inputs to the training and scoring command lines, the report
tool, the operator and the Gluon block (the data tool's own are in test_data_refusals.py;
files made to run code or exhaust memory, for every command, in test_hostile_files.py).

Every case runs as a user would run it, in its own process, and must be refused cleanly: exit
code 2, a message that names the option (or file, or parameter) and the bad value, and no
traceback anywhere in the output.
"""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ROOT, TINY

# Operator and Gluon cases run in a snippet that does what a user script would do and turns
# the refusal into an exit code; MXNet itself must print no traceback on the way.
OP_HARNESS = """
import sys, numpy as np, mxnet as mx, mixup, mixup.gluon
def nd(data=np.zeros((4, 3)), label=np.arange(4) %% 2, **kw):
    kw.setdefault("num_classes", 2)
    with mx.autograd.train_mode():
        out = mx.nd.Custom(mx.nd.array(data), mx.nd.array(label), op_type="MixUp", **kw)
    out[0].asnumpy(); out[1].asnumpy()
def bound(data=(4, 3), **kw):
    kw.setdefault("num_classes", 2)
    s = mx.sym.Custom(mx.sym.var("data"), mx.sym.var("label"), op_type="MixUp", **kw)
    s.simple_bind(mx.cpu(), data=data, label=(data[0],))
try:
    %s
except Exception as error:
    lines = [l for l in str(error).splitlines() if "MixUp" in l] or str(error).splitlines()
    print("error: " + lines[-1], file=sys.stderr)
    sys.exit(2)
print("accepted")
"""


def _train(*args):
    return ["-m", "mixup_app.train"] + list(args)


def _test(*args):
    return ["-m", "mixup_app.score"] + list(args)


def _op(code):
    return ["-c", OP_HARNESS % code]


def cases(data_dir, run, tmp):
    """id -> (interpreter arguments, words the refusal must contain)."""
    base = TINY + ["--data-dir", data_dir, "--num-epochs", "1"]
    a_file = os.path.join(tmp, "a-file")
    damaged = os.path.join(tmp, "damaged")
    return {
        "train_alpha_zero": (_train(*base, "--alpha", "0"), ["--alpha", "0"]),
        "train_mix_rate_above_one": (_train(*base, "--mix-rate", "1.5"), ["--mix-rate", "1.5"]),
        "train_batch_size_zero": (_train(*base, "--batch-size", "0"), ["--batch-size", "0"]),
        "train_lr_negative": (_train(*base, "--lr", "-1"), ["--lr", "-1"]),
        "train_lr_nan": (_train(*base, "--lr", "nan"), ["--lr", "nan"]),
        "train_seed_negative": (_train(*base, "--seed", "-3"), ["--seed", "-3"]),
        "train_seed_too_large": (_train(*base, "--seed", "99999999999"),
                                 ["--seed", "99999999999"]),
        "train_label_noise_one": (_train(*base, "--label-noise", "1.5"),
                                  ["--label-noise", "1.5"]),
        "train_subset_negative": (_train(*base, "--train-subset", "-1"),
                                  ["--train-subset", "-1"]),
        "train_subset_too_large": (_train(*base, "--train-subset", "100000"),
                                   ["--train-subset", "100000"]),
        "train_subset_draw_unknown": (_train(*base, "--subset-draw", "even"),
                                      ["--subset-draw", "even"]),
        "train_val_last_zero": (_train(*base, "--val-last", "0"), ["--val-last", "0"]),
        "train_image_shape_short": (_train(*base, "--image-shape", "3,28"),
                                    ["--image-shape", "3,28"]),
        # a depth that has a ResNet at 64 pixels, so that the network is not refused first
        "train_image_shape_too_large": (_train(*base, "--image-shape", "3,64,64",
                                               "--num-layers", "18"),
                                        ["--image-shape", "3,64,64"]),
        "train_depth_without_resnet": (_train(*base, "--num-layers", "9"),
                                       ["num_layers=9"]),
        "train_unknown_network": (_train(*base, "--network", "vgg"), ["network", "vgg"]),
        "train_gpus_not_numbers": (_train(*base, "--gpus", "a,b"), ["--gpus", "a,b"]),
        "train_gpus_on_cpu_build": (_train(*base, "--gpus", "0"), ["--gpus 0", "CPU build"]),
        "train_float16_on_cpu": (_train(*base, "--dtype", "float16"),
                                 ["--dtype float16", "--gpus"]),
        "train_dist_without_cluster": (_train(*base, "--kv-store", "dist_sync"),
                                       ["--kv-store dist_sync", "--num-workers"]),
        "train_too_many_slices": (_train(*base, "--cpu-devices", "4", "--batch-size", "2"),
                                  ["--batch-size 2", "--cpu-devices 4"]),
        "train_batch_larger_than_data": (_train(*base, "--batch-size", "500"),
                                         ["--batch-size 500"]),
        "train_out_dir_is_a_file": (_train(*base, "--out-dir", a_file), ["--out-dir", a_file]),
        "train_data_dir_is_a_file": (_train(*TINY, "--data-dir", a_file),
                                     ["--data-dir", a_file]),
        "train_resume_without_out_dir": (_train("--resume"), ["--resume", "--out-dir"]),
        "train_resume_nothing_there": (_train("--resume", "--out-dir", os.path.join(tmp, "no")),
                                       ["config.json", os.path.join(tmp, "no")]),
        "train_resume_changes_lr": (_train("--resume", "--out-dir", run, "--lr", "0.3"),
                                    ["--lr", "0.3"]),
        "train_resume_changes_subset_draw": (_train("--resume", "--out-dir", run,
                                                     "--subset-draw", "uniform"),
                                              ["--subset-draw", "uniform", "balanced"]),
        "train_unknown_dataset": (_train("--dataset", "nope", "--data-dir", data_dir),
                                  ["nope"]),
        "train_rec_without_files": (_train("--dataset", "rec", "--data-dir", data_dir),
                                    ["--dataset rec", "--train-rec"]),
        "train_threads_zero": (_train(*base, "--threads", "0"), ["--threads", "0"]),
        "train_unknown_kv_store": (_train(*base, "--kv-store", "nccl"),
                                   ["--kv-store", "nccl"]),
        "train_momentum_one": (_train(*base, "--mom", "1"), ["--mom", "1"]),
        "train_synthetic_too_small": (_train(*base, "--synthetic-size", "5,1"),
                                      ["--synthetic-size", "5,1"]),
        "train_off_epochs_exceed": (_train(*base, "--mixup-off-epochs", "3"),
                                    ["--mixup-off-epochs", "3"]),
        "test_missing_epoch": (_test("--out-dir", run, "--epoch", "7"),
                               ["model-0007.params"]),
        "test_epoch_not_a_number": (_test("--out-dir", run, "--epoch", "x"), ["--epoch", "x"]),
        "test_fgsm_not_numbers": (_test("--out-dir", run, "--fgsm", "abc"), ["--fgsm", "abc"]),
        "test_fgsm_out_of_range": (_test("--out-dir", run, "--fgsm", "300"), ["--fgsm", "300"]),
        "test_ifgsm_steps_zero": (_test("--out-dir", run, "--fgsm", "2", "--ifgsm-steps", "0"),
                                  ["--ifgsm-steps", "0"]),
        "test_ifgsm_steps_without_fgsm": (_test("--out-dir", run, "--ifgsm-steps", "3"),
                                          ["--ifgsm-steps", "3", "--fgsm"]),
        "test_fgsm_on_the_training_split": (_test("--out-dir", run, "--fgsm", "2", "--split",
                                                  "train"), ["--fgsm", "2", "--split train"]),
        "test_batch_size_zero": (_test("--out-dir", run, "--batch-size", "0"),
                                 ["--batch-size", "0"]),
        "test_gpus_not_numbers": (_test("--out-dir", run, "--gpus", "x"), ["--gpus", "x"]),
        "test_no_run_there": (_test("--out-dir", os.path.join(tmp, "no")),
                              ["config.json", os.path.join(tmp, "no")]),
        "test_damaged_checkpoint": (_test("--out-dir", damaged),
                                    [os.path.join(damaged, "model-0001.params"), "corrupt"]),
        "report_no_run_there": (["-m", "mixup_app.report", os.path.join(tmp, "no")],
                                ["config.json"]),
        "op_alpha_negative_bound": (_op("bound(alpha=-1)"), ["alpha", "-1"]),
        "op_num_classes_missing": (_op("nd(num_classes=None)"), ["num_classes", "required"]),
        "op_class_index_out_of_range": (_op("nd(label=[0, 1, 2, 0])"), ["label[2]", "2.0"]),
        "op_cutmix_on_2d_data": (_op("bound(mode='cutmix')"), ["cutmix", "(4, 3)"]),
        "op_unknown_mode": (_op("nd(mode='mixcut')"), ["mode", "mixcut"]),
        "op_label_smoothing_one": (_op("bound(label_smoothing=1)"), ["label_smoothing", "1"]),
        "op_cutmix_alpha_zero": (_op("nd(mode='cutmix', cutmix_alpha=0, "
                                     "data=np.zeros((4, 1, 3, 3)))"), ["cutmix_alpha", "0"]),
        "gluon_mix_rate_two": (_op("mixup.gluon.MixUp(num_classes=10, mix_rate=2)"),
                               ["mix_rate", "2"]),
        "gluon_switch_prob_negative": (_op("mixup.gluon.MixUp(num_classes=10, mode='switch', "
                                           "switch_prob=-0.5)"), ["switch_prob", "-0.5"]),
        "symbol_alpha_negative": (_op("mixup.symbol(mx.sym.var('d'), mx.sym.var('l'), "
                                      "num_classes=10, alpha=-2)"), ["alpha", "-2"]),
    }


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, data_dir):
    tmp = str(tmp_path_factory.mktemp("catalogue"))
    run = os.path.join(tmp, "run")
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", MIXUP_HOME=tmp)
    made = subprocess.run([sys.executable, "-m", "mixup_app.train"] + TINY + [
        "--data-dir", data_dir, "--num-epochs", "1", "--out-dir", run], env=env,
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert made.returncode == 0, made.stderr[-2000:]
    damaged = os.path.join(tmp, "damaged")
    subprocess.run(["cp", "-r", run, damaged], check=True)
    params = os.path.join(damaged, "model-0001.params")
    with open(params, "r+b") as f:
        f.truncate(100)
    with open(os.path.join(tmp, "a-file"), "w") as f:
        f.write("not a directory")
    table = cases(data_dir, run, tmp)

    def attempt(item):
        name, (arguments, _) = item
        return name, subprocess.run([sys.executable] + arguments, env=env, cwd=tmp,
                                    capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(pool.map(attempt, table.items()))
    return table, done


def test_the_catalogue_is_large_enough(data_dir, tmp_path):
    assert len(cases(data_dir, "run", str(tmp_path))) >= 40


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(cases("D", "R", "T")))
def test_refused_cleanly(outcomes, name):
    table, done = outcomes
    proc = done[name]
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, "%s: exit %d\n%s" % (name, proc.returncode, output[-3000:])
    # the commands say it on stderr; inside a user's script MXNet prints the op's refusal on
    # stdout (and raises its MXNetError, which the script reports)
    said = proc.stdout + proc.stderr if name.startswith(("op_", "gluon_", "symbol_")) \
        else proc.stderr
    for word in table[name][1]:
        assert word in said, "%s: %r not in\n%s" % (name, word, said[-3000:])
    assert "Traceback" not in output, output[-3000:]


# ------------------------------------------------------------------ the run's own files
# A run directory's files read back by the commands (mixup_app.readers, RunConfig.load): each
# case is a run directory made here by hand from small JSON files (no training), damaged in
# one file, handed to the real command in its own process. A refusal is exit code 2, one line
# on stderr naming the file (and the key or line), no traceback, and every file of the run
# directory as it was; a file the commands can still read (a last line cut by a kill, a
# test.json of an earlier layout) is read, and said where something was left out.

ROW = {"epoch": 1, "train_accuracy": 0.5, "train_loss": 1.0, "lr": 0.1, "seconds": 1.0,
       "images_per_sec": 10.0, "num_workers": 1, "rank": 0, "mixup": False,
       "val_accuracy": 0.6, "val_loss": 1.2, "val_count": 45}
SCORES = {"accuracy": 0.7, "cross_entropy": 0.8, "ece": 0.05, "count": 45, "correct": 31,
          "reliability": [{"count": 45, "confidence": 0.75, "accuracy": 0.7}],
          "split": "val", "format": 3, "attacks": {}}


def _rows(count, **change):
    return "".join(json.dumps(dict(ROW, epoch=e, val_accuracy=0.5 + e / 100, **change))
                   + "\n" for e in range(1, count + 1))


def _hand_made_run(path, data_dir, metrics=None, test=None, best=None, config=None,
                   others=None):
    """A run directory of 3 finished epochs (config.json, metrics.jsonl, test.json,
    best.json, an empty model-0003.params): each argument given replaces that file's text."""
    from mixup_app.config import RunConfig
    os.makedirs(path)
    options = RunConfig.from_options(
        dataset="synthetic", data_dir=data_dir, num_layers=8, image_shape=(3, 28, 28),
        synthetic_size=(120, 45), batch_size=20, num_epochs=3, mix_rate=0).flat()
    texts = {"config.json": json.dumps(options),
             "metrics.jsonl": _rows(3),
             "test.json": json.dumps(SCORES),
             "best.json": json.dumps({"epoch": 3, "val_accuracy": 0.53}),
             "model-0003.params": ""}
    for name, text in (("metrics.jsonl", metrics), ("test.json", test), ("best.json", best),
                       ("config.json", config)):
        if text is not None:
            texts[name] = text(options) if callable(text) else text
    texts.update(others or {})
    for name, text in texts.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
    return path


def _with(options, **change):
    return json.dumps(dict(options, **change))


def _report(run):
    return ["-m", "mixup_app.report", run]


def run_file_cases(tmp, data_dir):
    """id -> (interpreter arguments, run directory, exit code, words on stderr, stdout
    words). Exit code 2: the one stderr line must name the file; 0: the command reads it."""
    cases = {}

    def case(name, args_of, code, words, stdout_words=(), **files):
        # (real: ./test.sh names the run by its real path)
        run = os.path.realpath(_hand_made_run(os.path.join(tmp, name), data_dir, **files))
        cases[name] = (args_of(run), run, code, [w.replace("RUN", run) for w in words],
                       list(stdout_words))

    case("report_metrics_bad_middle_line", _report, 2,
         ["RUN/metrics.jsonl line 2", "not JSON"],
         metrics=_rows(1) + '{"epoch": 2, "train_acc\n' + _rows(3).splitlines()[2] + "\n")
    case("report_metrics_accuracy_as_text", _report, 2,
         ["RUN/metrics.jsonl line 1", "'val_accuracy'", "'high'"],
         metrics=_rows(1).replace('"val_accuracy": 0.51', '"val_accuracy": "high"'))
    case("report_metrics_nan", _report, 2, ["RUN/metrics.jsonl line 1", "'val_loss'", "nan"],
         metrics=_rows(1).replace('"val_loss": 1.2', '"val_loss": NaN'))
    case("report_metrics_list_for_a_number", _report, 2,
         ["RUN/metrics.jsonl line 1", "'train_accuracy'", "[0.5]"],
         metrics=_rows(1).replace('"train_accuracy": 0.5', '"train_accuracy": [0.5]'))
    case("report_metrics_epochs_out_of_order", _report, 2,
         ["RUN/metrics.jsonl line 2", "epoch 1 follows epoch 1"],
         metrics=_rows(1) + _rows(1))
    case("report_test_accuracy_as_text", _report, 2, ["RUN/test.json", "'accuracy'", "'high'"],
         test=json.dumps(dict(SCORES, accuracy="high")))
    case("report_test_ece_nan", _report, 2, ["RUN/test.json", "'ece'", "nan"],
         test=json.dumps(dict(SCORES, ece=float("nan"))))
    case("report_test_without_accuracy", _report, 2, ["RUN/test.json", "no 'accuracy'"],
         test=json.dumps({k: v for k, v in SCORES.items() if k != "accuracy"}))
    case("report_test_from_a_newer_version", _report, 2, ["RUN/test.json", "format 7",
                                                           "newer version"],
         test=json.dumps(dict(SCORES, format=7)))
    case("report_test_not_json", _report, 2, ["RUN/test.json", "unreadable"],
         test='{"accuracy": 0.7,')
    case("report_test_attack_accuracy_as_text", _report, 2, ["RUN/test.json", "FGSM",
                                                              "'accuracy'"],
         test=json.dumps(dict(SCORES, attacks={"FGSM": {"steps": 1, "accuracy": {"2": "x"}}})))
    case("report_test_train_list_for_a_number", _report, 2,
         ["RUN/test-train.json", "'accuracy'"],
         others={"test-train.json": json.dumps(dict(SCORES, accuracy=[0.9], split="train"))})
    case("report_config_alpha_as_text", _report, 2, ["RUN/config.json", "--alpha", "high"],
         config=lambda o: _with(o, alpha="high"))
    case("report_config_not_an_object", _report, 2, ["RUN/config.json", "not a JSON object"],
         config="[1, 2]")
    # read: the complete rows, the cut line said in one line
    case("report_metrics_last_line_cut", _report, 0,
         ["RUN/metrics.jsonl", "line 3", "incomplete", "epochs 1 to 2"],
         stdout_words=["| 52.00 |"], metrics=_rows(2) + _rows(3).splitlines()[-1][:50])
    case("report_test_of_the_first_layout", _report, 0, [], stdout_words=["| 70.00 |"],
         test=json.dumps({k: v for k, v in SCORES.items()
                          if k not in ("reliability", "split", "format", "attacks")}))
    case("report_test_of_the_second_layout", _report, 0, [],
         stdout_words=["FGSM ε=2", "| 30.00 |"],
         test=json.dumps(dict({k: v for k, v in SCORES.items() if k not in ("format",
                                                                            "attacks")},
                              attack={"method": "FGSM", "steps": 1, "accuracy": {"2": 0.3},
                                      "correct": {"2": 13}})))
    # ./test.sh --epoch best reads best.json before anything is loaded
    for name, best in (("nan", '{"epoch": 3, "val_accuracy": NaN}'),
                       ("epoch_as_text", '{"epoch": "3", "val_accuracy": 0.5}'),
                       ("a_list", "[3, 0.5]")):
        case("test_best_" + name, lambda run: _test("--out-dir", run, "--epoch", "best"), 2,
             ["RUN/best.json", "epoch"], best=best)
    # --resume reads metrics.jsonl to choose its checkpoint: refused before anything is loaded
    case("resume_metrics_bad_middle_line", lambda run: _train("--resume", "--out-dir", run),
         2, ["RUN/metrics.jsonl line 2", "'val_accuracy'"],
         metrics=_rows(1) + _rows(2).splitlines()[1].replace("0.52", "true") + "\n")
    return cases


def _snapshot(run):
    out = {}
    for name in sorted(os.listdir(run)):
        with open(os.path.join(run, name), "rb") as f:
            out[name] = f.read()
    return out


@pytest.fixture(scope="module")
def file_outcomes(tmp_path_factory, data_dir):
    tmp = str(tmp_path_factory.mktemp("run-files"))
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", MIXUP_HOME=tmp)
    table = run_file_cases(tmp, data_dir)
    before = {name: _snapshot(case[1]) for name, case in table.items()}

    def attempt(item):
        name, (arguments, run, _, _, _) = item
        proc = subprocess.run([sys.executable] + arguments, env=env, cwd=tmp,
                              capture_output=True, text=True, timeout=300)
        return name, (proc, _snapshot(run))

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(pool.map(attempt, table.items()))
    return table, before, done


def test_the_run_file_catalogue_covers_each_kind(data_dir, tmp_path):
    names = " ".join(run_file_cases(str(tmp_path), data_dir))
    for kind in ("metrics", "test", "best", "config"):
        assert names.count("_%s_" % kind) >= 2, kind


RUN_FILE_NAMES = [
    "report_metrics_bad_middle_line", "report_metrics_accuracy_as_text", "report_metrics_nan",
    "report_metrics_list_for_a_number", "report_metrics_epochs_out_of_order",
    "report_test_accuracy_as_text", "report_test_ece_nan", "report_test_without_accuracy",
    "report_test_from_a_newer_version", "report_test_not_json",
    "report_test_attack_accuracy_as_text", "report_test_train_list_for_a_number",
    "report_config_alpha_as_text", "report_config_not_an_object",
    "report_metrics_last_line_cut", "report_test_of_the_first_layout",
    "report_test_of_the_second_layout", "test_best_nan", "test_best_epoch_as_text",
    "test_best_a_list", "resume_metrics_bad_middle_line"]


def test_every_run_file_case_is_listed(data_dir, tmp_path):
    assert sorted(run_file_cases(str(tmp_path), data_dir)) == sorted(RUN_FILE_NAMES)


@pytest.mark.slow
@pytest.mark.parametrize("name", RUN_FILE_NAMES)
def test_a_run_file_is_read_or_refused_by_name(file_outcomes, name):
    table, before, done = file_outcomes
    _, run, code, words, stdout_words = table[name]
    proc, after = done[name]
    output = proc.stdout + proc.stderr
    assert proc.returncode == code, "%s: exit %d\n%s" % (name, proc.returncode, output[-3000:])
    assert "Traceback" not in output, output[-3000:]
    said = [line for line in proc.stderr.splitlines() if line.strip()]
    if code == 2:
        assert len(said) == 1 and "error: " in said[0], proc.stderr
    elif words:
        assert len(said) == 1 and said[0].startswith("warning: "), proc.stderr
    else:
        assert said == [], proc.stderr
    for word in words:
        assert word in proc.stderr, "%s: %r not in\n%s" % (name, word, proc.stderr)
    for word in stdout_words:
        assert word in proc.stdout, "%s: %r not in\n%s" % (name, word, proc.stdout)
    assert after == before[name], "%s: the run directory changed" % name
