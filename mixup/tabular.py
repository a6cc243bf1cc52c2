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
fit (dataset, method "erm" or "mixup", alpha (0 for ERM), seed, fold, test_error, n_test,
train_error, n_train and the setting), rewritten after every fit, so an interrupted run keeps
what it finished.

The data are those bundled inside scikit-learn (nothing is downloaded).
"""
import json
import os
import sys
import time

from . import threads

if __name__ == "__main__":
    threads.configure_or_reexec("mixup.tabular")

import mixup  # noqa: E402,F401  (first: sets MXNet switches before MXNet loads)
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

from .cli import ArgumentParser, add, finite  # noqa: E402
from .console import quiet_native_repeats  # noqa: E402
from .files import load_json, write_atomic  # noqa: E402
from .progress import bar  # noqa: E402

# scikit-learn's bundled UCI copies: name -> loader in sklearn.datasets
DATASETS = {"iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer",
            "digits": "load_digits"}

# The paper's setting (section 3.5): two hidden layers of 128 ReLU units, Adam with its
# default step size, mini-batches of 16, 10 epochs.
HIDDEN = (128, 128)
LR = 0.001
BATCH_SIZE = 16
EPOCHS = 10

# what a record of results.json needs to be tabulated again (./tools.sh tabular --table)
RECORD_KEYS = frozenset(("dataset", "method", "alpha", "seed", "fold", "epochs", "test_error",
                         "n_test", "train_error", "n_train"))


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
        hidden=HIDDEN, lr=LR, monitor=None):
    """Train the MLP on ``rows`` (ERM when ``alpha`` is None, else mixup) and return its
    (arg_params, aux_params).

    Every epoch takes a new shuffle of the rows in whole batches (a remainder of fewer than
    ``batch_size`` rows waits for the next shuffle: MixUp mixes within a batch, and one row
    alone is never mixed). The initial weights, the shuffles and MixUp's draws are functions
    of ``seed``; ERM and mixup runs of one seed start from the same weights and see the same
    batches. ``monitor``: an ``mx.mon.Monitor`` installed on the training executor (tests
    watch what the layers receive with it), ticked every step as ``Module.fit`` does.
    """
    import symbols.mlp
    module = mx.mod.Module(symbols.mlp.get_symbol(num_classes, hidden, alpha=alpha),
                           data_names=["data"], label_names=["softmax_label"])
    mx.random.seed(seed)  # the MixUp node draws its seed when it is bound
    module.bind(data_shapes=[("data", (batch_size, rows.shape[1]))],
                label_shapes=[("softmax_label", (batch_size,))])
    mx.random.seed(seed)  # the same initial weights with and without a MixUp node
    module.init_params(symbols.mlp.initializer())
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
    import symbols.mlp
    module = mx.mod.Module(symbols.mlp.get_symbol(num_classes, hidden, train=False),
                           data_names=["data"], label_names=["softmax_label"])
    module.bind(data_shapes=[("data", rows.shape)],
                label_shapes=[("softmax_label", (len(rows),))], for_training=False)
    module.set_params(*params)
    module.forward(mx.io.DataBatch([mx.nd.array(rows)]), is_train=False)
    return module.get_outputs()[0].asnumpy().argmax(axis=1)


def error(params, rows, classes, num_classes, hidden=HIDDEN):
    return float(np.mean(predict(params, rows, num_classes, hidden) != classes))


def methods(alphas):
    """[(method, alpha)]: ERM (alpha 0: no MixUp node) first, then mixup per alpha."""
    return [("erm", 0.0)] + [("mixup", float(a)) for a in alphas]


def cross_validate(dataset, rows, classes, *, alphas, seeds, fold_count, epochs, batch_size,
                   hidden, lr, progress=None):
    """Yield one record per fit: seeds x folds x (ERM and each alpha)."""
    num_classes = int(classes.max()) + 1
    for seed in range(seeds):
        for fold, train, test, train_rows, test_rows in folds(rows, classes, fold_count, seed):
            for method, alpha in methods(alphas):
                tic = time.time()
                params = fit(train_rows, classes[train], num_classes,
                             alpha=alpha if method == "mixup" else None,
                             seed=seed * 1000 + fold, epochs=epochs, batch_size=batch_size,
                             hidden=hidden, lr=lr)
                yield {"dataset": dataset, "method": method, "alpha": alpha, "seed": seed,
                       "fold": fold, "folds": fold_count,
                       "test_error": error(params, test_rows, classes[test], num_classes,
                                           hidden),
                       "n_test": len(test),
                       "train_error": error(params, train_rows, classes[train], num_classes,
                                            hidden),
                       "n_train": len(train), "epochs": epochs, "batch_size": batch_size,
                       "hidden": list(hidden), "lr": lr, "optimizer": "adam",
                       "seconds": round(time.time() - tic, 3)}
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
    None without a matching ERM fit."""
    erm = {(r["dataset"], r["epochs"], r["seed"], r["fold"]): r["test_error"]
           for r in records if r["method"] == "erm"}
    keys = [(r["dataset"], r["epochs"], r["seed"], r["fold"]) for r in rows]
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


