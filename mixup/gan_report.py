"""Compare GAN runs (./tools.sh gan): a Markdown table and the paper's figure-5 picture.

    ./tools.sh gan-report RUN [RUN ...] [--plot FILE]

Each RUN needs metrics.json (and, for --plot, snapshots.npz). Runs that differ only in --seed
form one row: modes found (of the mixture's) and the percentage of high-quality points, each
as mean ± half the range over the runs, with the number of runs. --plot draws one row of
panels per row of the table (its run of lowest seed: real points in blue, generated in orange)
and one column per snapshot iteration, as the paper's figure 5 (rows ERM / mixup).
"""
import json
import os
import sys

import numpy as np

from . import plots
from .cli import ArgumentParser, add
from .gan import VIEW, describe

# what makes runs one row (everything of the setting but the seed)
SETTING = ("shape", "alpha", "iterations", "hidden", "latent")


def measure(run_dir):
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.exists(path):
        raise FileNotFoundError("%s has no metrics.json (not a finished ./tools.sh gan run)"
                                % run_dir)
    with open(path) as f:
        try:
            metrics = json.load(f)
        except ValueError as error:
            raise ValueError("%s is not JSON: %s" % (path, error))
    missing = [k for k in SETTING + ("seed", "modes", "num_modes", "high_quality")
               if not isinstance(metrics, dict) or k not in metrics]
    if missing:
        raise ValueError("%s lacks %s" % (path, ", ".join(missing)))
    return metrics


def groups(measured):
    """{setting: [(run_dir, metrics) sorted by seed]}, in order of first appearance."""
    grouped = {}
    for run_dir, metrics in measured:
        grouped.setdefault(tuple(metrics[k] for k in SETTING), []).append((run_dir, metrics))
    return {key: sorted(runs, key=lambda r: r[1]["seed"]) for key, runs in grouped.items()}


def _spread(values, fmt):
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 1:
        return fmt % values[0]
    return (fmt + " ± " + fmt) % (values.mean(), (values.max() - values.min()) / 2)


def table(grouped):
    lines = ["| shape | training | iterations | H | runs | modes | high-quality % |",
             "|---|---|---|---|---|---|---|"]
    for (shape, _, iterations, hidden, _), runs in grouped.items():
        found = [m["modes"] for _, m in runs]
        lines.append("| %s | %s | %d | %d | %d | %s of %d | %s |" % (
            shape, describe(runs[0][1]), iterations, hidden, len(runs),
            _spread(found, "%.1f"), runs[0][1]["num_modes"],
            _spread([100 * m["high_quality"] for _, m in runs], "%.1f")))
    return "\n".join(lines)


def figure(grouped, path):
    """Figure 5's layout: a row per setting (its lowest seed), a column per iteration."""
    grid, row_titles, columns = [], [], []
    for runs in grouped.values():
        run_dir, metrics = runs[0]
        with np.load(os.path.join(run_dir, "snapshots.npz")) as saved:
            shots = dict(zip(saved["iterations"].tolist(), saved["fake"]))
            real = saved["real"]
        columns += [i for i in shots if i not in columns]
        grid.append((real, shots))
        row_titles.append("%s, %s\n%d it., H %d, seed %d" % (
            metrics["shape"], describe(metrics), metrics["iterations"], metrics["hidden"],
            metrics["seed"]))
    columns.sort()
    panels = [[(real, shots[i]) if i in shots else None for i in columns]
              for real, shots in grid]
    plots.point_clouds(panels, path, ["iteration %d" % i for i in columns], row_titles,
                       limits=VIEW)


def main(argv=None):
    parser = ArgumentParser(prog="./tools.sh gan-report", description=__doc__)
    parser.add_argument("runs", nargs="+", help="run directories of ./tools.sh gan")
    add(parser, "--plot", "", "write the figure-5 picture (PNG) here")
    args = parser.parse_args(argv)
    if args.plot:
        parser.output_file("--plot", args.plot)
    try:
        grouped = groups([(run_dir, measure(run_dir)) for run_dir in args.runs])
        print(table(grouped))
        if args.plot:
            figure(grouped, args.plot)
    except (OSError, ValueError) as error:
        return parser.report(error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
