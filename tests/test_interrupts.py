"""Ctrl-C: the commands' held signal (mixup/interrupts.py) and the op's callbacks, which turn
an interrupt into an error MXNet can carry instead of letting it through C++."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT
from mixup import interrupts


def _signal_self(signum=signal.SIGINT):
    os.kill(os.getpid(), signum)
    time.sleep(0.05)  # the handler runs in the main thread at the next bytecode


def test_the_first_signal_is_held_until_a_check():
    before = signal.getsignal(signal.SIGINT)
    with interrupts.StopRequest() as stop:
        stop.check()
        interrupts.check()
        _signal_self()  # no KeyboardInterrupt here
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            stop.check()
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()  # the innermost StopRequest, for loops not handed it
    assert signal.getsignal(signal.SIGINT) is before
    interrupts.check()  # none entered: nothing


def test_sigterm_is_held_alike_and_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with interrupts.StopRequest() as stop:
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # nohup's stays
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with interrupts.StopRequest() as stop:
            _signal_self(signal.SIGTERM)
            assert stop.requested
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(code, timeout=120):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1"))


def test_a_second_signal_stops_at_once_with_the_interrupted_code():
    proc = _run("""
        import os, signal, time
        from mixup.interrupts import StopRequest
        with StopRequest("stopping soon"):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        print("not reached")
    """)
    assert proc.returncode == 130 and "not reached" not in proc.stdout
    assert "stopping soon (Ctrl-C again" in proc.stderr and "stopped at once" in proc.stderr


def test_ctrl_c_inside_the_ops_callbacks_is_an_error_mxnet_carries_not_an_abort():
    """A KeyboardInterrupt raised inside create_operator (the seed draw) and inside
    MixUpProp.__init__ (which MXNet does not wrap) ends the call with an MXNetError naming the
    interrupt; the process lives on and the op works after it. Without the guard the first
    aborts the interpreter ("terminate called without an active exception")."""
    proc = _run("""
        import numpy as np, mxnet as mx, mixup
        from mixup import op
        x = mx.nd.array(np.random.rand(6, 3)); y = mx.nd.array(np.arange(6) % 2)
        def call():
            return mx.nd.Custom(x, y, num_classes=2, alpha=1.0, op_type="MixUp")
        def interrupted(real, times):
            def wrapper(*args):
                if times:
                    times.pop()
                    raise KeyboardInterrupt
                return real(*args)
            return wrapper
        for name in ("_draw_seed", "_parse_op_kwargs"):
            real = getattr(op, name)
            setattr(op, name, interrupted(real, [1]))
            try:
                call()
                print(name, "not interrupted")
            except mx.base.MXNetError:
                print(name, "MXNetError")
            setattr(op, name, real)
            print(name, "then", call()[1].shape)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # MXNet prints the callback's error on stdout: our one line, no Python traceback
    printed = [line for line in proc.stdout.splitlines() if line.startswith("Error in")]
    assert printed == ["Error in MixUp.%s: OperatorInterrupted: MixUp: interrupted (Ctrl-C) "
                       "while MXNet ran the op's %s; the call was abandoned" % (where, where)
                       for where in ("create_operator", "list_arguments")]
    ours = [line for line in proc.stdout.splitlines() if not line.startswith("Error in")]
    assert ours == ["_draw_seed MXNetError", "_draw_seed then (6, 2)",
                    "_parse_op_kwargs MXNetError", "_parse_op_kwargs then (6, 2)"]
