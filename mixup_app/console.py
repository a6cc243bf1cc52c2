"""What a training run prints: its log lines (also appended to RUN/train.log, across resumes)
and MXNet's native messages with their repeats dropped."""
import os
import re
import sys
import threading

# MXNet's C++ INFO lines that come once per iterator or bind, i.e. every epoch: shown once.
_REPEATED = [re.compile(r"ImageRecordIOParser2: .* use \d+ threads for decoding"),
             re.compile(r"Subgraph backend MKLDNN is activated")]


class Log:
    """log(text): a line to stdout and, once attach(run_dir) was called, to RUN/train.log.
    Lines logged before the run directory exists are written when it is attached."""

    def __init__(self):
        self._file = None
        self._pending = []

    def __call__(self, text):
        print(text, flush=True)
        if self._file is None:
            self._pending.append(text)
        else:
            self._write(text)

    def _write(self, text):
        self._file.write(text + "\n")
        self._file.flush()

    def attach(self, run_dir):
        self._file = open(os.path.join(run_dir, "train.log"), "a")
        for text in self._pending:
            self._write(text)
        self._pending = []


def quiet_native_repeats():
    """Route the process's file descriptor 2 through a filter that passes MXNet's native
    messages but shows each of the repeated INFO lines only once. Python's own sys.stderr
    (error messages, progress bars) keeps writing to the terminal directly."""
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = os.fdopen(os.dup(real), "w", buffering=1)
    seen = set()

    def pump():
        with os.fdopen(read_end, "rb") as source:
            for line in source:
                text = line.decode("utf-8", "replace")
                pattern = next((p for p in _REPEATED if p.search(text)), None)
                if pattern is not None:
                    if pattern.pattern in seen:
                        continue
                    seen.add(pattern.pattern)
                os.write(real, line)

    threading.Thread(target=pump, daemon=True, name="native-stderr").start()
