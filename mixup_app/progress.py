"""Progress for long work: a bar (tqdm, with rate and ETA) on a terminal; off a terminal (a log,
CI, `nohup`), quiet unless asked, or, for work that asks for ``lines``, a plain line every so
many steps, so a run shows it is alive within seconds whatever its output is."""
import os
import sys
import time

from tqdm import tqdm

# off a terminal: a line after this many updates, then every LINES_EVERY updates or
# LINE_SECONDS, whichever comes first
FIRST_LINE_AFTER = 5
LINES_EVERY = 50
LINE_SECONDS = 30.0


def bar(total, desc, unit="img", enabled=None, lines=0):
    """A progress bar (a context manager with ``update(n)``). ``enabled``: True / False, or
    None for a bar when stderr is a terminal (or MIXUP_PROGRESS=1); ``lines``: when that
    leaves no bar (and MIXUP_PROGRESS is not 0), :class:`Lines` instead, a line every
    ``lines`` updates (True: LINES_EVERY)."""
    if enabled is None:
        setting = os.environ.get("MIXUP_PROGRESS")
        enabled = sys.stderr.isatty() or setting == "1"
        if not enabled and lines and setting != "0":
            return Lines(total, desc, unit, every=LINES_EVERY if lines is True else lines)
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True,
                disable=not enabled, mininterval=0.5, file=sys.stderr)


class Lines:
    """A bar's stand-in off a terminal: 'DESC: done/total UNIT (P%) in T, R UNIT/s, ETA T' on
    stderr after the first FIRST_LINE_AFTER updates, then every ``every`` updates or
    LINE_SECONDS seconds, whichever comes first."""

    def __init__(self, total, desc, unit="img", out=None, every=LINES_EVERY):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.out = out or sys.stderr
        self.done = self.updates = 0
        self.start = self.last = time.time()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        self.done += n
        self.updates += 1
        now = time.time()
        if self.updates == FIRST_LINE_AFTER or self.updates % self.every == 0 or (
                self.updates > FIRST_LINE_AFTER and now - self.last >= LINE_SECONDS):
            self.last = now
            self.out.write(self.line() + "\n")
            self.out.flush()

    def line(self):
        elapsed = max(time.time() - self.start, 1e-9)
        head = "%s: %d/%d %s (%d%%) in %s" % (self.desc, self.done, self.total, self.unit,
                                               100 * self.done // max(self.total, 1),
                                               _clock(elapsed))
        if self.updates <= FIRST_LINE_AFTER:
            # no rate yet: MXNet runs the first steps asynchronously, so a rate over them
            # would be several times the real one
            return head
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 and self.total else 0
        return "%s, %.0f %s/s, ETA %s" % (head, rate, self.unit, _clock(left))


def _clock(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    return "%dm%02ds" % (seconds // 60, seconds % 60)
