"""mixup on tabular data: ERM and mixup side by side on a UCI set, by stratified
cross-validation (the mixup paper's section 3.5 and table 4).

    ./tools.sh tabular --dataset iris|wine|breast_cancer|digits [--alpha A [A ...]]
                       [--seeds K] [--folds F] [--epochs E] [--batch-size B]
                       [--hidden 128,128] [--lr 0.001] --out DIR

For each seed 0..K-1 the rows are split into F stratified folds (scikit-learn's StratifiedKFold,
shuffled with that seed); for each fold the features are standardised with the mean and
standard deviation of the training rows only, and the same network is trained once by ERM and
once with mixup per alpha, from the same initial weights and with the same order of batches:
an MLP of ReLU layers (--hidden), Adam, whose input rows pass through the project's MixUp op
(mix_rate 1, one lambda ~ Beta(alpha, alpha) per batch, the papers' setting) in training and
not when scoring. Each trained network is scored on the fold's held-out rows.

Prints a Markdown table: test and training error, mean ± standard deviation over the F x K
fits, and for each alpha mixup's paired difference to ERM (test error on the same seed and
fold) as a 95% interval by the corrected resampled t of Nadeau and Bengio (2003): the fits
share training rows, so the variance of the mean difference is taken as (1/n + n_test/n_train)
s^2 over the n = F x K differences, not s^2/n, with its two-sided p-value; mixup or ERM is
called "ahead" only when the interval excludes 0. It writes DIR/results.json: one record per
fit, its setting (dataset, folds, seeds, alphas, epochs, batch_size, hidden, lr, optimizer)
and its fit (method "erm" or "mixup", alpha (0 for ERM), seed, fold, test_error, n_test,
train_error, n_train, seconds), rewritten atomically after every fit.

Run again over the same DIR with the same options, the command continues: the fits already
in DIR/results.json are kept, not redone (after Ctrl-C, which stops it at the next training
step, keeps the finished fits and exits with code 130). With other options it refuses and
names the setting that differs: give another --out. --table prints the table of one or more
results.json again, one run (one setting) per file; a mixup row is paired only with the ERM
fits of its own file.

The data are those bundled inside scikit-learn (nothing is downloaded).
"""
import json
import os
import sys
import time

from mixup_app import threads

if __name__ == "__main__":
    threads.configure_or_reexec("mixup_app.experiments.tabular")

import mixup  # noqa: E402,F401  (first: sets MXNet switches before MXNet loads)
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

from mixup_app.cli import ArgumentParser, add, finite  # noqa: E402
from mixup_app.console import quiet_native_repeats  # noqa: E402
from mixup_app.files import load_json, write_atomic  # noqa: E402
from mixup_app.interrupts import StopRequest  # noqa: E402
from mixup_app.progress import bar  # noqa: E402

# scikit-learn's bundled UCI copies: name -> loader in sklearn.datasets
DATASETS = {"iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer",
            "digits": "load_digits"}

# The paper's setting (section 3.5): two hidden layers of 128 ReLU units, Adam with its
# default step size, mini-batches of 16, 10 epochs.
HIDDEN = (128, 128)
LR = 0.001
BATCH_SIZE = 16
EPOCHS = 10

# What defines a run's fits: every record of results.json carries it, so a file tells which
# command line made it (a rerun continues only the same setting) and --table never pairs or
# pools fits of different settings.
SETTING_KEYS = ("dataset", "folds", "seeds", "alphas", "epochs", "batch_size", "hidden", "lr",
                "optimizer")
# the option that sets each (in a refusal's words)
OPTIONS = {"dataset": "--dataset", "folds": "--folds", "seeds": "--seeds", "alphas": "--alpha",
           "epochs": "--epochs", "batch_size": "--batch-size", "hidden": "--hidden",
           "lr": "--lr", "optimizer": "the optimizer"}
# what one fit adds to its setting ("seconds", its duration, is kept but never read)
FIT_KEYS = ("method", "alpha", "seed", "fold", "test_error", "n_test", "train_error", "n_train")


def load(name):
    """(rows float32 (N, F), class indices int64 (N,)) of a bundled dataset."""
    if name not in DATASETS:
        raise ValueError("unknown dataset %r (choose from %s)" % (name, ", ".join(DATASETS)))
    import sklearn.datasets
    rows, classes = getattr(sklearn.datasets, DATASETS[name])(return_X_y=True)
    return rows.astype(np.float32), classes.astype(np.int64)


