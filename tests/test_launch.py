"""dist_sync clusters on this machine: a run, unequal shards, a failing and a killed worker."""
import pytest
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT, TINY, cli
from mixup_app import launch, runs
from mixup_app.data import preparation


@pytest.mark.slow
def test_two_worker_dist_sync_run(tmp_path, data_dir):
    out = str(tmp_path / "dist")
    proc = cli("mixup_app.train", *TINY, "--data-dir", data_dir, "--num-epochs", "1",
               "--out-dir", out, "--kv-store", "dist_sync", "--num-workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "2 worker(s)" in proc.stdout
    rows = runs.read_metrics(out)
    assert len(rows) == 1 and rows[0]["num_workers"] == 2 and rows[0]["val_count"] == 45
    assert runs.checkpoint_epochs(out) == [1]


@pytest.mark.slow
def test_unequal_shards_run_the_same_number_of_steps(tmp_path):
    # 130 images over 3 workers at batch 21: shards of 43/43/44 images, 3 batches each only
    # if every worker runs ceil(44 / 21) = 3 steps; otherwise the synchronous kvstore hangs
    data_dir = str(tmp_path / "d")
    preparation.prepare("synthetic", data_dir, log=lambda *_: None, synthetic_counts=(130, 20))
    out = str(tmp_path / "r")
    proc = cli("mixup_app.train", "--dataset", "synthetic", "--synthetic-size", "130,20",
               "--num-layers", "8", "--batch-size", "21", "--progress", "off",
               "--data-dir", data_dir, "--num-epochs", "2", "--out-dir", out,
               "--kv-store", "dist_sync", "--num-workers", "3", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1, 2]


@pytest.mark.slow
def test_launcher_stops_the_cluster_when_a_worker_fails(tmp_path):
    start = time.time()
    # a worker that refuses its options exits 2 before joining; scheduler and server must not
    # be left waiting for it
    status = launch.run_local(["--batch-size", "0"], num_workers=2, num_servers=1,
                              log=lambda *_: None)
    assert status == 2
    assert time.time() - start < 60


@pytest.mark.slow
def test_a_killed_worker_stops_the_cluster_and_the_run_resumes(tmp_path, data_dir):
    out = str(tmp_path / "r")
    args = TINY + ["--data-dir", data_dir, "--num-epochs", "30", "--out-dir", out,
                   "--kv-store", "dist_sync", "--num-workers", "2"]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    launcher = subprocess.Popen([sys.executable, "-m", "mixup_app.train"] + args, cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    deadline = time.time() + 180
    while not os.path.exists(runs.params_path(out, 1)):
        assert launcher.poll() is None and time.time() < deadline
        time.sleep(0.1)
    workers = subprocess.run(["pgrep", "-f", "-P", str(launcher.pid), "mixup_app.train"],
                             capture_output=True, text=True).stdout.split()
    assert len(workers) == 2
    os.kill(int(workers[-1]), signal.SIGKILL)
    killed = time.time()
    output, _ = launcher.communicate(timeout=120)
    assert launcher.returncode != 0 and "stopping the cluster" in output
    assert time.time() - killed < 60  # promptly
    done = runs.checkpoint_epochs(out)
    assert done and done[-1] < 30
    resumed = cli("mixup_app.train", "--resume", "--out-dir", out, "--num-epochs", str(done[-1] + 1))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-3000:]
    assert runs.read_metrics(out)[-1]["epoch"] == done[-1] + 1