def table(records):
    """Markdown: one row per (dataset, method, alpha, epochs), in order of first appearance.
    Errors are mean ± standard deviation over the fits; a mixup row also gives its paired
    difference to ERM (see :func:`paired_difference`)."""
    groups = {}
    for r in records:
        groups.setdefault((r["dataset"], r["method"], r["alpha"], r["epochs"]), []).append(r)
    lines = [TABLE_HEADER]
    for (dataset, method, alpha, epochs), rows in groups.items():
        seeds = len({r["seed"] for r in rows})
        paired = paired_difference(records, rows) if method == "mixup" else None
        lines.append("| %s | %s | %s | %d | %s | %s | %d (%d × %d) |%s" % (
            dataset, "ERM" if method == "erm" else "mixup",
            "–" if method == "erm" else "%g" % alpha, epochs,
            _mean_std([r["test_error"] for r in rows]),
            _mean_std([r["train_error"] for r in rows]), len(rows), len(rows) // seeds, seeds,
            _paired_cell(paired)))
    return "\n".join(lines)


def _is_record(r):
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
    return (isinstance(r, dict) and RECORD_KEYS <= set(r) and r["method"] in ("erm", "mixup")
            and isinstance(r["dataset"], str)
            and all(number(r[k]) for k in ("alpha", "seed", "fold", "epochs"))
            and all(number(r[k]) and r[k] >= 1 for k in ("n_test", "n_train"))
            and all(number(r[k]) and 0 <= r[k] <= 1 for k in ("test_error", "train_error")))


def print_tables(paths, parser):
    """``--table``: the table of results.json files written earlier (nothing is trained)."""
    records = []
    for path in paths:
        try:
            loaded = load_json(path)
            if not isinstance(loaded, list) or not all(map(_is_record, loaded)):
                raise ValueError("not a list of ./tools.sh tabular records (each with %s)"
                                 % ", ".join(sorted(RECORD_KEYS)))
        except (OSError, ValueError) as error:
            parser.fail("--table %s: %s" % (path, error))
        records.extend(loaded)
    print(table(records))
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
    rows, classes = load(args.dataset)
    smallest_class = int(np.bincount(classes).min())
    if args.folds > smallest_class:
        parser.fail("--folds %d is more than the %d rows of %s's smallest class"
                    % (args.folds, smallest_class, args.dataset))
    smallest_train = len(rows) - -(-len(rows) // args.folds)  # a fold holds at most ceil(N/F)
    if args.batch_size > smallest_train:
        parser.fail("--batch-size %d is larger than a training fold of %s (%d rows)"
                    % (args.batch_size, args.dataset, smallest_train))
    parser.directory("--out", args.out)
    results = os.path.join(args.out, "results.json")
    records = []
    total = args.seeds * args.folds * len(methods(args.alpha))
    with bar(total, "%s, %d fits" % (args.dataset, total), unit="fit") as progress:
        for record in cross_validate(args.dataset, rows, classes, alphas=args.alpha,
                                     seeds=args.seeds, fold_count=args.folds,
                                     epochs=args.epochs, batch_size=args.batch_size,
                                     hidden=hidden, lr=args.lr, progress=progress):
            records.append(record)
            write_atomic(results, json.dumps(records, indent=1) + "\n")
    print(table(records))
    print("wrote %s" % results, file=sys.stderr)
    return 0


if __name__ == "__main__":
    quiet_native_repeats()
    sys.exit(main())
