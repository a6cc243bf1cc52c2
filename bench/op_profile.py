"""Where one call of the MixUp op spends its time, part by part, beside MXNet's floor for a
Python operator (an identity CustomOp): forward + backward, imperative (``mx.nd.Custom`` under
``autograd.record()``) and in a bound graph, per data shape.

    python -m bench.op_profile [--before DIR] [--steps 200]

It runs under MXNet's NaiveEngine (``MXNET_ENGINE_TYPE=NaiveEngine``; the module re-executes
itself with it when it is not set), where every operator runs synchronously in the thread that
pushes it: so the time of a part includes the work of the operators it pushed, and the parts
add up. The engine's threads and their hand-overs, part of the cost of a call under MXNet's
default engine, are then left out: per-call totals under the default engine are
bench/op_alone.py's. Each part is timed exclusively (a part called inside another counts for
itself only); "MXNet outside the op's Python" is the rest of the call.

``--before DIR``: also profile the op of another checkout (see bench/baseline.py).
``--threaded``: keep MXNet's default engine instead: a part's time is then the time its Python
takes in the thread that runs it, including its waits for the engine (read-backs, copies from
the host) but not the operators it leaves to the engine's threads.
"""
import argparse
import os
import statistics
import sys
import time
from collections import Counter
from contextlib import ExitStack, contextmanager

ENGINE = "NaiveEngine"
SHAPES = [(256, 2), (16, 30), (128, 3, 32, 32)]
PARAMS = dict(alpha=0.2, mix_rate=1.0, lam_mode="sample")

# part: [(owner, attribute)], owners named from a package ("{pkg}": the op's package)
PROP = "{pkg}.op.MixUpProp"
PARTS = {
    "prop: parse parameters": [(PROP, "__init__")],
    "prop: MXNet's other prop callbacks": [(PROP, name) for name in (
        "infer_shape", "infer_type", "list_arguments", "list_outputs",
        "declare_backward_dependency")],
    "create_operator: seed from MXNet's RNG": [("{pkg}.op", "_draw_seed")],
    "create_operator: the rest": [(PROP, "create_operator")],
    "result_deps bookkeeping": [("mixup_compat.CustomOpBackwardDependencies", name)
                                for name in ("give_back", "declared_by_mixup")],
    "label check": [("{pkg}.op", "check_labels")],
    "labels to probabilities (one-hot)": [("{pkg}.op", "label_probabilities")],
    "plan: random generator (seed, step)": [("numpy.random", "default_rng")],
    "plan: draws (numpy)": [("{pkg}.op", "draw_batch_plan")],
    "CSR matrix: build, move to device": [("{pkg}.mixing.RowMixing", "matrix"),
                                          ("mxnet.ndarray.sparse", "csr_matrix")],
    "device mixing: sparse dot": [("mxnet.ndarray.sparse", "dot")],
    "device mixing: the rest (reshapes, float16, CutMix)": [
        ("{pkg}.mixing.RowMixing", "apply"), ("{pkg}.mixing.BoxMixing", "apply"),
        ("{pkg}.mixing.BoxMixing", "mask")],
    "host mixing (numpy)": [("{pkg}.mixing.RowMixing", "apply_numpy"),
                            ("{pkg}.mixing.BoxMixing", "apply_numpy")],
    "views of the callback's arrays (CPU)": [("{pkg}.op", "_view")],
    "read-back to the host": [("mxnet.ndarray.NDArray", "asnumpy"),
                              ("mxnet.ndarray.NDArray", "asscalar")],
    "copies from the host (_sync_copyfrom)": [("mxnet.ndarray.NDArray", "_sync_copyfrom")],
    "CustomOp.assign (dst[:] = src)": [("mxnet.operator.CustomOp", "assign")],
    "device copy (copyto)": [("mxnet.ndarray.NDArray", "copyto")],
    "forward: the rest of the op's Python": [
        (owner, "forward") for owner in ("{pkg}.op.MixUpOp", "bench.floor.Identity",
                                         "bench.floor.IdentityPair")],
    "backward: the rest of the op's Python": [
        (owner, "backward") for owner in ("{pkg}.op.MixUpOp", "bench.floor.Identity",
                                          "bench.floor.IdentityPair")],
}
REST = "MXNet outside the op's Python"