def folds(rows, classes, count, seed):
    """The stratified cross-validation of one seed: yields (fold, train index, test index,
    standardised training rows, standardised test rows), the scaler fitted on the training
    rows alone (the held-out rows never inform the network, not even through the scaling)."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler
    splitter = StratifiedKFold(n_splits=count, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(rows, classes)):
        scaler = StandardScaler().fit(rows[train])
        yield (fold, train, test, scaler.transform(rows[train]).astype(np.float32),
               scaler.transform(rows[test]).astype(np.float32))


def fit(rows, classes, num_classes, *, alpha, seed, epochs=EPOCHS, batch_size=BATCH_SIZE,
        hidden=HIDDEN, lr=LR, monitor=None, poll=None):
    """Train the MLP on ``rows`` (ERM when ``alpha`` is None, else mixup) and return its
    (arg_params, aux_params).

    Every epoch takes a new shuffle of the rows in whole batches (a remainder of fewer than
    ``batch_size`` rows waits for the next shuffle: MixUp mixes within a batch, and one row
    alone is never mixed). The initial weights, the shuffles and MixUp's draws are functions
    of ``seed``; ERM and mixup runs of one seed start from the same weights and see the same
    batches. ``monitor``: an ``mx.mon.Monitor`` installed on the training executor (tests
    watch what the layers receive with it), ticked every step as ``Module.fit`` does.
    ``poll``: called before every step, in this thread (the command's Ctrl-C raises there).
    """
    import mixup_symbols.mlp
    module = mx.mod.Module(mixup_symbols.mlp.get_symbol(num_classes, hidden, alpha=alpha),
                           data_names=["data"], label_names=["softmax_label"])
    mx.random.seed(seed)  # the MixUp node draws its seed when it is bound
    module.bind(data_shapes=[("data", (batch_size, rows.shape[1]))],
                label_shapes=[("softmax_label", (batch_size,))])
    mx.random.seed(seed)  # the same initial weights with and without a MixUp node
    module.init_params(mixup_symbols.mlp.initializer())
    # Module sets rescale_grad = 1/batch_size: with the loss's normalization 'null' the one
    # division by the batch
    module.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": lr})
    if monitor is not None:
        module.install_monitor(monitor)
    order = np.random.default_rng(seed)
    steps = len(rows) // batch_size
    for _ in range(epochs):
        shuffled = order.permutation(len(rows))
        for step in range(steps):
            if poll is not None:
                poll()
            picked = shuffled[step * batch_size:(step + 1) * batch_size]
            batch = mx.io.DataBatch([mx.nd.array(rows[picked])],
                                    [mx.nd.array(classes[picked])])
            if monitor is not None:
                monitor.tic()
            module.forward_backward(batch)
            module.update()
            if monitor is not None:
                monitor.toc()
    return module.get_params()


def predict(params, rows, num_classes, hidden=HIDDEN):
    """Class indices the trained MLP gives ``rows``, through the scoring graph (no MixUp)."""
    import mixup_symbols.mlp
    module = mx.mod.Module(mixup_symbols.mlp.get_symbol(num_classes, hidden, train=False),
                           data_names=["data"], label_names=["softmax_label"])
    module.bind(data_shapes=[("data", rows.shape)],
                label_shapes=[("softmax_label", (len(rows),))], for_training=False)
    module.set_params(*params)
    module.forward(mx.io.DataBatch([mx.nd.array(rows)]), is_train=False)
    return module.get_outputs()[0].asnumpy().argmax(axis=1)


def error(params, rows, classes, num_classes, hidden=HIDDEN):
    return float(np.mean(predict(params, rows, num_classes, hidden) != classes))


def setting(dataset, *, folds, seeds, alphas, epochs, batch_size, hidden, lr):
    """The setting of a run as its records carry it (see SETTING_KEYS): the alphas sorted and
    without repeats (the same fits whatever order they are given in), widths as a list."""
    return {"dataset": dataset, "folds": int(folds), "seeds": int(seeds),
            "alphas": sorted({float(a) for a in alphas}), "epochs": int(epochs),
            "batch_size": int(batch_size), "hidden": [int(w) for w in hidden],
            "lr": float(lr), "optimizer": "adam"}


def methods(alphas):
    """[(method, alpha)]: ERM (alpha 0: no MixUp node) first, then mixup per alpha."""
    return [("erm", 0.0)] + [("mixup", float(a)) for a in alphas]


def fit_key(record):
    """What tells one fit of a run from another: (seed, fold, method, alpha)."""
    return (record["seed"], record["fold"], record["method"], float(record["alpha"]))


def cross_validate(rows, classes, run, *, done=(), progress=None, poll=None):
    """Yield one record per fit of the setting ``run`` (see :func:`setting`): seeds x folds x
    (ERM and each alpha), skipping the fits whose :func:`fit_key` is in ``done``. ``poll``:
    called between training steps (see :func:`fit`)."""
    num_classes = int(classes.max()) + 1
    hidden = tuple(run["hidden"])
    for seed in range(run["seeds"]):
        for fold, train, test, train_rows, test_rows in folds(rows, classes, run["folds"], seed):
            for method, alpha in methods(run["alphas"]):
                if (seed, fold, method, alpha) in done:
                    continue
                tic = time.time()
                params = fit(train_rows, classes[train], num_classes,
                             alpha=alpha if method == "mixup" else None,
                             seed=seed * 1000 + fold, epochs=run["epochs"],
                             batch_size=run["batch_size"], hidden=hidden, lr=run["lr"],
                             poll=poll)
                yield dict(run, method=method, alpha=alpha, seed=seed, fold=fold,
                           test_error=error(params, test_rows, classes[test], num_classes,
                                            hidden),
                           n_test=len(test),
                           train_error=error(params, train_rows, classes[train], num_classes,
                                             hidden),
                           n_train=len(train), seconds=round(time.time() - tic, 3))
                if progress is not None:
                    progress.update(1)


def _mean_std(values):
    """'mean ± std' in percent (sample standard deviation; a single value alone)."""
    values = 100 * np.asarray(values, dtype=np.float64)
    if len(values) == 1:
        return "%.2f" % values[0]
    return "%.2f ± %.2f" % (values.mean(), values.std(ddof=1))


def corrected_interval(diffs, test_train_ratio, level=0.95):
    """Nadeau and Bengio's (2003) corrected resampled t for the mean of ``diffs``, the paired
    differences of n fits of repeated k-fold cross-validation (Bouckaert and Frank's (2004)
    "corrected repeated k-fold CV test"): (mean, half-width, p).

    The fits share training rows, so their differences are correlated and s^2 / n understates
    the variance of the mean; the correction replaces it with (1/n + n_test/n_train) * s^2,
    s^2 the sample variance of the differences and ``test_train_ratio`` = n_test / n_train.
    The interval is mean ± t_{n-1, (1+level)/2} * sqrt((1/n + ratio) * s^2); p is the two-sided
    p-value of mean = 0 under the same t_{n-1}. With ``test_train_ratio`` 0 this is the ordinary
    paired t interval. Fewer than two differences: half-width and p are NaN; no spread at all
    (s = 0): half-width 0 and p 1 for a mean of 0, else 0.
    """
    from scipy import stats
    diffs = np.asarray(diffs, dtype=np.float64)
    n = len(diffs)
    mean = float(diffs.mean())
    if n < 2:
        return mean, float("nan"), float("nan")
    error = float(np.sqrt((1.0 / n + test_train_ratio) * diffs.var(ddof=1)))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * error
    if error == 0:
        return mean, 0.0, 1.0 if mean == 0 else 0.0
    return mean, half, float(2 * stats.t.sf(abs(mean) / error, n - 1))


def paired_difference(records, rows):
    """mixup's test error minus ERM's on the same (seed, fold) — the same split, the same
    initial weights and batches — over ``rows`` (one mixup setting of one run), in points:
    (mean, half-width of the 95% interval, p, fits where mixup is better, fits where it is
    worse) by :func:`corrected_interval`, with n_test / n_train the mean held-out size over the
    mean training size of the fits (in k-fold cross-validation 1 / (k - 1) up to rounding).
    ``records``: the fits of one run (one setting), never pooled across runs. None without a
    matching ERM fit."""
    erm = {(r["seed"], r["fold"]): r["test_error"] for r in records if r["method"] == "erm"}
    keys = [(r["seed"], r["fold"]) for r in rows]
    if not keys or any(k not in erm for k in keys):
        return None
    diffs = 100 * np.array([r["test_error"] - erm[k] for r, k in zip(rows, keys)])
    ratio = np.mean([r["n_test"] for r in rows]) / np.mean([r["n_train"] for r in rows])
    mean, half, p = corrected_interval(diffs, ratio)
    return mean, half, p, int((diffs < 0).sum()), int((diffs > 0).sum())


def verdict(mean, half):
    """Which side the 95% interval mean ± half lies on: 'mixup ahead' (wholly below 0: lower
    test error), 'ERM ahead' (wholly above 0), else 'no difference shown'."""
    if mean + half < 0:
        return "mixup ahead"
    if mean - half > 0:
        return "ERM ahead"
    return "no difference shown"


def _paired_cell(paired):
    if paired is None:
        return " | | |"
    mean, half, p, better, worse = paired
    return " %+.2f ± %.2f | %.2g | %s (%d / %d) |" % (mean, half, p, verdict(mean, half),
                                                      better, worse)


TABLE_HEADER = ("| dataset | method | α | epochs | test error % | train error % "
                "| fits (folds × seeds) | mixup − ERM, points, paired (95% interval, corrected "
                "resampled t) | p | verdict (fits better / worse) |\n"
                "|---|---|---|---|---|---|---|---|---|---|")

# The paper's setting: what the table names only when a run departs from it
PAPER = {"batch_size": BATCH_SIZE, "hidden": list(HIDDEN), "lr": LR, "optimizer": "adam"}


def _departures(run):
    """'; batch 32, lr 0.01' for a run's settings other than the paper's, else ''."""
    parts = ["%s %s" % (OPTIONS[k].lstrip("-"), _shown(k, run[k]))
             for k in PAPER if run[k] != PAPER[k]]
    return "; " + ", ".join(parts) if parts else ""


def table(runs):
    """Markdown: one row per method and alpha of each run, runs in the order given (``runs``:
    lists of records, each list the fits of one setting, as one results.json holds them).
    Errors are mean ± standard deviation over the fits; a mixup row also gives its paired
    difference to the ERM fits of its own run (see :func:`paired_difference`). Rows of
    different runs are never pooled, even when they look alike; a run's settings other than
    the paper's follow its epochs."""
    lines = [TABLE_HEADER]
    for records in runs:
        run = {k: records[0][k] for k in SETTING_KEYS}
        planned = run["folds"] * run["seeds"]
        groups = {}
        for r in records:
            groups.setdefault((r["method"], float(r["alpha"])), []).append(r)
        for (method, alpha), rows in groups.items():
            paired = paired_difference(records, rows) if method == "mixup" else None
            lines.append("| %s | %s | %s | %d%s | %s | %s | %s (%d × %d) |%s" % (
                run["dataset"], "ERM" if method == "erm" else "mixup",
                "–" if method == "erm" else "%g" % alpha, run["epochs"], _departures(run),
                _mean_std([r["test_error"] for r in rows]),
                _mean_std([r["train_error"] for r in rows]),
                len(rows) if len(rows) == planned else "%d of %d" % (len(rows), planned),
                run["folds"], run["seeds"], _paired_cell(paired)))
    return "\n".join(lines)


def _whole(least):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= least


def _real(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


# key -> (test of its value, what it must be)
_CHECKS = {
    "dataset": (lambda v: isinstance(v, str), "a name"),
    "folds": (_whole(2), "a whole number >= 2"),
    "seeds": (_whole(1), "a whole number >= 1"),
    "alphas": (lambda v: isinstance(v, list) and v != [] and all(_real(a) and a > 0 for a in v),
               "a list of numbers > 0"),
    "epochs": (_whole(1), "a whole number >= 1"),
    "batch_size": (_whole(2), "a whole number >= 2"),
    "hidden": (lambda v: isinstance(v, list) and v != [] and all(map(_whole(1), v)),
               "a list of whole numbers >= 1"),
    "lr": (lambda v: _real(v) and v > 0, "a number > 0"),
    "optimizer": (lambda v: isinstance(v, str), "a name"),
    "method": (lambda v: v in ("erm", "mixup"), "'erm' or 'mixup'"),
    "alpha": (lambda v: _real(v) and v >= 0, "a number >= 0"),
    "seed": (_whole(0), "a whole number >= 0"),
    "fold": (_whole(0), "a whole number >= 0"),
    "test_error": (lambda v: _real(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "n_test": (_whole(1), "a whole number >= 1"),
    "train_error": (lambda v: _real(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "n_train": (_whole(1), "a whole number >= 1"),
}


def check_records(records):
    """``records`` if they are the records of one run of this command, else ValueError with
    the reason: not a non-empty list of objects each with every key of SETTING_KEYS and
    FIT_KEYS, of the right type; records of more than one setting; a fit outside its setting
    (a seed, fold or alpha it does not run, ERM with an alpha); one fit twice. Records without
    'seeds' or 'alphas' are of the older format, which did not keep the whole setting."""
    if not isinstance(records, list):
        raise ValueError("not a list of ./tools.sh tabular records")
    if not records:
        raise ValueError("holds no fits")
    seen = {}
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise ValueError("record %d is not an object" % i)
        missing = [k for k in SETTING_KEYS + FIT_KEYS if k not in r]
        if missing and set(missing) <= {"seeds", "alphas"}:
            raise ValueError("record %d has no %s: an older format of ./tools.sh tabular's "
                             "results, which did not keep the whole setting"
                             % (i, " or ".join(missing)))
        if missing:
            raise ValueError("record %d has no %s" % (i, ", ".join(missing)))
        for key in SETTING_KEYS + FIT_KEYS:
            test, wanted = _CHECKS[key]
            if not test(r[key]):
                raise ValueError("record %d: %s must be %s, got %s"
                                 % (i, key, wanted, json.dumps(r[key])))
        key = differing(r, records[0])
        if key is not None:
            raise ValueError("record %d's %s (%s) is not record 0's (%s): one file holds the "
                             "fits of one setting" % (i, key, json.dumps(r[key]),
                                                      json.dumps(records[0][key])))
        if r["seed"] >= r["seeds"] or r["fold"] >= r["folds"] or (
                (r["method"] == "erm") != (r["alpha"] == 0)) or (
                r["method"] == "mixup" and r["alpha"] not in r["alphas"]):
            raise ValueError("record %d: seed %s, fold %s, %s with alpha %s is not a fit of its "
                             "setting" % (i, r["seed"], r["fold"], r["method"], r["alpha"]))
        if fit_key(r) in seen:
            raise ValueError("record %d repeats the fit of record %d" % (i, seen[fit_key(r)]))
        seen[fit_key(r)] = i
    return records


def read_results(path):
    """The records of a results.json (see :func:`check_records`); OSError or ValueError."""
    return check_records(load_json(path))


def differing(saved, wanted):
    """The first key of SETTING_KEYS whose value differs between two settings, or None."""
    for key in SETTING_KEYS:
        if saved[key] != wanted[key]:
            return key
    return None


def _shown(key, value):
    """A setting's value as its option takes it."""
    if key == "alphas":
        return " ".join("%g" % a for a in value)
    if key == "hidden":
        return ",".join(map(str, value))
    return "%g" % value if isinstance(value, float) else str(value)


def _reason(error):
    return getattr(error, "strerror", None) or str(error)


def print_tables(paths, parser):
    """``--table``: the table of results.json files written earlier (nothing is trained)."""
    runs = []
    for path in paths:
        try:
            runs.append(read_results(path))
        except (OSError, ValueError) as error:
            parser.fail("--table %s: %s" % (path, _reason(error)))
    print(table(runs))
    return 0


def _positive_ints(text):
    widths = [int(w) for w in text.split(",")] if text.strip() else []
    if not widths or min(widths) < 1:
        raise ValueError
    return widths


def make_parser():
    parser = ArgumentParser(prog="./tools.sh tabular", description=__doc__)
    parser.add_argument("--dataset", help="one of: " + ", ".join(DATASETS))
    add(parser, "--alpha", [0.2, 1.0], "mixup's alpha, one or more values > 0 (ERM always "
        "runs beside them)", type=finite, nargs="+")
    add(parser, "--seeds", 3, "repetitions of the cross-validation (seeds 0..K-1)", type=int)
    add(parser, "--folds", 5, "folds of the stratified cross-validation (>= 2)", type=int)
    add(parser, "--epochs", EPOCHS, "passes over the training rows (the paper: 10)", type=int)
    add(parser, "--batch-size", BATCH_SIZE, "rows per step (>= 2; the paper: 16)", type=int)
    add(parser, "--hidden", ",".join(map(str, HIDDEN)), "widths of the hidden ReLU layers, "
        "comma-separated")
    add(parser, "--lr", LR, "Adam's step size (> 0)", type=finite)
    threads.add_option(parser)
    parser.add_argument("--out", help="directory for results.json")
    parser.add_argument("--table", nargs="+", metavar="RESULTS",
                        help="print the table of results.json files written earlier, and stop")
    return parser


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.table:
        return print_tables(args.table, parser)
    for option, value in (("--dataset", args.dataset), ("--out", args.out)):
        if value is None:
            parser.fail("%s is required (or --table RESULTS to print earlier results)" % option)
    if args.dataset not in DATASETS:
        parser.fail("unknown --dataset %r (choose from %s)" % (args.dataset, ", ".join(DATASETS)))
    bad_alpha = [a for a in args.alpha if not a > 0]
    if bad_alpha:
        parser.fail("--alpha must be > 0 (ERM always runs beside mixup), got %g" % bad_alpha[0])
    try:
        for alpha in args.alpha:
            mixup.parse(num_classes=2, alpha=alpha)
    except ValueError as error:
        parser.fail("--alpha: %s" % error)
    parser.at_least(("--seeds", args.seeds, 1), ("--folds", args.folds, 2),
                    ("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 2))
    try:
        hidden = _positive_ints(args.hidden)
    except ValueError:
        parser.fail("--hidden must be comma-separated positive widths, got %r" % args.hidden)
    if not args.lr > 0:
        parser.fail("--lr must be > 0, got %g" % args.lr)
    run = setting(args.dataset, folds=args.folds, seeds=args.seeds, alphas=args.alpha,
                  epochs=args.epochs, batch_size=args.batch_size, hidden=hidden, lr=args.lr)
    results = os.path.join(args.out, "results.json")
    records = []  # what results.json holds: the earlier fits, then each new one
    with StopRequest("stopping before the next training step") as stop:
        try:
            return _cross_validate_into(args.out, run, records, parser, stop.check)
        except KeyboardInterrupt:
            print("interrupted: %d fits kept in %s; run the same command again to continue"
                  % (len(records), results) if records else
                  "interrupted before a fit was finished: nothing written", file=sys.stderr)
            return 130


def _cross_validate_into(out, run, records, parser, poll):
    """The command's work once its options are read: refuse what the dataset rules out,
    continue the fits of OUT/results.json (appending to ``records``), print the table."""
    rows, classes = load(run["dataset"])
    smallest_class = int(np.bincount(classes).min())
    if run["folds"] > smallest_class:
        parser.fail("--folds %d is more than the %d rows of %s's smallest class"
                    % (run["folds"], smallest_class, run["dataset"]))
    smallest_train = len(rows) - -(-len(rows) // run["folds"])  # a fold holds at most ceil(N/F)
    if run["batch_size"] > smallest_train:
        parser.fail("--batch-size %d is larger than a training fold of %s (%d rows)"
                    % (run["batch_size"], run["dataset"], smallest_train))
    parser.directory("--out", out)
    results = os.path.join(out, "results.json")
    records.extend(_earlier(results, run, parser))
    total = run["folds"] * run["seeds"] * len(methods(run["alphas"]))
    earlier = len(records)
    if 0 < earlier < total:
        print("%s: %d of the %d fits are done; continuing" % (results, earlier, total),
              file=sys.stderr)
    with bar(total - len(records), "%s, %d fits" % (run["dataset"], total - len(records)),
             unit="fit") as progress:
        for record in cross_validate(rows, classes, run, done={fit_key(r) for r in records},
                                     progress=progress, poll=poll):
            records.append(record)
            # after every fit, atomically: an interrupted run keeps what it finished
            write_atomic(results, json.dumps(records, indent=1) + "\n")
    print(table([records]))
    print("wrote %s" % results if len(records) > earlier else
          "%s: all %d fits were done already; nothing trained" % (results, total),
          file=sys.stderr)
    return 0


def _earlier(results, run, parser):
    """The fits an earlier run of the same setting left in ``results`` ([] without the file);
    refuses a file that is not such results, or holds another setting's (which a rerun would
    mix with its own)."""
    if not os.path.lexists(results):
        return []
    try:
        records = read_results(results)
    except (OSError, ValueError) as error:
        parser.fail("%s: %s; give another --out" % (results, _reason(error)))
    key = differing(records[0], run)
    if key is not None:
        parser.fail("%s holds fits of another setting (%s %s there, %s here): give another "
                    "--out, or the same options to continue it"
                    % (results, OPTIONS[key], _shown(key, records[0][key]), _shown(key, run[key])))
    return records


if __name__ == "__main__":
    quiet_native_repeats()
    sys.exit(main())
