"""Training and scoring through the real command lines, on a tiny synthetic set."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest

import mixup
from conftest import ROOT, mixup_nd
from mixup import data, devices, runs, sources, train

TINY = ["--dataset", "synthetic", "--synthetic-size", "120,45", "--num-layers", "8",
        "--batch-size", "20", "--image-shape", "3,28,28", "--progress", "off"]


def cli(module, *args, timeout=300):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", module] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data"))
    data.prepare("synthetic", path, log=lambda *_: None, synthetic_counts=(120, 45))
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_dir):
    out = str(tmp_path_factory.mktemp("run") / "r")
    proc = cli("mixup.train", *TINY, "--data-dir", data_dir, "--num-epochs", "2",
               "--out-dir", out, "--cpu-devices", "2", "--mixup-off-epochs", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return out, proc


def test_training_writes_a_complete_run_directory(finished_run):
    out, proc = finished_run
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["dataset"] == "synthetic" and config["mix_rate"] == 0.7
    assert config["alpha"] == 0.2 and config["cpu_devices"] == 2
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    for row in rows:
        for key in ("train_accuracy", "train_loss", "val_accuracy", "val_loss", "lr", "seconds",
                    "images_per_sec", "num_workers"):
            assert key in row and np.isfinite(row[key])
        assert row["val_count"] == 45 and 0 <= row["val_accuracy"] <= 1
    assert [r["mixup"] for r in rows] == [True, False]  # --mixup-off-epochs 1
    for name in ("model-symbol.json", "model-0001.params", "model-0002.params",
                 "model-0002.states", "curves.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert open(os.path.join(out, "curves.png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert not [f for f in os.listdir(out) if f.endswith(".part")]
    assert re.search(r"epoch 2/2 .*\(MixUp off\)", proc.stdout)


def test_scoring_counts_every_validation_image_once(finished_run, data_dir):
    out, _ = finished_run
    # 45 images in batches of 20: the last batch wraps 15 samples around; none may count.
    proc = cli("mixup.evaluate", "--out-dir", out, "--batch-size", "20")
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
    # the same checkpoint scored during training and by the scorer: the same accuracy
    assert runs.read_metrics(out)[-1]["val_accuracy"] == pytest.approx(result["accuracy"])
    assert open(os.path.join(out, "confusion.png"), "rb").read(4) == b"\x89PNG"


def test_expected_calibration_error_on_hand_made_cases():
    from mixup.evaluate import expected_calibration_error
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])
    # bin of 0.9: accuracy 0.5 (|0.5-0.9| = 0.4); bin of 0.6: accuracy 1 (0.4); weights 1/2
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4)
    assert expected_calibration_error(np.array([[1.0, 0.0]]), np.array([0])) == 0


def test_resume_after_a_killed_run_continues_from_the_last_checkpoint(tmp_path, data_dir):
    out = str(tmp_path / "r")
    args = TINY + ["--data-dir", data_dir, "--num-epochs", "3", "--out-dir", out,
                   "--lr-step-epochs", "2"]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "mixup.train"] + args, cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(out, "model-0001.params")):
        assert proc.poll() is None and time.time() < deadline, "run ended before epoch 1"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = runs.checkpoint_epochs(out)
    assert 1 <= done[-1] < 3
    before = runs.read_metrics(out)
    refused = cli("mixup.train", *args)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = cli("mixup.train", "--resume", "--out-dir", out, "--progress", "off")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "from epoch %d" % done[-1] in resumed.stdout
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[:len(before)] == before[:done[-1]]
    assert rows[0]["lr"] == pytest.approx(0.1) and rows[2]["lr"] == pytest.approx(0.01)
    again = cli("mixup.train", "--resume", "--out-dir", out)
    assert again.returncode == 0 and "complete" in again.stdout


def test_two_worker_dist_sync_run(tmp_path, data_dir):
    out = str(tmp_path / "dist")
    proc = cli("mixup.train", *TINY, "--data-dir", data_dir, "--num-epochs", "1",
               "--out-dir", out, "--kv-store", "dist_sync", "--num-workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "2 worker(s)" in proc.stdout
    rows = runs.read_metrics(out)
    assert len(rows) == 1 and rows[0]["num_workers"] == 2 and rows[0]["val_count"] == 45
    assert runs.checkpoint_epochs(out) == [1]


@pytest.mark.parametrize("argv, words", [
    (["--alpha", "0"], ["alpha", "0"]),
    (["--mix-rate", "1.5"], ["mix_rate", "1.5"]),
    (["--batch-size", "0"], ["--batch-size", "0"]),
    (["--lr", "-1"], ["--lr", "-1"]),
    (["--num-epochs", "2", "--mixup-off-epochs", "3"], ["--mixup-off-epochs", "3"]),
    (["--lr-step-epochs", "50,20"], ["--lr-step-epochs", "50,20"]),
    (["--image-shape", "3,28"], ["--image-shape", "3,28"]),
    (["--gpus", "a,b"], ["--gpus", "a,b"]),
    (["--num-workers", "2"], ["--num-workers", "dist_sync"]),
    (["--synthetic-size", "5,1"], ["--synthetic-size", "5,1"]),
    (["--kv-store", "nccl"], ["--kv-store", "nccl"]),
    (["--mom", "1.0"], ["--mom", "1.0"]),
])
def test_bad_options_are_refused_naming_them(capsys, argv, words):
    with pytest.raises(SystemExit) as caught:
        train.main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err


def test_bad_run_inputs_give_clear_errors(tmp_path, data_dir, capsys):
    assert train.main(["--resume", "--out-dir", str(tmp_path / "nothing")]) == 2
    assert "config.json" in capsys.readouterr().err
    code = train.main(TINY + ["--data-dir", data_dir, "--num-layers", "9", "--num-epochs", "1",
                              "--out-dir", str(tmp_path / "x")])
    assert code == 2 and "num_layers=9" in capsys.readouterr().err
    code = train.main(TINY + ["--data-dir", data_dir, "--batch-size", "500", "--num-epochs",
                              "1", "--out-dir", str(tmp_path / "y")])
    assert code == 2 and "--batch-size 500 is larger than the 120" in capsys.readouterr().err
    from mixup import evaluate
    assert evaluate.main(["--out-dir", str(tmp_path / "nothing")]) == 2
    assert "config.json" in capsys.readouterr().err
    run = str(tmp_path / "scored")
    assert train.main(TINY + ["--data-dir", data_dir, "--num-epochs", "1", "--out-dir",
                              run]) == 0
    capsys.readouterr()
    assert evaluate.main(["--out-dir", run, "--gpus", "x"]) == 2
    assert "--gpus" in capsys.readouterr().err
    assert evaluate.main(["--out-dir", run, "--epoch", "7"]) == 2
    assert "model-0007.params not found" in capsys.readouterr().err


def test_auto_dataset_falls_back_to_fashion_mnist_and_says_why(tmp_path, monkeypatch, rng):
    from test_data import make_fashion_dir
    closed = "http://127.0.0.1:9/"
    monkeypatch.setattr(sources, "CIFAR10_URL", closed + "cifar-10-python.tar.gz")
    monkeypatch.setattr(sources, "CIFAR10_REC_URLS", {"train": closed + "a", "val": closed + "b"})
    fake_debian = str(tmp_path / "debian")
    make_fashion_dir(fake_debian, rng)
    monkeypatch.setattr(sources, "FASHION_MNIST_DEBIAN_DIR", fake_debian)
    said = []
    args = train.build_parser().parse_args(["--data-dir", str(tmp_path / "d")])
    dataset, reason = train.resolve_dataset(args, said.append)
    assert dataset == "fashion-mnist" and "CIFAR-10 unavailable" in reason
    assert any("FASHION-MNIST instead" in line for line in said)
    args = train.build_parser().parse_args(["--data-dir", str(tmp_path / "e"),
                                            "--dataset", "cifar10"])
    with pytest.raises(data.DataError, match="--from"):
        train.resolve_dataset(args, said.append)


def test_learning_rate_schedules():
    def lr_at(extra, update):
        args = train.build_parser().parse_args(["--lr", "0.4", "--num-epochs", "10"] + extra)
        return train.lr_scheduler(args, batches_per_epoch=10)(update)

    assert lr_at(["--lr-step-epochs", "4,8"], 1) == pytest.approx(0.4)
    assert lr_at(["--lr-step-epochs", "4,8"], 45) == pytest.approx(0.04)
    assert lr_at(["--lr-step-epochs", "4,8"], 95) == pytest.approx(0.004)
    assert lr_at(["--warmup-epochs", "2"], 10) == pytest.approx(0.2)  # half-way up
    assert lr_at(["--lr-schedule", "cosine"], 50) == pytest.approx(0.2)
    assert lr_at(["--lr-schedule", "cosine"], 100) == pytest.approx(0.0, abs=1e-9)


def test_paused_mixup_is_plain_training(rng):
    x = rng.normal(size=(8, 3))
    with mixup.paused():
        data_out, label_out = mixup_nd(x, np.arange(8) % 3, seed=1, mix_rate=1.0)
    np.testing.assert_array_equal(data_out, x)
    np.testing.assert_array_equal(label_out, np.eye(3)[np.arange(8) % 3])
    mixed, _ = mixup_nd(x, np.arange(8) % 3, seed=1, alpha=1.0, mix_rate=1.0)
    assert not np.allclose(mixed, x)


def test_mix_rate_zero_trains_a_graph_without_mixup():
    config = dict(network="resnet", num_layers=8, mixup_at="input", alpha=0.2, mix_rate=0.0,
                  lam_mode="batch", dtype="float32")
    symbol, mixing = train.training_symbol(config, 10, (3, 28, 28))
    assert not mixing and "mixup" not in " ".join(symbol.get_internals().list_outputs())
    symbol, mixing = train.training_symbol(dict(config, mix_rate=0.5), 10, (3, 28, 28))
    assert mixing and len(symbol.list_outputs()) == 2  # probabilities and the soft label
    _, outs, _ = symbol.infer_shape(data=(4, 3, 28, 28), softmax_label=(4,))
    assert outs == [(4, 10), (4, 10)]


def test_gpu_architecture_check():
    assert devices.unsupported([(0, "9.0"), (1, "8.6"), (2, "7.0"), (3, "3.7"),
                                (4, "8.9")]) == [(0, "9.0"), (3, "3.7")]
    assert devices.parse_gpus("0, 2") == [0, 2]
    with pytest.raises(devices.DeviceError, match="distinct"):
        devices.parse_gpus("1,1")
    if not mx.runtime.Features().is_enabled("CUDA"):
        with pytest.raises(devices.DeviceError, match="MIXUP_MXNET=gpu"):
            devices.contexts([0])


def test_a_gluoncv_network_trains_and_scores_through_the_same_scripts(tmp_path, data_dir):
    pytest.importorskip("gluoncv")
    out = str(tmp_path / "gcv")
    proc = cli("mixup.train", "--dataset", "synthetic", "--synthetic-size", "120,45",
               "--data-dir", data_dir, "--network", "gluoncv:cifar_resnet20_v1",
               "--image-shape", "3,32,32", "--batch-size", "20", "--num-epochs", "1",
               "--out-dir", out, "--progress", "off")
    assert proc.returncode == 0, proc.stderr[-3000:]
    scored = cli("mixup.evaluate", "--out-dir", out)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert re.search(r"^accuracy: [0-9.]+ \(\d+/45\)$", scored.stdout, re.M)
    assert scored.stdout.count("\n") == 1, "stdout is the one accuracy line"


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, data_dir):
    out = str(tmp_path / "r")
    env = dict(os.environ, PYTHONPATH=ROOT)
    # many epochs, so that the interrupt lands mid-run (resuming is tested above)
    proc = subprocess.Popen([sys.executable, "-m", "mixup.train"] + TINY +
                            ["--data-dir", data_dir, "--num-epochs", "200", "--out-dir", out],
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
    assert 1 <= runs.checkpoint_epochs(out)[-1] < 200
    assert not [f for f in os.listdir(out) if f.endswith(".part")]


def test_report_tabulates_runs_and_plots_them(finished_run, tmp_path, capsys):
    from mixup import report
    out, _ = finished_run
    cli("mixup.evaluate", "--out-dir", out)  # adds test.json
    plot = str(tmp_path / "cmp.png")
    assert report.main([out, out, "--plot", plot]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 4 and table[0].startswith("| run | dataset")
    scored = json.load(open(os.path.join(out, "test.json")))
    assert "(%d/45)" % scored["correct"] in table[2] and "MixUp a=0.2, rate 0.7" in table[2]
    assert open(plot, "rb").read(4) == b"\x89PNG"
    assert report.main([str(tmp_path / "none")]) == 2


def test_launcher_stops_the_cluster_when_a_worker_fails(tmp_path):
    from mixup import launch
    start = time.time()
    # a worker that refuses its options exits 2 before joining; scheduler and server must not
    # be left waiting for it
    status = launch.run_local(["--batch-size", "0"], num_workers=2, num_servers=1)
    assert status == 2
    assert time.time() - start < 60


def test_gpu_detection_on_a_simulated_cuda_machine(monkeypatch, capsys):
    class CudaBuild:
        def is_enabled(self, name):
            return name == "CUDA"

    monkeypatch.setattr(devices.mx.runtime, "Features", CudaBuild)
    monkeypatch.setattr(devices.mx.context, "num_gpus", lambda: 3)
    monkeypatch.setattr(devices, "query_capabilities",
                        lambda: [(0, "NVIDIA H100 80GB HBM3", "9.0"),
                                 (1, "NVIDIA A100-SXM4-40GB", "8.0")])
    with pytest.raises(devices.DeviceError) as caught:
        devices.contexts([1, 0])
    assert "GPU 0 (NVIDIA H100 80GB HBM3, compute capability 9.0)" in str(caught.value)
    assert "5.0-8.6" in str(caught.value)
    assert devices.contexts([1]) == [mx.gpu(1)]
    with pytest.raises(devices.DeviceError, match="GPU \\[3\\] not present"):
        devices.contexts([3])
    assert devices.contexts([2]) == [mx.gpu(2)]  # no capability known: warned, not refused
    assert "could not read the compute capability of GPU 2" in capsys.readouterr().err
