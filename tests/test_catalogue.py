"""A catalogue of bad and unusual inputs to the training and scoring command lines, the report
tool, the operator and the Gluon block (the data tool's own are in test_data_catalogue.py;
files made to run code or exhaust memory, for every command, in test_hostile.py).

Every case runs as a user would run it, in its own process, and must be refused cleanly: exit
code 2, a message that names the option (or file, or parameter) and the bad value, and no
traceback anywhere in the output.
"""
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
    return ["-m", "mixup.train"] + list(args)


def _test(*args):
    return ["-m", "mixup.evaluate"] + list(args)


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
        "train_image_shape_too_large": (_train(*base, "--image-shape", "3,64,64"),
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
        "report_no_run_there": (["-m", "mixup.report", os.path.join(tmp, "no")],
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
    made = subprocess.run([sys.executable, "-m", "mixup.train"] + TINY + [
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
