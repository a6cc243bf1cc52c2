"""Timing helpers: interleaved rounds, medians, a table, and JSON with the machine."""
import json
import os
import platform
import statistics
import time

import mxnet as mx

from mixup_app.files import write_atomic


def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "mxnet": mx.__version__,
            "cuda": mx.runtime.Features().is_enabled("CUDA"), "gpus": mx.context.num_gpus(),
            "python": platform.python_version(), "platform": platform.platform()}


def _cpu_seconds():
    """(CPU seconds the whole machine has been busy, CPU seconds of this process and its
    waited-for children), from /proc/stat and os.times()."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    own = os.times()
    busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # not idle, iowait
    return busy, own.user + own.system + own.children_user + own.children_system


def with_foreign_load(fn):
    """(fn(), the cores other processes kept busy meanwhile, on average): a measurement
    taken while something else ran is not one (on 2 cores, one busy core halves a 2-thread
    step). Linux only; elsewhere the load reads 0."""
    try:
        machine0, own0 = _cpu_seconds()
    except OSError:
        return fn(), 0.0
    start = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - start
    machine1, own1 = _cpu_seconds()
    return result, max(0.0, ((machine1 - machine0) - (own1 - own0)) / wall)


def interleaved(candidates, rounds, iters, warmup=2):
    """Median seconds per call of each candidate (name -> fn that does one call and waits).

    Candidates run in turn within every round, so a slow phase of the machine hits all alike,
    and the order rotates from round to round, so no candidate always follows the same one.
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn = candidates[name]
            start = time.perf_counter()
            for _ in range(iters):
                fn()
            samples[name].append((time.perf_counter() - start) / iters)
    return {name: {"median_s": statistics.median(s), "min_s": min(s), "rounds": rounds,
                   "iters": iters, "samples_s": s} for name, s in samples.items()}


def paired_ratios(timing, base):
    """Per-round ratios to `base` (the same round's run of it cancels slow drift of the
    machine): their mean with a 95% confidence interval (normal approximation), and median."""
    result = {}
    for name, t in timing.items():
        ratios = [a / b for a, b in zip(t["samples_s"], timing[base]["samples_s"])]
        mean = statistics.fmean(ratios)
        half = (1.96 * statistics.stdev(ratios) / len(ratios) ** 0.5) if len(ratios) > 1 else 0
        result[name] = {"mean": mean, "low": mean - half, "high": mean + half,
                        "median": statistics.median(ratios)}
    return result


def table(title, rows, columns):
    """Print rows (dicts) as a fixed-width table."""
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("\n" + title)
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)))


def write_json(path, payload):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(path, json.dumps(payload, indent=2))
