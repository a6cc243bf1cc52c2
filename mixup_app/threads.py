"""The CPU threads of the commands: MXNet's compute pool, chosen before MXNet loads, and the
threads that decode images.

**Compute.** MXNet 1.9.1 sizes its OpenMP pool once, when the library loads, as half the
processors on x86 (it assumes hyper-threads): on a 2-vCPU machine it computes on one core. The
pool follows ``OMP_NUM_THREADS`` when that is set before ``import mxnet``. ``python -m
mixup_app.train`` imports the package (and so MXNet) before the module's own code runs, so the
command re-executes itself once, with the variable set, when it must change: to ``--threads
N`` if given, else to the user's ``OMP_NUM_THREADS`` if set (respected as is), else to every
core this process may run on (its CPU affinity).

**Decoding** (:func:`decode_threads`): when the devices are the CPU, one thread. A parallel
region of the OpenMP pool ends only when its slowest thread does, so every other thread that
runs during the step takes its core from a pool thread and stalls the whole pool; one thread
decodes and augments about 20000 small images per second, while a CPU step consumes
hundreds (docs/BENCHMARKS.md, 7a). With GPUs the pool idles while the devices compute and decoding
is the host's work: as many threads as MXNet's record iterator takes (it caps them at half the
processors less one).
"""
import os
import sys

# Set on re-execution, so a second pass never loops.
_MARK = "MIXUP_THREADS_APPLIED"


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def decode_threads(gpus=False, cores=None):
    """Threads for MXNet's record iterator (ImageRecordIter's ``preprocess_threads``): 1 when
    the CPU computes, else as many as the iterator takes on `cores` (default: this process's),
    max(cores // 2 - 1, 1) (see the module's doc)."""
    if not gpus:
        return 1
    cores = available_cores() if cores is None else cores
    return max(cores // 2 - 1, 1)


def requested(argv):
    """The value of --threads N / --threads=N in argv if it is a positive integer, else None
    (a bad value is left for the option parser to refuse)."""
    for i, arg in enumerate(argv):
        value = None
        if arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
        if value is not None:
            return int(value) if value.isdigit() and int(value) > 0 else None
    return None


def _count(text):
    import argparse
    if not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError("must be a positive whole number, got %r" % text)
    return int(text)


def add_option(group):
    """The commands' --threads N option (None when not given: see the module's doc)."""
    from mixup_app.cli import add
    add(group, "--threads", None, "CPU threads for MXNet's operators (else OMP_NUM_THREADS if "
        "set, else every core this process may use)", shown="all cores", type=_count,
        metavar="N")


def wanted(argv, environ=os.environ):
    """The thread count for this command line and environment (see the module's doc)."""
    explicit = requested(argv)
    if explicit is not None:
        return explicit
    user = environ.get("OMP_NUM_THREADS", "")
    if user.strip():
        return None  # the user's own setting, whatever it is, stays
    return available_cores()


def configure_or_reexec(module):
    """Call first thing in a command's ``__main__``: make OMP_NUM_THREADS what it should be,
    re-executing the interpreter if MXNet has already loaded with another value."""
    count = wanted(sys.argv[1:])
    if count is None or os.environ.get("OMP_NUM_THREADS") == str(count):
        return
    os.environ["OMP_NUM_THREADS"] = str(count)
    if "mxnet" not in sys.modules or os.environ.get(_MARK):
        return
    os.environ[_MARK] = "1"
    import mixup_compat
    if mixup_compat.interrupted_early():  # Ctrl-C held so far stays held in the new process
        os.environ[mixup_compat.EARLY_SIGNAL_VARIABLE] = "1"
    if mixup_compat.holding_early():
        # exec resets a handled signal to its default (death by SIGINT while the new
        # interpreter starts): ignored across it instead, and taken over again by the new
        # process's run_command, as the wrappers do
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.environ["MIXUP_HOLD_INT"] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    argv = getattr(sys, "orig_argv", None) or [sys.executable, "-m", module] + sys.argv[1:]
    os.execv(sys.executable, argv)
