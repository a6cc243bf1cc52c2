"""mixup_app/threads.py: the CPU thread count the commands give MXNet, chosen before it loads."""
import pytest
import os

from conftest import TINY, cli, run_python
from mixup_app import threads


def test_thread_count_precedence():
    cores = threads.available_cores()
    assert cores == len(os.sched_getaffinity(0))
    assert threads.wanted([], environ={}) == cores                        # every core
    assert threads.wanted([], environ={"OMP_NUM_THREADS": "3"}) is None   # the user's, as is
    assert threads.wanted(["--threads", "5"], environ={"OMP_NUM_THREADS": "3"}) == 5
    assert threads.wanted(["--threads=7"], environ={}) == 7
    assert threads.requested(["--threads", "0"]) is None  # left for the parser to refuse
    assert threads.requested(["--threads", "x"]) is None


@pytest.mark.slow
def test_the_commands_run_mxnet_with_the_chosen_threads(tmp_path, data_dir):
    base = TINY + ["--data-dir", data_dir, "--num-epochs", "1"]
    unset = {"OMP_NUM_THREADS": ""}
    default = cli("mixup_app.train", *base, "--out-dir", str(tmp_path / "a"), env=unset)
    assert default.returncode == 0, default.stderr[-2000:]
    assert "(%d threads)" % threads.available_cores() in default.stdout
    given = cli("mixup_app.train", *base, "--out-dir", str(tmp_path / "b"), "--threads", "3",
                env={"OMP_NUM_THREADS": "1"})
    assert given.returncode == 0 and "(3 threads)" in given.stdout, given.stderr[-2000:]
    user = cli("mixup_app.train", *base, "--out-dir", str(tmp_path / "c"),
               env={"OMP_NUM_THREADS": "1"})
    assert user.returncode == 0 and "(1 threads)" in user.stdout


def test_decode_threads_are_one_on_the_cpu_and_what_mxnet_takes_with_gpus():
    # by hand: MXNet's ImageRecordIter takes at most max(cores / 2 - 1, 1) decoding threads
    # (src/io/iter_image_recordio_2.cc: "be conservative, set number of real cores")
    takes = {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 2, 8: 3, 16: 7, 64: 31}
    for cores, count in takes.items():
        assert threads.decode_threads(gpus=False, cores=cores) == 1
        assert threads.decode_threads(gpus=True, cores=cores) == count
    assert threads.decode_threads() == 1
    assert threads.decode_threads(gpus=True) == takes.get(
        threads.available_cores(), max(threads.available_cores() // 2 - 1, 1))


@pytest.mark.slow
def test_mxnet_decodes_with_the_threads_chosen_for_gpus_even_when_asked_for_more(data_dir):
    """The cap decode_threads(gpus=True) assumes is MXNet's own: asked for 64 threads, the
    record iterator says (in its native log line) it decodes with that many."""
    code = ("from mixup_app.data import iterators\n"
            "next(iter(iterators.record_iter(%r, 'synthetic', 'train', 8, threads=64)))\n"
            % data_dir)
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "use %d threads for decoding" % threads.decode_threads(gpus=True) in done.stderr
