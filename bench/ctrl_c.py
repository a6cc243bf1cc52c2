"""What Ctrl-C does to an MXNet 1.9.1 process, measured: SIGINT sent at a random moment to a
loop that runs (a) plain MXNet operators and asnumpy(), (b) the MixUp op imperatively, (c) the
same inside the commands' held signal (mixup_app/interrupts.py, checked once per step). Each
outcome is counted: a clean KeyboardInterrupt (exit 130), an MXNetError, an abort (killed by
SIGABRT/SIGSEGV), or a hang (still running 20 s after the signal, then killed).

    python -m bench.ctrl_c [--tries N]

Cited by docs/PITFALLS.md (Ctrl-C). Not part of the test suite: it takes minutes.
"""
import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOOPS = {
    "plain MXNet": """
import numpy as np, mxnet as mx
x = mx.nd.array(np.random.rand(8, 3))
def step():
    (mx.nd.relu(x) * 2).asnumpy()
""",
    "MixUp op": """
import numpy as np, mxnet as mx, mixup
x = mx.nd.array(np.random.rand(8, 3)); y = mx.nd.array(np.arange(8) % 2)
def step():
    mx.nd.Custom(x, y, num_classes=2, alpha=1.0, op_type="MixUp")[1].asnumpy()
""",
    "MixUp op, held signal": """
import numpy as np, mxnet as mx, mixup
from mixup_app.interrupts import StopRequest
x = mx.nd.array(np.random.rand(8, 3)); y = mx.nd.array(np.arange(8) % 2)
stop = StopRequest().install()
def step():
    mx.nd.Custom(x, y, num_classes=2, alpha=1.0, op_type="MixUp")[1].asnumpy()
    stop.check()
""",
}

RUN = """
import sys
%s
print("ready", flush=True)
try:
    while True:
        step()
except KeyboardInterrupt:
    sys.exit(130)
"""


def outcome(code, timeout=20):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", RUN % code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    proc.stdout.readline()  # "ready": imports done, the loop runs
    time.sleep(random.uniform(0.05, 0.5))
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return "hang"
    if proc.returncode == 130:
        return "clean (exit 130)"
    if proc.returncode < 0:
        return "abort (%s)" % signal.Signals(-proc.returncode).name
    return "MXNetError" if "MXNetError" in err else "exit %d" % proc.returncode


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.ctrl_c", description=__doc__)
    parser.add_argument("--tries", type=int, default=20, help="signals per loop (default 20)")
    args = parser.parse_args(argv)
    counts = {name: collections.Counter() for name in LOOPS}
    for _ in range(args.tries):  # interleaved: the loops see the same machine load
        for name, code in LOOPS.items():
            counts[name][outcome(code)] += 1
    for name, counted in counts.items():
        print("%-22s %s" % (name, ", ".join("%s %d" % kv for kv in sorted(counted.items()))))


if __name__ == "__main__":
    main()
