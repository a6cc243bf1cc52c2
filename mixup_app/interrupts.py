"""Ctrl-C (and SIGTERM) for every command of the project: held until a safe point.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives. In MXNet
1.9.1 that is unsafe: inside a CustomOp's or the kvstore updater's ctypes callback the
exception cannot pass through C (the process aborts, or ctypes drops it and a step is cut
short), and raised inside MXNet's own Python around those callbacks it can leave the engine
waiting forever. Measured by ``python -m bench.ctrl_c`` (SIGINT at a random moment of a loop
that calls the MixUp op imperatively, 12 tries): 6 clean, 4 hangs, 1 abort, 1 MXNetError; the
same loop holding the signal as below: 12 clean; plain MXNet operators without a CustomOp: 12
clean. So a command enters :class:`StopRequest`: the
first signal only sets a flag and says so on stderr, the command calls :meth:`StopRequest.check`
between steps, where the KeyboardInterrupt is raised in its own code, saves what it has and
says in one line how to go on (exit code 130). A second signal exits at once: every file the
project writes is written atomically, so nothing half-written is left, only the work since the
last save is lost. A signal that was ignored (``nohup``) stays ignored.
"""
import os
import signal
import threading

import mixup_compat

INTERRUPTED = 130  # the exit code of a command stopped by Ctrl-C, as shells report SIGINT
_active = []  # the StopRequests entered, innermost last


class StopRequest:
    """The held signal of one command (see the module's doc). A context manager: the handlers
    are installed on entry (in the main thread; elsewhere nothing changes) and the previous ones
    restored on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, what="stopping at the next safe point"):
        self.requested = False
        self._what = what
        self._previous = {}

    def install(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in self.SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._handle)
        # a signal held while the command started (mixup_compat.run_command) is this one's
        self.requested = self.requested or mixup_compat.interrupted_early()
        _active.append(self)
        return self

    def restore(self):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        if self in _active:
            _active.remove(self)

    __enter__ = install

    def __exit__(self, *exc):
        self.restore()
        return False

    def _handle(self, signum, frame):
        if self.requested:
            mixup_compat.say(b"\nstopped at once (files are written atomically: none is left "
                             b"half-written)\n")
            os._exit(INTERRUPTED)
        self.requested = True
        mixup_compat.say(("\n%s (Ctrl-C again to stop at once) ...\n" % self._what).encode())

    def check(self):
        """Raise KeyboardInterrupt here if a stop was requested."""
        if self.requested:
            raise KeyboardInterrupt


def check():
    """Raise KeyboardInterrupt if the innermost StopRequest entered was asked to stop (nothing
    when none is entered): for loops deep in a command, which need not be handed it."""
    if _active:
        _active[-1].check()


def run_main(main, said="interrupted: nothing was written (files are written whole or not at "
                        "all); run the same command again"):
    """``main()``'s exit code, or INTERRUPTED after one line on stderr if Ctrl-C stopped it:
    for the commands that never run MXNet's engine (reports), where a KeyboardInterrupt raised
    anywhere is safe to catch at the top."""
    import sys
    try:
        raise_anywhere()
        return main()
    except KeyboardInterrupt:
        print(said, file=sys.stderr)
        return INTERRUPTED


def raise_anywhere():
    """For a command that never runs MXNet's engine: Ctrl-C raises KeyboardInterrupt wherever it
    lands from now on (Python's default), and at once if it arrived while the command started
    (mixup_compat.run_command held it)."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if mixup_compat.interrupted_early():
        raise KeyboardInterrupt
