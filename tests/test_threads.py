"""mixup/threads.py: the CPU thread count the commands give MXNet, chosen before it loads."""
import os

from conftest import TINY, cli
from mixup import threads


def test_thread_count_precedence():
    cores = threads.available_cores()
    assert cores == len(os.sched_getaffinity(0))
    assert threads.wanted([], environ={}) == cores                        # every core
    assert threads.wanted([], environ={"OMP_NUM_THREADS": "3"}) is None   # the user's, as is
    assert threads.wanted(["--threads", "5"], environ={"OMP_NUM_THREADS": "3"}) == 5
    assert threads.wanted(["--threads=7"], environ={}) == 7
    assert threads.requested(["--threads", "0"]) is None  # left for the parser to refuse
    assert threads.requested(["--threads", "x"]) is None


def test_the_commands_run_mxnet_with_the_chosen_threads(tmp_path, data_dir):
    base = TINY + ["--data-dir", data_dir, "--num-epochs", "1"]
    unset = {"OMP_NUM_THREADS": ""}
    default = cli("mixup.train", *base, "--out-dir", str(tmp_path / "a"), env=unset)
    assert default.returncode == 0, default.stderr[-2000:]
    assert "(%d threads)" % threads.available_cores() in default.stdout
    given = cli("mixup.train", *base, "--out-dir", str(tmp_path / "b"), "--threads", "3",
                env={"OMP_NUM_THREADS": "1"})
    assert given.returncode == 0 and "(3 threads)" in given.stdout, given.stderr[-2000:]
    user = cli("mixup.train", *base, "--out-dir", str(tmp_path / "c"),
               env={"OMP_NUM_THREADS": "1"})
    assert user.returncode == 0 and "(1 threads)" in user.stdout
