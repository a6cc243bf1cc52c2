"""./tools.sh tabular: stratified folds scaled on their training rows, mixup reaching the rows
the network trains on (and not the scoring), the records and table, the refusals."""
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, Watch, cli, named, refusal
from mixup_app.experiments import tabular


def relu_mlp_classes(params, rows, depth):
    """An independent forward pass of the trained MLP in numpy: argmax of the logits."""
    args = {k: v.asnumpy() for k, v in params[0].items()}
    h = rows.astype(np.float64)
    for name in ["fc%d" % d for d in range(1, depth + 1)]:
        h = np.maximum(h @ args[name + "_weight"].T + args[name + "_bias"], 0)
    return (h @ args["fc_out_weight"].T + args["fc_out_bias"]).argmax(axis=1)


def test_folds_partition_the_rows_stratified_and_scale_on_training_rows_only(rng):
    classes = np.repeat([0, 1, 2], [30, 20, 10])
    rows = rng.normal(size=(60, 3)) * [1, 10, 100] + [5, -3, 0]
    rows[classes == 2, 0] += 1000  # a class far off: a scaler fitted on all rows would show it
    seen = []
    for fold, train, test, train_rows, test_rows in tabular.folds(rows, classes, 5, seed=3):
        seen.append(test)
        assert not set(train) & set(test) and len(train) + len(test) == 60
        # stratified: each class's rows split as evenly as they can be
        for label, total in zip((0, 1, 2), (30, 20, 10)):
            assert (classes[test] == label).sum() in (total // 5, -(-total // 5))
        # standardised with the training rows' own mean and (population) std, computed here
        mean, std = rows[train].mean(axis=0), rows[train].std(axis=0)
        np.testing.assert_allclose(train_rows, (rows[train] - mean) / std, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(test_rows, (rows[test] - mean) / std, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(train_rows.mean(axis=0), 0, atol=1e-4)
    assert sorted(np.concatenate(seen).tolist()) == list(range(60))
    again = [t.tolist() for _, _, t, _, _ in tabular.folds(rows, classes, 5, seed=3)]
    other = [t.tolist() for _, _, t, _, _ in tabular.folds(rows, classes, 5, seed=4)]
    assert again == [t.tolist() for t in seen] and other != again


def _train_watching(alpha, rows, classes, batch_size):
    """Train one epoch watching the first layer's input and the loss's label; per step, the
    [(name, array)] the forward pass held, in graph order."""
    watch = Watch("^(fc1_data|softmax_label)$")
    tabular.fit(rows, classes, 3, alpha=alpha, seed=5, epochs=1, batch_size=batch_size,
                hidden=(6,), monitor=watch)
    return watch.steps


def test_mixup_reaches_the_rows_and_labels_the_network_trains_on(rng):
    rows = rng.normal(size=(16, 4)).astype(np.float32)
    classes = np.arange(16) % 3
    onehot = np.eye(3)[classes]
    mixed_rows = two_class_labels = 0
    steps = _train_watching(1.0, rows, classes, batch_size=8)
    assert len(steps) == 2  # 16 rows, batches of 8
    for step in steps:
        (seen,) = named(step, "fc1_data")
        # the loss's label (after the graph's own class-index label of the same name)
        label = named(step, "softmax_label")[-1]
        assert seen.shape == (8, 4) and label.shape == (8, 3)
        np.testing.assert_allclose(label.sum(axis=1), 1, atol=1e-6)
        for x, y in zip(seen, label):
            # x = lam * rows[i] + (1 - lam) * rows[j] for some pair of input rows; find it
            best = None
            for i, j in itertools.permutations(range(16), 2):
                d = rows[i] - rows[j]
                lam = float(np.dot(x - rows[j], d) / np.dot(d, d))
                residual = np.abs(lam * rows[i] + (1 - lam) * rows[j] - x).max()
                if best is None or residual < best[0]:
                    best = (residual, i, j, lam)
            residual, i, j, lam = best
            assert residual < 1e-4 and -1e-4 <= lam <= 1 + 1e-4
            np.testing.assert_allclose(y, lam * onehot[i] + (1 - lam) * onehot[j], atol=1e-4)
            mixed_rows += 0.01 < lam < 0.99
            two_class_labels += (y > 1e-4).sum() == 2
    assert mixed_rows >= 8 and two_class_labels >= 4


def test_erm_trains_on_the_rows_themselves_and_scoring_never_mixes(rng):
    rows = rng.normal(size=(16, 4)).astype(np.float32)
    classes = np.arange(16) % 3
    for step in _train_watching(None, rows, classes, batch_size=8):
        (seen,) = named(step, "fc1_data")
        label = named(step, "softmax_label")[-1]
        # whole input rows, each once per epoch, with their class-index labels
        index = [int(np.flatnonzero((rows == x).all(axis=1))[0]) for x in seen]
        np.testing.assert_array_equal(seen, rows[index])
        np.testing.assert_array_equal(label, classes[index])
    # a network trained with mixup scores the rows as its plain MLP does (numpy), every time
    params = tabular.fit(rows, classes, 3, alpha=1.0, seed=2, epochs=3, batch_size=8,
                         hidden=(6, 5))
    expected = relu_mlp_classes(params, rows, 2)
    for _ in range(2):
        np.testing.assert_array_equal(tabular.predict(params, rows, 3, hidden=(6, 5)), expected)
    assert tabular.error(params, rows, classes, 3, hidden=(6, 5)) == np.mean(expected != classes)


@pytest.mark.slow
def test_the_command_writes_one_record_per_fit_and_the_table(tmp_path):
    out = str(tmp_path / "iris")
    proc = cli("mixup_app.experiments.tabular", "--dataset", "iris", "--alpha", "0.5", "--seeds", "2",
               "--folds", "3", "--epochs", "1", "--hidden", "8", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = json.load(open(os.path.join(out, "results.json")))
    assert len(records) == 2 * 3 * 2
    for r in records:
        assert r["dataset"] == "iris" and r["epochs"] == 1 and r["batch_size"] == 16
        assert (r["method"], r["alpha"]) in (("erm", 0.0), ("mixup", 0.5))
        assert 0 <= r["test_error"] <= 1 and r["n_train"] + r["n_test"] == 150
        assert r["test_error"] * r["n_test"] == pytest.approx(round(r["test_error"] * r["n_test"]))
    for method, seed in itertools.product(("erm", "mixup"), (0, 1)):
        picked = [r for r in records if r["method"] == method and r["seed"] == seed]
        assert sorted(r["fold"] for r in picked) == [0, 1, 2]
        assert sum(r["n_test"] for r in picked) == 150  # every row held out once per seed
    erm = 100 * np.array([r["test_error"] for r in records if r["method"] == "erm"])
    row = [line for line in proc.stdout.splitlines() if line.startswith("| iris | ERM")]
    assert row and "%.2f ± %.2f" % (erm.mean(), erm.std(ddof=1)) in row[0]
    assert "6 (3 × 2)" in row[0]
    assert any(line.startswith("| iris | mixup | 0.5 |") for line in proc.stdout.splitlines())


@pytest.mark.parametrize("args, flag", [
    (["--dataset", "abalone"], "abalone"),
    (["--dataset", "iris", "--alpha", "-1"], "--alpha"),
    (["--dataset", "iris", "--alpha", "0"], "--alpha"),
    (["--dataset", "iris", "--alpha", "nan"], "--alpha"),
    (["--dataset", "iris", "--folds", "1"], "--folds"),
    (["--dataset", "iris", "--folds", "51"], "--folds 51"),
    (["--dataset", "iris", "--seeds", "0"], "--seeds"),
    (["--dataset", "iris", "--epochs", "0"], "--epochs"),
    (["--dataset", "iris", "--batch-size", "1"], "--batch-size"),
    (["--dataset", "iris", "--batch-size", "200"], "--batch-size 200"),
    (["--dataset", "iris", "--hidden", "8,0"], "--hidden"),
    (["--dataset", "iris", "--hidden", "wide"], "--hidden"),
    (["--dataset", "iris", "--lr", "0"], "--lr"),
    (["--dataset", "iris", "--lr", "inf"], "--lr"),
    (["--dataset", "iris", "--lr", "nan"], "--lr"),
    (["--dataset", "iris", "--alpha", "inf"], "--alpha"),
])
def test_bad_options_are_refused_in_one_line(args, flag, tmp_path, capsys):
    assert flag in refusal(tabular.main, args + ["--out", str(tmp_path / "out")], capsys)
    assert not os.path.exists(tmp_path / "out")


def test_an_out_path_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "results"
    path.write_text("not a directory")
    assert str(path) in refusal(tabular.main, ["--dataset", "iris", "--out", str(path)], capsys)


def _record(method, alpha, seed, fold, test_error, dataset="wine", epochs=10, n_test=36,
            n_train=142, folds=5, seeds=2, alphas=(0.2, 1.0)):
    return dict(tabular.setting(dataset, folds=folds, seeds=seeds, alphas=alphas, epochs=epochs,
                                batch_size=16, hidden=(128, 128), lr=0.001),
                method=method, alpha=alpha, seed=seed, fold=fold, test_error=test_error,
                train_error=0.0, n_test=n_test, n_train=n_train)


def _reference_interval(diffs, n_test, n_train):
    """Nadeau and Bengio's corrected resampled t written out on its own: (mean, half, p)."""
    from scipy import stats
    n = len(diffs)
    mean = sum(diffs) / n
    s2 = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    se = ((1 / n + n_test / n_train) * s2) ** 0.5
    return mean, stats.t.ppf(0.975, n - 1) * se, 2 * stats.t.sf(abs(mean) / se, n - 1)


def test_the_corrected_interval_is_nadeau_and_bengios_and_without_correction_the_paired_t():
    from scipy import stats
    diffs = [-1.2, 0.4, -2.5, 0.0, -0.7, 1.1, -3.0, -0.4, 0.9, -1.6]
    got = tabular.corrected_interval(diffs, 30 / 120)
    assert got == pytest.approx(_reference_interval(diffs, 30, 120), rel=1e-12)
    # dropping the correction: the ordinary paired t interval and test (scipy's own)
    mean, half, p = tabular.corrected_interval(diffs, 0.0)
    low, high = stats.t.interval(0.95, len(diffs) - 1, loc=np.mean(diffs),
                                 scale=stats.sem(diffs))
    assert (mean - half, mean + half) == pytest.approx((low, high), rel=1e-12)
    assert p == pytest.approx(stats.ttest_1samp(diffs, 0).pvalue, rel=1e-10)
    # the correction only widens: 5-fold CV (n_test/n_train = 1/4) over 10 fits, by sqrt(3.5)
    assert got[1] == pytest.approx(half * np.sqrt((1 / 10 + 1 / 4) / (1 / 10)), rel=1e-12)
    assert got[2] > p
    # degenerate spreads: one fit says nothing; identical differences are certain
    assert np.isnan(tabular.corrected_interval([0.5], 0.25)[1])
    assert tabular.corrected_interval([0.0] * 4, 0.25) == (0.0, 0.0, 1.0)
    assert tabular.corrected_interval([2.0] * 4, 0.25) == (2.0, 0.0, 0.0)


@pytest.mark.parametrize("mean, half, words", [
    (-1.0, 0.9, "mixup ahead"), (1.0, 0.9, "ERM ahead"), (-1.0, 1.1, "no difference shown"),
    (0.5, 0.5, "no difference shown"), (0.0, 0.0, "no difference shown")])
def test_the_verdict_is_read_from_the_interval(mean, half, words):
    assert tabular.verdict(mean, half) == words


def test_the_paired_difference_compares_each_mixup_fit_with_erm_on_its_own_split(rng):
    erm = rng.uniform(0, 0.3, size=(2, 5))
    mix = np.clip(erm + rng.normal(0, 0.05, size=erm.shape), 0, 1)
    mix[0, 0] = erm[0, 0]                               # a tie counts neither way
    sizes = [(36, 142), (36, 142), (36, 142), (35, 143), (35, 143)]  # wine's 178 rows, 5 folds
    records = [_record("erm", 0.0, s, f, erm[s, f], n_test=sizes[f][0], n_train=sizes[f][1])
               for s in range(2) for f in range(5)]
    records += [_record("mixup", 1.0, s, f, mix[s, f], n_test=sizes[f][0], n_train=sizes[f][1])
                for s in range(2) for f in range(5)]
    rng.shuffle(records)                                # pairing is by key, not by position
    mixup_rows = [r for r in records if r["method"] == "mixup"]
    mean, half, p, better, worse = tabular.paired_difference(records, mixup_rows)
    # an independent reference: the differences of the two arrays, and the mean fold sizes
    # (held out 178 / 5 rows, trained on 4 * 178 / 5: the ratio is 1/4)
    diffs = 100 * (mix - erm).ravel()
    assert (mean, half, p) == pytest.approx(_reference_interval(list(diffs), 1, 4), rel=1e-9)
    assert (better, worse) == ((diffs < 0).sum(), (diffs > 0).sum())
    row = [line for line in tabular.table([records]).splitlines()
           if "| mixup | 1 | 10 |" in line]
    assert row and row[0].endswith("| %+.2f ± %.2f | %.2g | %s (%d / %d) |" % (
        mean, half, p, tabular.verdict(mean, half), better, worse))
    assert "95% interval, corrected resampled t" in tabular.table([records]).splitlines()[0]
    # without ERM on the same split there is nothing to pair with
    assert tabular.paired_difference([r for r in records
                                      if not (r["method"] == "erm" and r["seed"] == 1)],
                                     mixup_rows) is None


def test_table_prints_saved_results_again_and_refuses_what_is_not_results(tmp_path, capsys):
    records = [_record("erm", 0.0, 0, f, 0.1 * f) for f in range(3)] + \
        [_record("mixup", 0.2, 0, f, 0.05 * f) for f in range(3)]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(records))
    assert tabular.main(["--table", str(path)]) == 0
    assert capsys.readouterr().out.strip() == tabular.table([records])
    bad = tmp_path / "bad.json"
    for content in ("not json", json.dumps({"a": 1}), json.dumps([dict(records[0], method="x")]),
                    json.dumps([dict(records[0], test_error=float("inf"))]),
                    json.dumps([dict(records[0], seed="0")])):
        bad.write_text(content)
        assert str(bad) in refusal(tabular.main, ["--table", str(bad)], capsys)
    assert "--dataset is required" in refusal(tabular.main, ["--out", str(tmp_path)], capsys)


def _refused(*args, words=()):
    """Run the real command; assert it refused in one line (exit code 2, no traceback)
    containing ``words``, and return that line."""
    proc = cli("mixup_app.experiments.tabular", *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr and not proc.stdout.strip()
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--lr", "--alpha", "--seeds", "--folds", "--epochs",
                                  "--batch-size", "--hidden", "--threads"])
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_every_numeric_option_refuses_infinities_and_nan_in_one_line(flag, value, tmp_path):
    out = str(tmp_path / "out")
    # "--opt=value": a leading minus would otherwise read as an option
    _refused("--dataset", "iris", "%s=%s" % (flag, value), "--out", out, words=(flag, value))
    assert not os.path.exists(out)


def test_the_defaults_shown_by_help_are_values_the_options_accept():
    parser = tabular.make_parser()
    shown = 0
    for action in parser._actions:
        found = re.search(r"\(default: (.*)\)$", action.help or "")
        if not action.option_strings or not found or action.default is None:
            continue
        shown += 1
        words = found.group(1).split(" ") if action.nargs == "+" else [found.group(1)]
        flag = action.option_strings[0]
        assert getattr(parser.parse_args([flag] + words), action.dest) == action.default, flag
    assert shown >= 7  # --alpha, --seeds, --folds, --epochs, --batch-size, --hidden, --lr


def _run(dataset="wine", epochs=10, folds=5, seeds=1, erm=0.1, mix=0.05, methods=("erm",
                                                                                 "mixup")):
    """The records of one complete run, ERM's errors ``erm`` and mixup's (alpha 1) ``mix``."""
    return [_record(m, 0.0 if m == "erm" else 1.0, s, f, erm if m == "erm" else mix + 0.01 * f,
                    dataset=dataset, epochs=epochs, folds=folds, seeds=seeds, alphas=(1.0,))
            for s in range(seeds) for f in range(folds) for m in methods]


def test_table_keeps_runs_apart_and_pairs_within_a_run_only():
    two, three = _run(folds=2, erm=0.1), _run(folds=3, erm=0.3)
    rows = [line for line in tabular.table([two, three]).splitlines() if "| wine |" in line]
    # a 2-fold and a 3-fold run of the same dataset and epochs: two rows each, never pooled
    assert len(rows) == 4 and "2 (2 × 1)" in rows[0] and "3 (3 × 1)" in rows[2]
    # each mixup row paired with its own run's ERM: 0.05 + 0.01 f against 0.1, and 0.3
    assert "| -4.50 ± " in rows[1] and "| -24.00 ± " in rows[3]
    # a run without ERM fits is not paired with another run's
    alone = [line for line in tabular.table([two, _run(folds=3, methods=("mixup",))]).splitlines()
             if "| mixup |" in line]
    assert alone[0].count("-4.50") == 1 and alone[1].endswith("(3 × 1) | | | |")
    # settings other than the paper's are named; a part of a run says so
    other = [dict(r, lr=0.01, batch_size=32) for r in two]
    assert "| 10; batch-size 32, lr 0.01 |" in tabular.table([other])
    assert "| 1 of 2 (2 × 1) |" in tabular.table([two[:3]])


@pytest.mark.parametrize("change, words", [
    (lambda rs: {"a": 1}, "not a list"),
    (lambda rs: [], "holds no fits"),
    (lambda rs: [dict(rs[0], seed="0")] + rs[1:], "record 0: seed"),
    (lambda rs: rs[:1] + [dict(rs[1], n_test=1.5)], "record 1: n_test"),
    (lambda rs: rs + [dict(rs[0], test_error=float("nan"))], "test_error"),
    (lambda rs: [dict(rs[0], alphas=[])] + rs[1:], "alphas"),
    (lambda rs: [dict(rs[0], hidden="128,128")] + rs[1:], "hidden"),
    (lambda rs: [{k: v for k, v in r.items() if k not in ("seeds", "alphas")} for r in rs],
     "older format"),
    (lambda rs: [{k: v for k, v in r.items() if k != "n_train"} for r in rs], "no n_train"),
    (lambda rs: rs[:1] + [dict(r, folds=3) for r in rs[1:]], "one setting"),
    (lambda rs: rs + [dict(rs[0])], "repeats the fit of record 0"),
    (lambda rs: [dict(rs[0], seed=1)] + rs[1:], "not a fit of its setting"),
    (lambda rs: [dict(rs[0], alpha=0.5)] + rs[1:], "not a fit of its setting"),
])
def test_results_that_are_not_one_run_of_this_command_are_refused_naming_the_file(
        change, words, tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(change(_run(folds=2)), allow_nan=True))
    line = refusal(tabular.main, ["--table", str(path)], capsys)
    assert str(path) in line and words in line


@pytest.mark.slow
def test_table_refusals_of_the_real_command_are_one_line(tmp_path):
    older = tmp_path / "older.json"
    older.write_text(json.dumps([{k: v for k, v in r.items() if k != "seeds"}
                                 for r in _run(folds=2)]))
    missing = tmp_path / "missing.json"
    for path, word in ((older, "older format"), (missing, "No such file")):
        _refused("--table", str(path), words=(str(path), word))


TINY_RUN = ["--dataset", "iris", "--alpha", "0.5", "--seeds", "1", "--folds", "2", "--epochs",
            "1", "--hidden", "4"]


@pytest.mark.slow
def test_a_rerun_continues_the_same_setting_and_refuses_another(tmp_path, capsys):
    out = str(tmp_path / "run")
    results = os.path.join(out, "results.json")
    assert cli("mixup_app.experiments.tabular", *TINY_RUN, "--out", out).returncode == 0
    full = json.load(open(results))
    assert len(full) == 4 and all(r["seeds"] == 1 and r["alphas"] == [0.5] for r in full)
    # an interrupted run's file: its first two fits, marked so that a refit would show
    kept = [dict(r, seconds=-1.0) for r in full[:2]]
    with open(results, "w") as f:
        json.dump(kept, f)
    proc = cli("mixup_app.experiments.tabular", *TINY_RUN, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 of the 4 fits are done; continuing" in proc.stderr
    again = json.load(open(results))
    assert again[:2] == kept and len(again) == 4 and min(r["seconds"] for r in again[2:]) >= 0
    for new, old in zip(again[2:], full[2:]):  # the same fits as the uninterrupted run's
        assert {k: v for k, v in new.items() if k != "seconds"} == \
            {k: v for k, v in old.items() if k != "seconds"}
    # everything done: nothing trained, the table printed
    proc = cli("mixup_app.experiments.tabular", *TINY_RUN, "--out", out)
    assert proc.returncode == 0 and json.load(open(results)) == again
    assert "| iris | mixup | 0.5 | 1; hidden 4 |" in proc.stdout
    assert "all 4 fits were done already; nothing trained" in proc.stderr
    # another setting, or a damaged file: refused naming the file, the file untouched
    before = open(results).read()
    _refused(*TINY_RUN, "--epochs", "2", "--out", out,
             words=(results, "--epochs 1 there, 2 here", "another --out"))
    for args, words in ((["--alpha", "0.5", "1"], "--alpha 0.5 there, 0.5 1 here"),
                        (["--seeds", "2"], "--seeds 1 there, 2 here"),
                        (["--folds", "3"], "--folds 2 there, 3 here"),
                        (["--hidden", "5"], "--hidden 4 there, 5 here"),
                        (["--batch-size", "8"], "--batch-size 16 there, 8 here"),
                        (["--lr", "0.01"], "--lr 0.001 there, 0.01 here")):
        line = refusal(tabular.main, TINY_RUN + args + ["--out", out], capsys)
        assert results in line and words in line
    assert open(results).read() == before
    with open(results, "w") as f:
        f.write(before[:len(before) // 2])
    _refused(*TINY_RUN, "--out", out, words=(results, "another --out"))
    assert open(results).read() == before[:len(before) // 2]


@pytest.mark.slow
def test_ctrl_c_keeps_the_finished_fits_and_says_how_to_go_on(tmp_path):
    out = str(tmp_path / "run")
    results = os.path.join(out, "results.json")
    args = [sys.executable, "-m", "mixup_app.experiments.tabular", "--dataset", "iris", "--alpha", "0.5",
            "--seeds", "1", "--folds", "2", "--epochs", "400", "--hidden", "4", "--out", out]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    deadline = time.time() + 120
    while not os.path.exists(results) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # during the second fit (each takes seconds)
    stdout, stderr = proc.communicate(timeout=120)
    kept = json.load(open(results))
    assert proc.returncode == 130, stderr[-2000:]
    assert 1 <= len(kept) < 4 and "Traceback" not in stdout + stderr
    # the notice that the signal was heard, then one line of its own (beside MXNet's one log
    # line of the first bound graph)
    lines = [line for line in stderr.strip().splitlines() if "Subgraph backend" not in line
             and line.strip()]
    assert lines[0].startswith("stopping before the next training step (Ctrl-C again")
    assert lines[1:] == ["interrupted: %d fits kept in %s; run the same command again to continue"
                     % (len(kept), results)]
