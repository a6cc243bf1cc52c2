"""Compare finished runs: a Markdown table (the README's results) and one plot.

    python -m mixup.report RUN [RUN ...] [--plot FILE]

Each RUN needs config.json and metrics.jsonl; test.json (from ./test.sh) adds the scored
accuracy and calibration. Rows keep the order given.
"""
import argparse
import json
import os
import sys

from . import plots, runs


def describe(config):
    if config["mix_rate"] <= 0:
        return "ERM (no MixUp)"
    text = "MixUp a=%g, rate %g, at %s" % (config["alpha"], config["mix_rate"], config["mixup_at"])
    if config.get("mixup_off_epochs"):
        text += ", off for last %d" % config["mixup_off_epochs"]
    return text


def row(run_dir):
    config, metrics = runs.load_config(run_dir), runs.read_metrics(run_dir)
    if not metrics:
        raise ValueError("%s has no finished epoch" % run_dir)
    test_path = os.path.join(run_dir, "test.json")
    scored = json.load(open(test_path)) if os.path.exists(test_path) else None
    last = metrics[-1]
    network = config["network"] + ("-%d" % config["num_layers"]
                                   if config["network"] == "resnet" else "")
    return {
        "run": os.path.basename(os.path.normpath(run_dir)),
        "dataset": config["dataset"], "network": "%s %s" % (network, config["image_shape"]),
        "epochs": last["epoch"], "training": describe(config),
        "accuracy": ("%.2f%% (%d/%d)" % (100 * scored["accuracy"], scored["correct"],
                                         scored["count"]) if scored
                     else "%.2f%%" % (100 * last["val_accuracy"])),
        "val CE": "%.4f" % (scored["cross_entropy"] if scored else last["val_loss"]),
        "ECE": "%.4f" % scored["ece"] if scored else "",
        "best epoch acc": "%.2f%%" % (100 * max(m["val_accuracy"] for m in metrics)),
        "img/s": "%.0f" % (sum(m["images_per_sec"] for m in metrics) / len(metrics)),
    }


def markdown(rows):
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mixup.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories")
    parser.add_argument("--plot", help="write the comparison plot (PNG) here")
    args = parser.parse_args(argv)
    try:
        rows = [row(r) for r in args.runs]
    except (FileNotFoundError, ValueError) as error:
        print("error: %s" % error, file=sys.stderr)
        return 2
    print(markdown(rows))
    if args.plot:
        plots.compare({r["run"] + ": " + r["training"]: runs.read_metrics(d)
                       for r, d in zip(rows, args.runs)}, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
