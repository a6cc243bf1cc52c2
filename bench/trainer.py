"""7. ./train.sh against its own bound step, across threads, and against GluonCV's mixup recipe.

Every measurement is a fresh process (MXNet sizes its OpenMP pool when it loads), the
variants run in turn within each round and the order rotates from round to round; ratios are
taken within a round (the same phase of the machine) and summarised over rounds:

- **bound step**: the graph ./train.sh trains (``mixup_app.fit.training_graph``: ResNet-20, 3x28x28,
  MixUp at the input; or GluonCV's ``cifar_resnet20_v1`` at 3x32x32) bound in a Module with
  the trainer's optimizer, one preloaded batch of the set, forward + backward + update and a
  wait per step: what the trainer could reach with free data and no bookkeeping;
- **./train.sh**: short real runs of the training command (what ./train.sh executes, as a
  subprocess) on a synthetic set of 3x32x32 images, ERM and MixUp, at its default threads and
  at one thread; images/s of epochs 2.. from the run's metrics.jsonl;
- **GluonCV's recipe loop** (:mod:`bench.gluoncv_recipe`) on the same images, every core, with
  0 and with 2 DataLoader workers (its better one is the reference), against
  ``./train.sh --network gluoncv:cifar_resnet20_v1 --image-shape 3,32,32``.

    python -m bench.trainer [--rounds 2] [--only trainer|gluoncv] [--before DIR] [--rotate K]
    python -m bench.trainer --combine A.json B.json ...   # short runs' rounds, side by side
    python -m bench.trainer --profile [--rounds 8]

``--before DIR`` also runs DIR's training command (a checkout of another commit, run from DIR)
in the same rounds: before/after figures from one run. ``--profile`` times the parts of the
training loop in one process (the loop is mixup_app.fit's own functions): ms per step by part.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from .trainer_parts import BATCH, GLUONCV, RESNET, bound_step, run_config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
def _probe(argv):
    """python -m bench.trainer --probe DATA_DIR TRAIN,VAL resnet|gluoncv: one JSON line."""
    import mixup  # noqa: F401  (first: MXNet switches)
    data_dir, size, network = argv
    config = run_config(data_dir, tuple(int(v) for v in size.split(",")),
                         GLUONCV if network == "gluoncv" else RESNET)
    print(json.dumps({"step_s": bound_step(config)}))


# ---------------------------------------------------------------------- the measurements

def _env(threads):
    """The environment of a measured process: OMP_NUM_THREADS unset (the command's own
    choice) or set to `threads`."""
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.pop("MIXUP_THREADS_APPLIED", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def _last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def _train_rate(data_dir, size, epochs, network_args, mix_rate, threads, code, tmp):
    """images/s of epochs 2.. of a real run of the training command from checkout `code`
    (``mix_rate`` None: no --mix-rate, for methods that refuse it)."""
    out_dir = tempfile.mkdtemp(dir=tmp)
    cmd = [sys.executable, "-m", "mixup_app.train", "--dataset", "synthetic", "--data-dir",
           data_dir, "--synthetic-size", "%d,%d" % size, "--num-epochs", str(epochs),
           "--val-every", str(epochs), "--out-dir", out_dir, "--progress", "off"] + (
               ["--mix-rate", mix_rate] if mix_rate is not None else []) + list(network_args)
    subprocess.run(cmd, env=_env(threads), cwd=code, check=True, capture_output=True,
                   text=True)
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()][1:]
    images = sum(r["images_per_sec"] * r["seconds"] for r in rows)
    return images / sum(r["seconds"] for r in rows)


def _probe_rate(data_dir, size, network, threads):
    out = subprocess.run([sys.executable, "-m", "bench.trainer", "--probe", data_dir,
                          "%d,%d" % size, network], env=_env(threads), cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return BATCH / _last_json(out)["step_s"]


def _recipe_rate(data_dir, epochs, workers, threads):
    out = subprocess.run([sys.executable, "-m", "bench.gluoncv_recipe", "--data-dir", data_dir,
                          "--workers", str(workers), "--epochs", str(epochs)],
                         env=_env(threads), cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout
    rows = _last_json(out)["epochs"][1:]
    return sum(r["images"] for r in rows) / sum(r["seconds"] for r in rows)


def variants(only, data_dir, size, epochs, before, tmp):
    """name -> a function measuring images/s, for the groups in `only`."""
    from mixup_app.threads import available_cores
    cores = available_cores()
    found = {}

    def trainer(name, network_args, mix_rate, threads, code=ROOT):
        found[name] = lambda: _train_rate(data_dir, size, epochs, network_args, mix_rate,
                                          threads, code, tmp)
    if "trainer" in only:
        found["bound step"] = lambda: _probe_rate(data_dir, size, "resnet", cores)
        found["bound step, 1 thread"] = lambda: _probe_rate(data_dir, size, "resnet", 1)
        trainer("./train.sh MixUp", RESNET, "0.7", None)
        trainer("./train.sh ERM", RESNET, "0", None)
        trainer("./train.sh MixUp, 1 thread", RESNET, "0.7", 1)
        if before:
            trainer("before: ./train.sh MixUp", RESNET, "0.7", None, before)
            trainer("before: ./train.sh MixUp, 1 thread", RESNET, "0.7", 1, before)
    if "gluoncv" in only:
        found["gluoncv bound step"] = lambda: _probe_rate(data_dir, size, "gluoncv", cores)
        trainer("./train.sh gluoncv MixUp", GLUONCV, "0.7", None)
        if before:
            trainer("before: ./train.sh gluoncv MixUp", GLUONCV, "0.7", None, before)
        for workers in (0, 2):
            found["GluonCV recipe, %d workers" % workers] = (
                lambda w=workers: _recipe_rate(data_dir, epochs, w, cores))
    return found


# pairs (measured, reference) whose per-round ratio is reported
RATIOS = [("./train.sh MixUp", "bound step"), ("./train.sh ERM", "bound step"),
          ("./train.sh MixUp", "./train.sh MixUp, 1 thread"),
          ("bound step", "bound step, 1 thread"),
          ("./train.sh ERM", "./train.sh MixUp"),
          ("./train.sh gluoncv MixUp", "gluoncv bound step"),
          ("./train.sh gluoncv MixUp", "GluonCV recipe (better of 0, 2 workers)"),
          ("gluoncv bound step", "GluonCV recipe (better of 0, 2 workers)"),
          ("before: ./train.sh MixUp", "bound step"),
          ("before: ./train.sh MixUp", "before: ./train.sh MixUp, 1 thread"),
          ("before: ./train.sh gluoncv MixUp", "GluonCV recipe (better of 0, 2 workers)"),
          ("./train.sh MixUp", "before: ./train.sh MixUp"),
          ("./train.sh gluoncv MixUp", "before: ./train.sh gluoncv MixUp")]


def _spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


def run(rounds=2, size=(2560, 256), epochs=3, only=("trainer", "gluoncv"), before=None,
        rotate=0):
    """Measure every variant in `rounds` interleaved rounds (the first round's order rotated
    by `rotate`, so that short runs combined with --combine do not all start alike)."""
    from mixup_app.data import preparation
    from .common import with_foreign_load
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = os.path.join(tmp, "data")
        preparation.prepare("synthetic", data_dir, log=lambda *_: None, synthetic_counts=size)
        found = variants(only, data_dir, size, epochs, before, tmp)
        rates = {name: [] for name in found}
        loads = {name: [] for name in found}
        names = list(found)
        for r in range(rotate, rotate + rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                rate, load = with_foreign_load(found[name])
                rates[name].append(rate)
                loads[name].append(round(load, 2))
                print("  round %d  %-40s %7.1f images/s  (other processes: %.2f cores)"
                      % (r + 1, name, rate, load), flush=True)
    return report(rates, size, epochs, loads)


BUSY = 0.25  # cores other processes kept busy during a measurement above which it is dropped


def report(rates, size, epochs, loads=None):
    """The tables of `rates` ({variant: [images/s per round]}, rounds aligned across
    variants) and the ratios taken within each round. `loads` ({variant: [cores other
    processes kept busy meanwhile]}): a measurement with more than BUSY is shown in brackets
    and left out of the medians and of the ratios (a round's ratio needs both clean)."""
    from .common import table
    rates = {k: v for k, v in rates.items() if not k.startswith("GluonCV recipe (better")}
    loads = {k: loads.get(k) or [0.0] * len(v) for k, v in rates.items()} if loads else {
        k: [0.0] * len(v) for k, v in rates.items()}
    rounds = max(len(v) for v in rates.values())
    recipes = [k for k in rates if k.startswith("GluonCV recipe")]
    if recipes:
        best = "GluonCV recipe (better of 0, 2 workers)"
        rates[best] = [max(v) for v in zip(*(rates[k] for k in recipes))]
        loads[best] = [max(v) for v in zip(*(loads[k] for k in recipes))]
    clean = {k: [x if load <= BUSY else None for x, load in zip(v, loads[k])]
             for k, v in rates.items()}
    dropped = sum(x is None for v in clean.values() for x in v)
    rows = []
    for name, v in clean.items():
        kept = [x for x in v if x is not None] or rates[name]
        rows.append({"variant": name, "images_per_s": round(statistics.median(kept), 1),
                     "ms_per_step": round(1e3 * BATCH / statistics.median(kept), 1),
                     "per_round": " ".join("%.0f" % x if x is not None else "(%.0f)" % y
                                           for x, y in zip(v, rates[name]))})
    table("7. ./train.sh, its bound step and GluonCV's recipe loop (images/s, median of %d "
          "interleaved rounds; synthetic 3x32x32, %d training images, epochs 2-%d; %d "
          "measurements in brackets dropped: other processes kept > %.2f cores busy)"
          % (rounds, size[0], epochs, dropped, BUSY), rows,
          ["variant", "images_per_s", "ms_per_step", "per_round"])
    ratios = []
    for measured, reference in RATIOS:
        if measured in rates and reference in rates:
            per_round = [a / b for a, b in zip(clean[measured], clean[reference])
                         if a is not None and b is not None]
            if per_round:
                ratios.append({"ratio": "%s / %s" % (measured, reference),
                               "median": "%.2fx" % statistics.median(per_round),
                               "range": "%.2f-%.2f" % (min(per_round), max(per_round)),
                               "rounds": len(per_round), "per_round": per_round})
    table("7. Ratios of images/s (per round, both measurements clean; the median over rounds)",
          ratios, ["ratio", "median", "range", "rounds"])
    return {"rates": {k: _spread(v) for k, v in rates.items()}, "loads": loads,
            "ratios": ratios, "rounds": rounds, "train_size": list(size), "epochs": epochs}


def combine(paths):
    """The tables of several runs' JSON files (--out of short runs, each its own rounds):
    their rounds side by side, per variant (runs written before loads were recorded count as
    clean)."""
    rates, loads, size, epochs = {}, {}, None, None
    for path in paths:
        with open(path) as f:
            result = json.load(f)["trainer"]
        size, epochs = tuple(result["train_size"]), result["epochs"]
        for name, spread in result["rates"].items():
            rates.setdefault(name, []).extend(spread["values"])
            loads.setdefault(name, []).extend(result.get("loads", {}).get(
                name, [0.0] * len(spread["values"])))
    return report(rates, size, epochs, loads)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.trainer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default: 2; --profile: 8)")
    parser.add_argument("--only", choices=["trainer", "gluoncv"], default=None,
                        help="one group of variants (default: both)")
    parser.add_argument("--train-size", type=int, default=2560,
                        help="training images of the synthetic set")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (2.. measured)")
    parser.add_argument("--before", metavar="DIR",
                        help="also run the training command of the checkout in DIR")
    parser.add_argument("--profile", action="store_true",
                        help="the training loop's parts, ms per step (one process)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="--profile: MXNet's threads, as the commands' --threads N "
                             "(default: what they choose)")
    parser.add_argument("--rotate", type=int, default=0, metavar="K",
                        help="start the rotation of the order at round K (for runs combined "
                             "with --combine)")
    parser.add_argument("--combine", nargs="+", metavar="JSON",
                        help="no measurement: the tables of these runs' JSON files together")
    parser.add_argument("--out", default=None, help="JSON file (default: bench/results/"
                        "TRAINER.json, or TRAINER-PROFILE.json)")
    args = parser.parse_args(argv)
    from .common import machine, write_json
    if args.combine:
        result = combine(args.combine)
        name = "TRAINER.json"
    elif args.profile:
        from . import trainer_profile
        result = trainer_profile.run(rounds=args.rounds or 8)
        name = "TRAINER-PROFILE.json"
    else:
        result = run(rounds=args.rounds or 2, size=(args.train_size, 256), epochs=args.epochs,
                     only=(args.only,) if args.only else ("trainer", "gluoncv"),
                     before=args.before and os.path.abspath(args.before), rotate=args.rotate)
        name = "TRAINER.json"
    out = args.out or os.path.join(HERE, "results", name)
    write_json(out, {"machine": machine(), "trainer": result})
    print("\nwrote %s" % out)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        _probe(sys.argv[2:])
    else:
        if "--profile" in sys.argv:  # the threads ./train.sh would run with
            from mixup_app import threads
            threads.configure_or_reexec("bench.trainer")
        sys.exit(main())
