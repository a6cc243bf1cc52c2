"""Compare GAN runs (./tools.sh gan): a Markdown table and the paper's figure-5 picture.

    ./tools.sh gan-report RUN [RUN ...] [--plot FILE]

Each RUN needs metrics.json (and, for --plot, snapshots.npz). Runs whose settings are equal
but for --seed form one row: at each radius (0.03 = 3 std, and 0.1) the modes covered (at least
half a mode's share of the points within the radius) and the percentage of points within the
radius of their nearest mode, each as mean ± half the range over the runs, with the number of
runs. Under each shape's rows, the same measures of uniform noise over the plotted square
(computed here, 20 draws): a result is worth reading only where it beats that. --plot draws
one row of panels per row of the table (its run of lowest seed: real points in blue,
generated in orange) and one column per snapshot iteration, as the paper's figure 5.
"""
import os
import sys
import zipfile

import numpy as np

from mixup_app import plots
from mixup_app.cli import ArgumentParser, add
from mixup_app.files import load_json
from mixup_app.experiments.gan import METRICS_FORMAT, RADII, SAMPLES, VIEW, describe, noise_baseline

# what makes runs one row (everything of the setting but the seed)
SETTING = ("shape", "alpha", "lam_law", "lr", "iterations", "hidden", "latent", "batch",
           "d_steps")
_TYPES = {"shape": str, "alpha": (int, float), "lam_law": str, "lr": (int, float),
          "iterations": int, "hidden": int, "latent": int, "batch": int, "d_steps": int,
          "seed": int, "num_modes": int, "format": int, "coverage": list}


def measure(run_dir):
    """A run's metrics.json, checked: ValueError / FileNotFoundError naming the file."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.exists(path):
        raise FileNotFoundError("%s has no metrics.json (not a finished ./tools.sh gan run)"
                                % run_dir)
    try:
        metrics = load_json(path)
    except (OSError, ValueError) as error:
        raise ValueError("%s cannot be read: %s" % (path, error)) from None
    if not isinstance(metrics, dict):
        raise ValueError("%s is not a GAN run's metrics (a JSON object)" % path)
    if metrics.get("format") != METRICS_FORMAT:
        raise ValueError("%s was written by an earlier version of ./tools.sh gan (format %s, "
                         "this reads %d): run it again" % (path, metrics.get("format", 1),
                                                           METRICS_FORMAT))
    for key, kind in _TYPES.items():
        if key not in metrics:
            raise ValueError("%s lacks %r" % (path, key))
        if not isinstance(metrics[key], kind) or isinstance(metrics[key], bool):
            raise ValueError("%s: %r has the wrong type (%s)" % (
                path, key, type(metrics[key]).__name__))
    radii = []
    for entry in metrics["coverage"]:
        if not (isinstance(entry, dict) and all(isinstance(entry.get(k), (int, float))
                                                and not isinstance(entry.get(k), bool)
                                                for k in ("radius", "modes", "high_quality"))):
            raise ValueError("%s: 'coverage' holds an entry that is not a radius's measures"
                             % path)
        radii.append(entry["radius"])
    if radii != list(RADII):
        raise ValueError("%s measures radii %s, this reads %s" % (path, radii, list(RADII)))
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


def table(grouped, baseline=noise_baseline):
    """The Markdown table; ``baseline(shape)`` gives the noise row's {radius: (modes, share)}."""
    head = "| shape | training | lr | iterations | H | runs | " + " | ".join(
        "modes ≤ %g | %% ≤ %g" % (r, r) for r in RADII) + " |"
    lines = [head, "|" + "---|" * (6 + 2 * len(RADII))]
    shapes = []
    for key, runs in grouped.items():
        first = runs[0][1]
        if first["shape"] not in shapes:
            shapes.append(first["shape"])
        cells = []
        for k in range(len(RADII)):
            cells.append("%s of %d" % (_spread([m["coverage"][k]["modes"] for _, m in runs],
                                               "%.1f"), first["num_modes"]))
            cells.append(_spread([100 * m["coverage"][k]["high_quality"] for _, m in runs],
                                 "%.1f"))
        lines.append("| %s | %s | %g | %d | %d | %d | %s |" % (
            first["shape"], describe(first), first["lr"], first["iterations"],
            first["hidden"], len(runs), " | ".join(cells)))
    for shape in shapes:
        measured = baseline(shape)
        cells = []
        for radius in RADII:
            found, share = measured[radius]
            cells += ["%.1f" % found, "%.1f" % (100 * share)]
        lines.append("| %s | uniform noise over the plotted square, %d points (20 draws) "
                     "| | | | | %s |" % (shape, SAMPLES, " | ".join(cells)))
    return "\n".join(lines)


def read_snapshots(run_dir):
    """(real (M, 2), {iteration: fake (M, 2)}) of a run's snapshots.npz, checked."""
    path = os.path.join(run_dir, "snapshots.npz")
    try:
        with np.load(path, allow_pickle=False) as saved:
            iterations, fake, real = saved["iterations"], saved["fake"], saved["real"]
    except FileNotFoundError:
        raise ValueError("%s: no such file (--plot needs every run's snapshots)" % path) \
            from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError("%s cannot be read (cut or not a GAN run's snapshots: %s)"
                         % (path, error)) from None
    if (iterations.ndim != 1 or fake.ndim != 3 or fake.shape[0] != len(iterations)
            or fake.shape[2] != 2 or real.ndim != 2 or real.shape[1] != 2
            or not np.issubdtype(iterations.dtype, np.integer)):
        raise ValueError("%s holds arrays of the wrong shapes (iterations %s, fake %s, real %s)"
                         % (path, iterations.shape, fake.shape, real.shape))
    return real, dict(zip(iterations.tolist(), fake))


def figure(grouped, path):
    """Figure 5's layout: a row per setting (its lowest seed), a column per iteration."""
    grid, row_titles, columns, sizes = [], [], [], set()
    for runs in grouped.values():
        run_dir, metrics = runs[0]
        real, shots = read_snapshots(run_dir)
        columns += [i for i in shots if i not in columns]
        grid.append((real, shots))
        sizes.add("%d iterations, H %d" % (metrics["iterations"], metrics["hidden"]))
        row_titles.append("%s, seed %d\n%s" % (
            metrics["shape"], metrics["seed"],
            describe(metrics).replace(", 2 batches", ",\n2 batches")))
    columns.sort()
    panels = [[(real, shots[i]) if i in shots else None for i in columns]
              for real, shots in grid]
    plots.point_clouds(panels, path, ["iteration %d" % i for i in columns], row_titles,
                       limits=VIEW, title="; ".join(sorted(sizes)))


def main(argv=None):
    parser = ArgumentParser(prog="./tools.sh gan-report", description=__doc__)
    parser.add_argument("runs", nargs="+", help="run directories of ./tools.sh gan")
    add(parser, "--plot", "", "write the figure-5 picture (PNG) here")
    args = parser.parse_args(argv)
    if args.plot:
        parser.output_file("--plot", args.plot)
    try:
        grouped = groups([(run_dir, measure(run_dir)) for run_dir in args.runs])
        if args.plot:  # every snapshot read before anything is printed
            for runs in grouped.values():
                read_snapshots(runs[0][0])
        print(table(grouped))
        if args.plot:
            figure(grouped, args.plot)
    except (OSError, ValueError) as error:
        return parser.report(error)
    return 0


if __name__ == "__main__":
    from mixup_app.interrupts import run_main
    sys.exit(run_main(main))