class ExclusiveTimer:
    """Wraps callables so that each call's time, less the time of wrapped calls inside it,
    adds to its part."""

    def __init__(self):
        self.seconds = Counter()
        self._stack = []

    def wrap(self, part, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            self._stack.append(0.0)
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                inner = self._stack.pop()
                self.seconds[part] += elapsed - inner
                if self._stack:
                    self._stack[-1] += elapsed
        timed.__wrapped__ = function
        return timed


def _resolve(path):
    import importlib
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            owner = getattr(owner, name, None)
        return owner
    return None


@contextmanager
def _patched(owner, attribute, replacement):
    original = owner.__dict__[attribute]
    setattr(owner, attribute, replacement)
    try:
        yield
    finally:
        setattr(owner, attribute, original)


@contextmanager
def instrumented(timer, packages):
    """Every part of PARTS that exists in ``packages`` (and MXNet) wrapped by ``timer``."""
    with ExitStack() as stack:
        done = set()
        for part, path, attribute in ((p, o, a) for p, owners in PARTS.items()
                                      for o, a in owners):
            for package in packages:
                owner = _resolve(path.format(pkg=package))
                key = (id(owner), attribute)
                if owner is None or key in done or attribute not in vars(owner):
                    continue
                done.add(key)
                stack.enter_context(_patched(owner, attribute,
                                             timer.wrap(part, vars(owner)[attribute])))
        yield


def profile(step, timer, steps):
    """Median total seconds per call, and each part's mean seconds per call."""
    for _ in range(10):
        step()
    timer.seconds.clear()
    totals = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        totals.append(time.perf_counter() - start)
    parts = {part: seconds / steps for part, seconds in timer.seconds.items()}
    parts[REST] = max(0.0, statistics.fmean(totals) - sum(parts.values()))
    return statistics.median(totals), statistics.fmean(totals), parts


def run(steps=200, before=None, shapes=SHAPES, engine=ENGINE):
    import mixup  # noqa: F401  (registers MixUp)
    import mxnet as mx
    from . import floor
    from .common import table
    ops = {"identity": floor.IDENTITY_OP_TYPE, "pair": floor.PAIR_OP_TYPE}
    packages = ["mixup"]
    if before:
        from .baseline import BEFORE_OP_TYPE, load_op
        load_op(before)
        ops["before"] = BEFORE_OP_TYPE
        packages.append("mixup_before")
    ops["MixUp"] = "MixUp"
    FLOORS = {floor.IDENTITY_OP_TYPE: floor.identity_symbol,
              floor.PAIR_OP_TYPE: floor.identity_pair_symbol}
    ctx = mx.cpu()
    results = []
    for shape in shapes:
        columns, rows = [], {}
        for mode in ("imperative", "bound"):
            for name, op_type in ops.items():
                params = {} if op_type in FLOORS else PARAMS
                if mode == "imperative":
                    step = floor.imperative(shape, ctx, op_type, **params)
                else:
                    step = floor.bound(shape, ctx, FLOORS.get(op_type) or floor.custom_symbol(
                        op_type), **params)
                timer = ExclusiveTimer()
                with instrumented(timer, packages):
                    median, mean, parts = profile(step, timer, steps)
                column = "%s %s" % (name, "imp" if mode == "imperative" else "sym")
                columns.append(column)
                for part, seconds in parts.items():
                    rows.setdefault(part, {"part": part})[column] = "%.3f" % (1e3 * seconds)
                rows.setdefault("total (mean)", {"part": "total (mean)"})[column] = (
                    "%.3f" % (1e3 * mean))
                results.append({"shape": list(shape), "op": name, "mode": mode,
                                "median_ms": 1e3 * median, "mean_ms": 1e3 * mean,
                                "parts_ms": {k: 1e3 * v for k, v in parts.items()}})
        order = list(PARTS) + [REST, "total (mean)"]
        ordered = [rows[p] for p in dict.fromkeys(order) if p in rows]
        table("Profile of one call, %s data, ms per call (%s engine; forward + backward)"
              % ("x".join(map(str, shape)), engine), ordered, ["part"] + columns)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.op_profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="calls timed per column")
    parser.add_argument("--before", default=None,
                        help="a checkout of an earlier commit whose op is profiled too")
    parser.add_argument("--threaded", action="store_true",
                        help="MXNet's default engine instead of the NaiveEngine")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if not args.threaded and os.environ.get("MXNET_ENGINE_TYPE") != ENGINE:
        env = dict(os.environ, MXNET_ENGINE_TYPE=ENGINE)
        os.execvpe(sys.executable, [sys.executable, "-m", "bench.op_profile"]
                   + (argv if argv is not None else sys.argv[1:]), env)
    results = run(args.steps, args.before, engine="default" if args.threaded else ENGINE)
    if args.out:
        from .common import machine, write_json
        write_json(args.out, {"machine": machine(), "threaded": args.threaded, "params": PARAMS,
                              "profile": results})
        print("\nwrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
