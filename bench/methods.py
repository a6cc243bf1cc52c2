"""8. The cost of a training step of each training method, against fixed mixup.

Short real runs of ./train.sh's module (a subprocess each, as bench.trainer's) on the synthetic
set (3x32x32 images cropped to 3x28x28), ResNet-20, batch 128: ERM, fixed mixup (the reference), AdaMixup
(--policy adaptive) and the semi-supervised methods (--labeled, --semi ict / mixmatch; a step
takes a labeled batch and an unlabeled batch). Every variant runs once per round, the order
rotating from round to round; each round's ratio to fixed mixup is taken within the round, so
a machine busy with other work slows all variants of a round alike. A step's time is the
labeled batch's images over the run's images/s (epochs 2.. of its metrics.jsonl).

    python -m bench.methods [--rounds 3] [--threads 1] [--out bench/results/METHODS.json]
"""
import argparse
import json
import os
import statistics
import tempfile

from .trainer import _train_rate
from .trainer_parts import BATCH, RESNET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TRAIN, VAL = 2560, 256
REFERENCE = "fixed mixup"
# semi-supervised: a quarter of the images labeled, half of the rest used without labels
SEMI = ["--labeled", str(TRAIN // 4), "--unlabeled", str(TRAIN // 2)]
VARIANTS = {
    "ERM": (["--alpha", "1"], "0"),
    REFERENCE: (["--alpha", "1"], "1"),
    "AdaMixup (--policy adaptive)": (["--policy", "adaptive"], "1"),
}
# ICT mixes the labeled batch as the paper does (alpha 1); MixMatch mixes everything itself
# and refuses the supervised mixing options
VARIANTS["ICT (--semi ict)"] = (SEMI + ["--alpha", "1", "--semi", "ict"], "1")
VARIANTS["MixMatch (--semi mixmatch)"] = (SEMI + ["--semi", "mixmatch"], None)


def run(rounds, epochs, threads):
    """{variant: [ms per step, one per round]} and the machine's foreign load per measurement."""
    from mixup_app.data import preparation
    from .common import with_foreign_load
    times, loads = {name: [] for name in VARIANTS}, {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = os.path.join(tmp, "data")
        preparation.prepare("synthetic", data_dir, log=lambda *_: None,
                            synthetic_counts=(TRAIN, VAL))
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                args, mix_rate = VARIANTS[name]
                rate, load = with_foreign_load(lambda: _train_rate(
                    data_dir, (TRAIN, VAL), epochs, RESNET + args, mix_rate, threads, ROOT,
                    tmp))
                times[name].append(1e3 * BATCH / rate)
                loads[name].append(round(load, 2))
                print("  round %d  %-32s %7.1f ms per step  (other processes: %.2f cores)"
                      % (r + 1, name, times[name][-1], load), flush=True)
    return times, loads


def report(times, loads, epochs, threads):
    from .common import table
    rows = []
    for name, values in times.items():
        ratios = [v / ref for v, ref in zip(values, times[REFERENCE])]
        rows.append({"variant": name, "ms_per_step": "%.0f" % statistics.median(values),
                     "vs_fixed_mixup": "%.2fx" % statistics.median(ratios),
                     "ratio_range": "%.2f-%.2f" % (min(ratios), max(ratios)),
                     "per_round_ms": " ".join("%.0f" % v for v in values)})
    table("8. ms per training step (batch %d; ResNet-20 on synthetic images cropped to "
          "3x28x28, epochs 2-%d, %s "
          "thread(s); median of %d interleaved rounds; other processes kept %.1f cores busy on "
          "average)" % (BATCH, epochs, threads or "the command's", len(times[REFERENCE]),
                        statistics.fmean(v for vs in loads.values() for v in vs)),
          rows, ["variant", "ms_per_step", "vs_fixed_mixup", "ratio_range", "per_round_ms"])
    return {"ms_per_step": times, "loads": loads, "epochs": epochs, "threads": threads,
            "rows": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.methods", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (2.. measured)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="OMP_NUM_THREADS of the runs (default: the command's choice)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "METHODS.json"))
    args = parser.parse_args(argv)
    from .common import machine, write_json
    result = report(*run(args.rounds, args.epochs, args.threads), args.epochs, args.threads)
    write_json(args.out, {"machine": machine(), "methods": result})


if __name__ == "__main__":
    main()
