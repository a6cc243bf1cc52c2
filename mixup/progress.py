"""Progress bars for long work (tqdm, with rate and ETA); quiet when output is not a terminal
unless asked, so CI logs stay readable."""
import os
import sys

from tqdm import tqdm


def bar(total, desc, unit="img", enabled=None):
    if enabled is None:
        enabled = sys.stderr.isatty() or os.environ.get("MIXUP_PROGRESS") == "1"
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True,
                disable=not enabled, mininterval=0.5, file=sys.stderr)
