"""Training and scoring through the real command lines, on a tiny synthetic set."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, TINY, cli
from mixup_app import runs, train
from mixup_app.data import sources


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_dir):
    out = str(tmp_path_factory.mktemp("run") / "r")
    proc = cli("mixup_app.train", *TINY, "--data-dir", data_dir, "--num-epochs", "2",
               "--out-dir", out, "--cpu-devices", "2", "--mixup-off-epochs", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return out, proc


@pytest.mark.slow
def test_training_writes_a_complete_run_directory(finished_run):
    out, proc = finished_run
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["dataset"] == "synthetic" and config["mix_rate"] == 0.7
    assert config["alpha"] == 0.2 and config["cpu_devices"] == 2
    assert config["num_classes"] == 10  # the dataset's, resolved (not the option's 0)
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    for row in rows:
        for key in ("train_accuracy", "train_loss", "val_accuracy", "val_loss", "lr", "seconds",
                    "images_per_sec", "num_workers"):
            assert key in row and np.isfinite(row[key])
        assert row["val_count"] == 45 and 0 <= row["val_accuracy"] <= 1
    assert [r["mixup"] for r in rows] == [True, False]  # --mixup-off-epochs 1
    for name in ("model-symbol.json", "model-0001.params", "model-0002.params",
                 "model-0002.states", "curves.png", "train.log", "best.json"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert open(os.path.join(out, "curves.png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert not [f for f in os.listdir(out) if f.endswith(".part")]
    assert re.search(r"epoch 2/2 .*\(MixUp off\)", proc.stdout)


@pytest.mark.slow
def test_scoring_counts_every_validation_image_once(finished_run, data_dir):
    out, _ = finished_run
    # 45 images in batches of 20: the last batch wraps 15 samples around; none may count.
    proc = cli("mixup_app.score", "--out-dir", out, "--batch-size", "20")
    assert proc.returncode == 0, proc.stderr[-3000:]
    match = re.search(r"^accuracy: ([0-9.]+) \((\d+)/(\d+)\)$", proc.stdout, re.M)
    assert match and int(match.group(3)) == 45
    result = json.load(open(os.path.join(out, "test.json")))
    assert result["count"] == 45 and result["correct"] == int(match.group(2))
    assert np.array(result["confusion"]).sum() == 45
    _, labels = sources.make_synthetic(120, 45)["val"]
    assert np.array(result["confusion"]).sum(axis=1).tolist() == np.bincount(
        labels, minlength=10).tolist()
    assert 0 <= result["ece"] <= 1
    # the scorer's line writes ECE as both pictures' titles do
    assert "ECE %.4f" % result["ece"] in proc.stderr
    # the same checkpoint scored during training and by the scorer: the same accuracy
    assert runs.read_metrics(out)[-1]["val_accuracy"] == pytest.approx(result["accuracy"])
    assert open(os.path.join(out, "confusion.png"), "rb").read(4) == b"\x89PNG"


def test_bad_run_inputs_give_clear_errors(tmp_path, data_dir, capsys):
    assert train.main(["--resume", "--out-dir", str(tmp_path / "nothing")]) == 2
    assert "config.json" in capsys.readouterr().err
    code = train.main(TINY + ["--data-dir", data_dir, "--num-layers", "9", "--num-epochs", "1",
                              "--out-dir", str(tmp_path / "x")])
    assert code == 2 and "num_layers=9" in capsys.readouterr().err
    code = train.main(TINY + ["--data-dir", data_dir, "--batch-size", "500", "--num-epochs",
                              "1", "--out-dir", str(tmp_path / "y")])
    assert code == 2 and "--batch-size 500 is larger than the 120" in capsys.readouterr().err
    # every check runs before anything is written: no run directory is left behind
    assert not os.path.exists(tmp_path / "x") and not os.path.exists(tmp_path / "y")
    from mixup_app import score
    assert score.main(["--out-dir", str(tmp_path / "nothing")]) == 2
    assert "config.json" in capsys.readouterr().err
    run = str(tmp_path / "scored")
    assert train.main(TINY + ["--data-dir", data_dir, "--num-epochs", "1", "--out-dir",
                              run]) == 0
    capsys.readouterr()
    assert score.main(["--out-dir", run, "--gpus", "x"]) == 2
    assert "--gpus" in capsys.readouterr().err
    assert score.main(["--out-dir", run, "--epoch", "7"]) == 2
    assert "model-0007.params not found" in capsys.readouterr().err


@pytest.mark.slow
def test_a_gluoncv_network_trains_and_scores_through_the_same_scripts(tmp_path, data_dir):
    pytest.importorskip("gluoncv")
    out = str(tmp_path / "gcv")
    proc = cli("mixup_app.train", "--dataset", "synthetic", "--synthetic-size", "120,45",
               "--data-dir", data_dir, "--network", "gluoncv:cifar_resnet20_v1",
               "--image-shape", "3,32,32", "--batch-size", "20", "--num-epochs", "1",
               "--out-dir", out, "--progress", "off")
    assert proc.returncode == 0, proc.stderr[-3000:]
    scored = cli("mixup_app.score", "--out-dir", out)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert re.search(r"^accuracy: [0-9.]+ \(\d+/45\)$", scored.stdout, re.M)
    assert scored.stdout.count("\n") == 1, "stdout is the one accuracy line"


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, data_dir):
    out = str(tmp_path / "r")
    env = dict(os.environ, PYTHONPATH=ROOT)
    # many epochs, so that the interrupt lands mid-run (resuming is tested above); validation
    # is due only at the end, so the run validates its last checkpoint when it stops
    proc = subprocess.Popen([sys.executable, "-m", "mixup_app.train"] + TINY +
                            ["--data-dir", data_dir, "--num-epochs", "200", "--out-dir", out,
                             "--val-every", "1000"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True,
                            # as from a terminal: a background job (CI) inherits SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(out, "model-0001.params")):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "stopping after this step" in err and "Exception ignored" not in err
    assert "./train.sh --resume --out-dir %s" % out in err
    last = runs.checkpoint_epochs(out)[-1]
    assert 1 <= last < 200
    assert not [f for f in os.listdir(out) if f.endswith(".part")]
    rows = runs.read_metrics(out)
    assert rows[-1]["epoch"] == last and "val_accuracy" in rows[-1]
    assert all("val_accuracy" not in r for r in rows[:-1])
    assert runs.best_epoch(out) == (last, rows[-1]["val_accuracy"])


@pytest.mark.slow
def test_report_tabulates_runs_and_plots_them(finished_run, tmp_path, capsys):
    from mixup_app import report
    out, _ = finished_run
    cli("mixup_app.score", "--out-dir", out)  # adds test.json
    plot = str(tmp_path / "cmp.png")
    assert report.main([out, out, "--plot", plot, "--by-run"]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 4 and table[0].startswith("| training | setting")
    scored = json.load(open(os.path.join(out, "test.json")))
    assert "| %.2f |" % (100 * scored["accuracy"]) in table[2]
    assert "MixUp α=0.2, rate 0.7" in table[2]
    assert open(plot, "rb").read(4) == b"\x89PNG"
    # runs that differ only in their seed share a row: mean ± half the range, and the count
    assert report.main([out, out]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 3 and "| 2 |" in table[2] and "± 0.00" in table[2]
    assert report.main([str(tmp_path / "none")]) == 2




@pytest.mark.slow
def test_relative_paths_are_the_callers_and_defaults_the_repositorys(tmp_path, data_dir):
    import shutil
    caller = tmp_path / "elsewhere"
    caller.mkdir()
    shutil.copytree(data_dir, caller / "mydata")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([os.path.join(ROOT, "train.sh")] + TINY + [
        "--data-dir", "mydata", "--out-dir", "myrun", "--num-epochs", "1"],
        cwd=str(caller), capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (caller / "myrun" / "model-0001.params").exists()
    proc = subprocess.run([os.path.join(ROOT, "test.sh"), "--out-dir", "myrun"],
                          cwd=str(caller), capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("accuracy: "), proc.stderr[-2000:]
    assert (caller / "myrun" / "reliability.png").exists()


def test_out_dir_that_is_a_file_or_read_only_is_refused_before_anything_is_written(
        tmp_path, data_dir, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert train.main(TINY + ["--data-dir", data_dir, "--out-dir", str(a_file)]) == 2
    assert "--out-dir" in capsys.readouterr().err
    assert train.main(TINY + ["--data-dir", str(a_file), "--out-dir",
                              str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and str(a_file) in err and not (tmp_path / "r").exists()
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert train.main(TINY + ["--data-dir", data_dir, "--out-dir",
                                  str(locked / "r")]) == 2
        assert "not writable" in capsys.readouterr().err


@pytest.mark.slow
def test_the_mixing_family_trains_from_the_command_line(tmp_path, data_dir):
    out = str(tmp_path / "r")
    proc = cli("mixup_app.train", *TINY, "--data-dir", data_dir, "--num-epochs", "1",
               "--out-dir", out, "--mode", "switch", "--mixup-at", "stem,input",
               "--label-smoothing", "0.1", "--cutmix-alpha", "0.5")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["mixup_at"] == "input,stem" and config["mode"] == "switch"
    assert "at input or stem" in proc.stdout and "label smoothing 0.1" in proc.stdout
    symbol = open(os.path.join(out, "model-symbol.json")).read()
    assert symbol.count('"op_type": "MixUp"') == 2  # one node per place


@pytest.mark.slow
def test_scoring_under_attack_and_on_the_training_set(finished_run):
    out, _ = finished_run
    proc = cli("mixup_app.score", "--out-dir", out, "--fgsm", "0,4", "--ifgsm-steps", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("\n") == 1  # stdout keeps its one line
    result = json.load(open(os.path.join(out, "test.json")))
    fgsm, ifgsm = result["attacks"]["FGSM"], result["attacks"]["I-FGSM (2 steps)"]
    # a zero-size attack changes nothing: the clean accuracy, counted the same way
    assert fgsm["correct"]["0"] == ifgsm["correct"]["0"] == result["correct"]
    assert "FGSM eps 4: accuracy" in proc.stderr and "I-FGSM (2 steps) eps 4" in proc.stderr
    assert open(os.path.join(out, "reliability.png"), "rb").read(4) == b"\x89PNG"
    train = cli("mixup_app.score", "--out-dir", out, "--split", "train")
    assert train.returncode == 0 and train.stdout.strip().endswith("/120)"), train.stderr


# ------------------------------------------------------------------ black-box attacks

@pytest.fixture(scope="module")
def attack_source_run(tmp_path_factory, data_dir):
    """Another run on the same images, trained through another normalisation (a copy of the
    data whose manifest has other means and deviations): an attack made with it through the
    scored run's normalisation instead of its own would not match the hand computation."""
    import shutil
    copy = str(tmp_path_factory.mktemp("otherdata") / "data")
    shutil.copytree(data_dir, copy)
    path = os.path.join(copy, "synthetic.json")
    manifest = json.load(open(path))
    manifest.update(mean=[100.0, 150.0, 120.0], std=[30.0, 70.0, 55.0])
    with open(path, "w") as f:
        json.dump(manifest, f)
    out = str(tmp_path_factory.mktemp("source") / "s")
    proc = cli("mixup_app.train", *TINY, "--data-dir", copy, "--num-epochs", "1",
               "--out-dir", out, "--seed", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return out


class _HandModel:
    """A run's checkpoint as a function of the raw image (0..255), built here without
    mixup_app.scoring: the scoring graph's logits in a Gluon SymbolBlock, the run's data's
    normalisation in front, in inference mode (BatchNorm on its moving statistics), and the
    input gradient of the cross-entropy by MXNet's autograd through the normalisation."""

    def __init__(self, run_dir, epoch):
        import mixup_symbols
        import mxnet as mx
        config = json.load(open(os.path.join(run_dir, "config.json")))
        manifest = json.load(open(os.path.join(config["data_dir"], "synthetic.json")))
        self.mean = mx.nd.array(manifest["mean"], dtype="float64").reshape((1, -1, 1, 1))
        self.std = mx.nd.array(manifest["std"], dtype="float64").reshape((1, -1, 1, 1))
        symbol = mixup_symbols.get_symbol("resnet", num_classes=10, num_layers=8,
                                          image_shape=(3, 28, 28), train=False)
        logits = symbol.get_children()[0]  # SoftmaxOutput(logits, label)
        self.net = mx.gluon.SymbolBlock(logits, [mx.sym.var("data", dtype="float32")])
        self.net.collect_params().load(runs.params_path(run_dir, epoch), mx.cpu(),
                                       ignore_extra=True)

    def _logits(self, raw):
        return self.net(((raw - self.mean) / self.std).astype("float32"))

    def probabilities(self, raw):
        import mxnet as mx
        return mx.nd.softmax(self._logits(mx.nd.array(raw, dtype="float64"))).asnumpy()

    def predict(self, raw):
        return self.probabilities(raw).argmax(axis=1)

    def gradient(self, raw, labels):
        import mxnet as mx
        x = mx.nd.array(raw, dtype="float64")
        x.attach_grad()
        with mx.autograd.record(train_mode=False):
            logits = self._logits(x)
            loss = -mx.nd.pick(mx.nd.log_softmax(logits), mx.nd.array(labels)).sum()
        loss.backward(train_mode=False)
        return x.grad.asnumpy()

    def attack(self, raw, labels, eps, steps):
        return self.attack_marking_ties(raw, labels, eps, steps)[0]

    def attack_marking_ties(self, raw, labels, eps, steps):
        """FGSM (steps 1) or I-FGSM: steps of 2.5 eps / K, projected onto the eps-ball around
        the image and onto [0, 255]; and which images had, at some step, a pixel whose
        gradient is within float32 rounding of zero (under 1e-5 of the image's largest; this
        float64 gradient and the scoring's float32 one differ by up to 2e-6 of it): its sign,
        so the pixel's move, is a tie two exact implementations may break apart (measured:
        -4.5e-12 here, +7.6e-10 in the float32 executor, of a largest 3e-4)."""
        x = raw.copy()
        step = eps if steps == 1 else 2.5 * eps / steps
        ties = np.zeros(len(raw), dtype=bool)
        for _ in range(steps):
            grad = self.gradient(x, labels)
            flat = np.abs(grad).reshape(len(raw), -1)
            ties |= (flat < 1e-5 * flat.max(axis=1, keepdims=True)).any(axis=1)
            x = x + step * np.sign(grad)
            x = np.clip(np.clip(x, raw - eps, raw + eps), 0, 255)
        return x, ties


def _val_images(data_dir):
    from conftest import read_records
    pixels, labels = read_records(*[os.path.join(data_dir, "synthetic_val." + ext)
                                    for ext in ("rec", "idx")], (3, 28, 28))
    return pixels.transpose(0, 3, 1, 2).astype(np.float64), labels


@pytest.mark.slow
def test_a_black_box_attack_is_the_source_runs_attack_scored_on_this_run(
        finished_run, attack_source_run, data_dir):
    import mxnet as mx
    from mixup_app import report, score, scoring
    from mixup_app.config import RunConfig
    target, _ = finished_run
    raw, labels = _val_images(data_dir)
    source, scored = _HandModel(attack_source_run, 1), _HandModel(target, 2)
    expected, ties = {}, {}
    for eps, steps in ((4.0, 1), (8.0, 1), (4.0, 3), (8.0, 3)):
        adversarial, ties[eps, steps] = source.attack_marking_ties(raw, labels, eps, steps)
        assert np.all(np.abs(adversarial - raw) <= eps) and 0 <= adversarial.min()
        assert adversarial.max() <= 255
        expected[eps, steps] = scored.probabilities(adversarial)
        # the comparison below stays exact on most images
        assert ties[eps, steps].sum() <= len(raw) // 2, (eps, steps, ties[eps, steps].sum())
    # the source made other images than the white-box attack, or the same network through
    # the scored run's normalisation, would: the test tells them apart (the tiny networks'
    # predictions hardly move, so the probabilities are compared, not only the classes)
    assert not np.array_equal(source.attack(raw, labels, 8.0, 1),
                              scored.attack(raw, labels, 8.0, 1))
    config = RunConfig.load(target)
    wrong = _HandModel(attack_source_run, 1)
    wrong.mean, wrong.std = scored.mean, scored.std
    assert np.abs(scored.probabilities(wrong.attack(raw, labels, 8.0, 1))
                  - expected[8.0, 1]).max() > 1e-3
    # the command's source: the other run's checkpoint through its own normalisation
    args = score.build_parser().parse_args(["--fgsm", "4", "--attack-from", attack_source_run,
                                            "--attack-epoch", "1"])
    attack_source, made_by = score._attack_source(args, os.path.realpath(target), config, 2)
    assert made_by == {"run": os.path.realpath(attack_source_run), "epoch": 1}
    np.testing.assert_array_equal(np.reshape(attack_source.mean, (1, 3, 1, 1)),
                                  source.mean.asnumpy())
    np.testing.assert_array_equal(np.reshape(attack_source.std, (1, 3, 1, 1)),
                                  source.std.asnumpy())
    # the library: every image's probabilities, over batches that wrap around (45 images,
    # batches of 20)
    for steps in (1, 3):
        done = scoring.attacked_probabilities(scoring.load(target, config, 2), config,
                                              data_dir, 20, mx.cpu(), [4.0, 8.0], steps,
                                              attack_source)
        for eps, (probs, truth) in done.items():
            assert truth.tolist() == labels.tolist()
            exact = ~ties[eps, steps]
            np.testing.assert_allclose(probs[exact], expected[eps, steps][exact], atol=1e-5,
                                       err_msg=str((eps, steps)))
            # an image with a tied pixel: that pixel may move the other way (2 eps of one
            # pixel moves these probabilities by about 2e-4)
            np.testing.assert_allclose(probs, expected[eps, steps], atol=1e-2,
                                       err_msg=str((eps, steps)))
            assert probs.argmax(1).tolist() == expected[eps, steps].argmax(1).tolist()
    # the command line: the counts, the clean accuracy still this run's, the source recorded
    white = cli("mixup_app.score", "--out-dir", target, "--fgsm", "8")
    assert white.returncode == 0, white.stderr[-3000:]
    white_scores = open(os.path.join(target, "test.json")).read()
    proc = cli("mixup_app.score", "--out-dir", target, "--fgsm", "0,4,8", "--ifgsm-steps",
               "3", "--attack-from", attack_source_run, "--attack-epoch", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("\n") == 1
    # beside the white-box scores, which stay as they were
    assert open(os.path.join(target, "test.json")).read() == white_scores
    name = os.path.basename(attack_source_run)
    result = json.load(open(os.path.join(target, "test-from-%s-e1.json" % name)))
    assert result["attack_source"] == {"run": os.path.realpath(attack_source_run), "epoch": 1}
    assert result["correct"] == int((scored.predict(raw) == labels).sum())
    for method, steps in (("FGSM", 1), ("I-FGSM (3 steps)", 3)):
        correct = result["attacks"][method]["correct"]
        assert correct["0"] == result["correct"]  # a zero-size attack is no attack
        for eps in (4.0, 8.0):
            assert correct["%g" % eps] == int((expected[eps, steps].argmax(1) == labels).sum())
    assert "FGSM eps 8 (black-box, made by %s epoch 1)" % os.path.realpath(
        attack_source_run) in proc.stderr
    figures = report.measure(target)[2]
    assert figures["FGSM ε=8 (black-box from %s, epoch 1)" % name] == (
        result["attacks"]["FGSM"]["accuracy"]["8"])
    # the white-box figure is test.json's own, never the black-box one
    assert figures["FGSM ε=8"] == json.loads(white_scores)["attacks"]["FGSM"]["accuracy"]["8"]


@pytest.mark.slow
def test_an_attack_from_the_scored_checkpoint_is_the_white_box_attack(finished_run):
    target, _ = finished_run
    attack = ["--out-dir", target, "--fgsm", "4,8", "--ifgsm-steps", "2"]
    scored = {}
    for name, extra in (("white", []), ("self", ["--attack-from", target]),
                        ("epoch 1", ["--attack-from", target, "--attack-epoch", "1"])):
        proc = cli("mixup_app.score", *(attack + extra))
        assert proc.returncode == 0, proc.stderr[-3000:]
        # a black-box attack's scores go beside test.json (the self-attack is white-box)
        written = ("test-from-%s-e1.json" % os.path.basename(target) if name == "epoch 1"
                   else "test.json")
        scored[name] = json.load(open(os.path.join(target, written)))
    assert scored["white"]["attacks"] == scored["self"]["attacks"]
    assert scored["white"]["attack_source"] is scored["self"]["attack_source"] is None
    # an earlier checkpoint of the same run is another network: a black-box attack
    assert scored["epoch 1"]["attack_source"] == {"run": os.path.realpath(target), "epoch": 1}
    assert scored["epoch 1"]["correct"] == scored["white"]["correct"]


def _refusal_of(argv, capsys):
    from mixup_app import score
    assert score.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_attacks_from_runs_of_another_task_or_without_a_checkpoint_are_refused(
        finished_run, tmp_path, capsys):
    import shutil
    target, _ = finished_run
    before = os.path.getmtime(os.path.join(target, "test.json")) if os.path.exists(
        os.path.join(target, "test.json")) else None

    def changed(name, **fields):
        path = str(tmp_path / name)
        shutil.copytree(target, path)
        config = json.load(open(os.path.join(path, "config.json")))
        config.update(fields)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(config, f)
        return path

    scoring = ["--out-dir", target, "--fgsm", "4"]
    for other, words in (
            (changed("fmnist", dataset="fashion-mnist"),
             ["dataset fashion-mnist", "has synthetic"]),
            (changed("shape", image_shape=[3, 24, 24]),
             ["image shape 3,24,24", "has 3,28,28"]),
            (changed("classes", num_classes=5), ["class count 5", "has 10"])):
        err = _refusal_of(scoring + ["--attack-from", other], capsys)
        assert "--attack-from %s" % other in err and target in err, err
        assert all(w in err for w in words), err
    empty = changed("empty")
    for name in os.listdir(empty):
        if name.endswith(".params"):
            os.remove(os.path.join(empty, name))
    for other, words in ((empty, ["no checkpoint"]), (str(tmp_path), ["config.json",
                                                                     "run directory"])):
        err = _refusal_of(scoring + ["--attack-from", other], capsys)
        assert "--attack-from %s" % other in err and all(w in err for w in words), err
    err = _refusal_of(scoring + ["--attack-from", target, "--attack-epoch", "7"], capsys)
    assert "--attack-epoch 7" in err and "model-0007.params not found" in err, err
    err = _refusal_of(scoring + ["--attack-from", target, "--attack-epoch", "x"], capsys)
    assert "--attack-epoch must be a number" in err, err
    # options that would otherwise be ignored
    err = _refusal_of(["--out-dir", target, "--attack-from", target], capsys)
    assert "--attack-from %s needs --fgsm" % target in err, err
    err = _refusal_of(["--out-dir", target, "--fgsm", "4", "--attack-epoch", "1"], capsys)
    assert "--attack-epoch 1 goes with --attack-from" in err, err
    after = os.path.getmtime(os.path.join(target, "test.json")) if before else None
    assert after == before  # nothing written
