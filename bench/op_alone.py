"""1. The op alone, forward + backward, beside MXNet's floor for a Python operator: per data
shape, in one interleaved run, imperative (``mx.nd.Custom`` under ``autograd.record()``) and
bound in a graph:

* identity_op: an identity CustomOp (copy in -> out, grad -> grad), the least any Python op
  costs (bench/floor.py); identity_pair_op: the same with MixUp's signature (data and label in,
  data and a (N, 10) label out);
* mixup_op, cutmix_op (4-D data), other_class_op (pairing='other_class'): our op;
* builtin_composition: the same mixing composed from MXNet's operators (bench/alternatives.py);
* copy_floor (bound row): copying the data forward and the gradient back, nothing else;
* with ``--before DIR``: before_mixup_op, before_cutmix_op, the op of another checkout
  (bench/baseline.py), for a before/after comparison.

Ratios are to the identity op of the same row (imperative or bound), and with ``--before`` our
op's to the earlier op in the same mode (vs_before): the mean of per-round ratios with a 95%
confidence interval.

    python -m bench.op_alone [--rounds 7] [--before DIR] [--shapes 256x2,16x30]
"""
import argparse
import math
import sys

import mixup  # noqa: F401  (registers MixUp)
import mxnet as mx

from . import floor
from .alternatives import builtin_mixup
from .common import interleaved, paired_ratios, table

SHAPES = [(256, 2), (16, 30), (128, 3, 32, 32), (128, 16, 32, 32), (128, 64, 8, 8)]
# one lambda per mixed sample, every sample mixed: the setting, the most draws
PARAMS = dict(alpha=0.2, mix_rate=1.0, lam_mode="sample")
VARIANTS = {  # name: (op_type, extra parameters, needs 4-D data)
    "mixup_op": ("MixUp", {}, False),
    "cutmix_op": ("MixUp", {"mode": "cutmix"}, True),
    "other_class_op": ("MixUp", {"pairing": "other_class"}, False),
}
BEFORE = {"mixup_op": "before_mixup_op", "cutmix_op": "before_cutmix_op"}  # after: before


def _candidates(shape, ctx, before):
    variants = dict(VARIANTS)
    if before:
        from .baseline import BEFORE_OP_TYPE, load_op
        load_op(before)
        variants["before_mixup_op"] = (BEFORE_OP_TYPE, {}, False)
        variants["before_cutmix_op"] = (BEFORE_OP_TYPE, {"mode": "cutmix"}, True)
    four_d = len(shape) == 4
    imperative = {"identity_op": floor.imperative(shape, ctx, floor.IDENTITY_OP_TYPE),
                  "identity_pair_op": floor.imperative(shape, ctx, floor.PAIR_OP_TYPE)}
    bound = {"identity_op": floor.bound(shape, ctx, floor.identity_symbol),
             "identity_pair_op": floor.bound(shape, ctx, floor.identity_pair_symbol)}
    for name, (op_type, extra, needs_4d) in variants.items():
        if needs_4d and not four_d:
            continue
        imperative[name] = floor.imperative(shape, ctx, op_type, **PARAMS, **extra)
        bound[name] = floor.bound(shape, ctx, floor.custom_symbol(op_type), **PARAMS, **extra)
    imperative["builtin_composition"] = floor.imperative_graph(
        shape, ctx, lambda F, d, l, **kw: builtin_mixup(d, l, F=F, **kw), **PARAMS)
    bound["builtin_composition"] = floor.bound(shape, ctx, lambda d, l, **kw: builtin_mixup(
        d, l, num_classes=floor.NUM_CLASSES, batch=shape[0], ndim=len(shape), **kw), **PARAMS)
    bound["copy_floor"] = floor.copy_floor(shape, ctx)
    return imperative, bound


def run(ctx, rounds=7, iters=None, before=None, shapes=SHAPES):
    """Rows {shape, mode, impl, ms, vs_identity} for every shape and candidate."""
    results = []
    for shape in shapes:
        imperative, bound = _candidates(shape, ctx, before)
        candidates = {("imperative", k): v for k, v in imperative.items()}
        candidates.update({("bound", k): v for k, v in bound.items()})
        calls = iters or (10 if math.prod(shape) < 100000 else 3)
        timing = interleaved(candidates, rounds, calls)
        for mode in ("imperative", "bound"):
            mine = {name: t for (m, name), t in timing.items() if m == mode}
            ratios = paired_ratios(mine, "identity_op")
            for name, t in mine.items():
                row = {"shape": "x".join(map(str, shape)), "mode": mode, "impl": name,
                       "ms": round(1e3 * t["median_s"], 3), "vs_identity": _ci(ratios[name])}
                if BEFORE.get(name) in mine:
                    row["vs_before"] = _ci(paired_ratios(mine, BEFORE[name])[name])
                results.append(row)
    table("1. The op alone, forward + backward (median ms per call; vs the identity CustomOp "
          "of the same mode%s: mean of per-round ratios, 95%% CI)"
          % (" and vs the earlier op" if before else ""), results,
          ["shape", "mode", "impl", "ms", "vs_identity"] + (["vs_before"] if before else []))
    if before:
        from .baseline import same_results
        table("Before and after, bound after the same mx.random.seed: identical outputs and "
              "gradients, element for element?", [{"configuration": c, "identical": same}
                                         for c, same in same_results()],
              ["configuration", "identical"])
    return results


def _ci(ratio):
    return "%.2f (%.2f..%.2f)" % (ratio["mean"], ratio["low"], ratio["high"])


def _shape(text):
    return tuple(int(v) for v in text.split("x"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.op_alone", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iters", type=int, default=None,
                        help="calls per candidate and round (default: 10, 3 for large data)")
    parser.add_argument("--before", default=None,
                        help="a checkout of an earlier commit whose op is timed too")
    parser.add_argument("--shapes", default=",".join("x".join(map(str, s)) for s in SHAPES))
    parser.add_argument("--gpu", type=int, default=None, help="GPU index (default: the CPU)")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    ctx = mx.cpu() if args.gpu is None else mx.gpu(args.gpu)
    results = run(ctx, args.rounds, args.iters, args.before,
                  [_shape(s) for s in args.shapes.split(",")])
    if args.out:
        from .common import machine, write_json
        write_json(args.out, {"machine": machine(), "context": str(ctx), "params": PARAMS,
                              "before": args.before, "op_alone": results})
        print("\nwrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
