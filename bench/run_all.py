"""Run every benchmark, print the tables and write bench/results/RESULTS.json.

    python -m bench.run_all [--gpu 0] [--quick]        (or: make bench)
"""
import argparse
import os
import sys
import tempfile

import mixup  # noqa: F401  (first: MXNet switches)
import mxnet as mx



from . import op_alone, pipeline, threads, throughput, train_step
from .common import machine, table, write_json
from mixup_app.data import preparation

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    parser.add_argument("--gpu", type=int, default=None, help="GPU index (default: the CPU)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller runs")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "RESULTS.json"))
    args = parser.parse_args(argv)
    ctx = mx.cpu() if args.gpu is None else mx.gpu(args.gpu)
    info = machine()
    print("machine: %s" % info)
    rounds = 3 if args.quick else 7
    result = {"machine": info, "context": str(ctx)}
    result["op_alone"] = op_alone.run(ctx, rounds=rounds, iters=3 if args.quick else None)
    result["train_step"] = train_step.run(ctx, rounds=4 if args.quick else 40)
    step_rate = next(r["images_per_s"] for r in result["train_step"]
                     if r["variant"] == "mixup_op@input")
    # the op's own cost as a share of the plain step: precise where the step's noise is not
    plain_ms = next(r["ms_per_step"] for r in result["train_step"] if r["variant"] == "no_mixup")
    shares = [{"shape": r["shape"], "op_ms": r["ms"], "share_of_step": "%.2f%%" % (
        100 * r["ms"] / plain_ms)} for r in result["op_alone"]
        if r["impl"] == "mixup_op" and r["mode"] == "bound"]
    table("2b. The op's forward+backward as a share of the plain ResNet-50 step (%.0f ms)"
          % plain_ms, shares, ["shape", "op_ms", "share_of_step"])
    result["op_share_of_step"] = shares
    with tempfile.TemporaryDirectory() as tmp:
        preparation.prepare("synthetic", tmp, log=lambda *_: None,
                     synthetic_counts=(640 if args.quick else 2560, 128))
        result["pipeline"] = pipeline.run(tmp, "synthetic", step_rate)
        result["throughput"] = throughput.run(
            tmp, "synthetic", rounds=1 if args.quick else 4,
            extra=["--synthetic-size", "%d,128" % (640 if args.quick else 2560)]
            + (["--gpus", str(args.gpu)] if args.gpu is not None else []))
    result["threads"] = threads.run(rounds=2 if args.quick else 5)
    write_json(args.out, result)
    print("\nwrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
