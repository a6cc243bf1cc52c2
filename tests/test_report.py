"""./tools.sh report's grouping and the accuracy-against-size picture, on run directories
written here (their figures chosen by hand, so the expected table is known)."""
import json
import os

import numpy as np
import pytest

from mixup_app import plots, report, runs
from mixup_app.config import RunConfig


def _run(root, name, test_accuracy, vals, old=False, **options):
    """A finished run directory: config.json, metrics.jsonl (validated where vals has a
    value), and test.json. ``old``: its config.json as written before --subset-draw."""
    path = os.path.join(str(root), name)
    os.makedirs(path)
    options.setdefault("dataset", "fashion-mnist")
    config = RunConfig.from_options(**options)
    config = config.resolved(train_count=options.get("train_subset", 0))
    config.save(path)
    if old:
        raw = json.load(open(os.path.join(path, "config.json")))
        for key in ("subset_draw", "val_last", "train_class_counts"):
            del raw[key]
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(raw, f)
    rows = []
    for epoch, val in enumerate(vals, 1):
        row = {"epoch": epoch, "train_accuracy": 0.5, "train_loss": 1.0, "lr": 0.1,
               "seconds": 1.0, "images_per_sec": 1.0, "num_workers": 1, "rank": 0,
               "mixup": True}
        if val is not None:
            row.update(val_accuracy=val, val_loss=1.0, val_count=100)
        rows.append(row)
    runs.write_metrics(path, rows)
    with open(os.path.join(path, "test.json"), "w") as f:
        json.dump({"accuracy": test_accuracy, "cross_entropy": 0.5, "ece": 0.05,
                   "reliability": [{"count": 10, "confidence": 0.9, "accuracy": 0.8}]}, f)
    return path


def test_runs_differing_in_seed_and_validation_cadence_share_a_row(tmp_path):
    a = _run(tmp_path, "a", 0.80, [None, 0.7, None, 0.8], train_subset=100, seed=1,
             mix_rate=0, val_every=2)
    b = _run(tmp_path, "b", 0.84, [0.6, 0.7, 0.75, 0.84], train_subset=100, seed=2, mix_rate=0)
    measured = [(r,) + report.measure(r) for r in (a, b)]
    figures = measured[0][3]
    assert figures["best val acc"] == 0.8 and figures["last val acc"] == 0.8
    # 2 validations only; no 4 consecutive validated epochs, so no mean over the last 5
    assert figures["mean val acc, last 3 validations"] == pytest.approx((0.7 + 0.8) / 2)
    assert "mean val acc, last 5 epochs" not in figures
    lines = report.table(measured).splitlines()
    assert len(lines) == 3  # header, rule, one row for both seeds
    assert "| 2 |" in lines[2] and "82.00 ± 2.00" in lines[2]  # test acc: mean ± half range


def test_balanced_and_uniform_subsets_are_never_one_row(tmp_path):
    made = [_run(tmp_path, "b1", 0.80, [0.8], train_subset=100, seed=1, mix_rate=0),
            _run(tmp_path, "b2", 0.82, [0.82], train_subset=100, seed=2, mix_rate=0,
                 subset_draw="balanced", val_last=5),
            _run(tmp_path, "u1", 0.70, [0.7], train_subset=100, seed=1, mix_rate=0,
                 subset_draw="uniform"),
            _run(tmp_path, "o1", 0.72, [0.72], old=True, train_subset=100, seed=2, mix_rate=0),
            # on all images the draw means nothing: an old run and a new one are one row
            _run(tmp_path, "a1", 0.90, [0.9], seed=1, mix_rate=0),
            _run(tmp_path, "a2", 0.92, [0.92], old=True, seed=2, mix_rate=0)]
    measured = [(r,) + report.measure(r) for r in made]
    rows = report.table(measured).splitlines()[2:]
    assert len(rows) == 3
    assert "100 imgs balanced" in rows[0] and "81.00 ± 1.00" in rows[0] and "| 2 |" in rows[0]
    assert "100 imgs uniform" in rows[1] and "71.00 ± 1.00" in rows[1] and "| 2 |" in rows[1]
    assert "imgs" not in rows[2] and "91.00 ± 1.00" in rows[2]
    series = report.size_series(measured)
    assert series == {"ERM": [(100, 0.80, 1, 200), (100, 0.82, 2, 200), (0, 0.90, 1, 200),
                              (0, 0.92, 2, 200)],
                      "ERM, uniform draw": [(100, 0.70, 1, 200), (100, 0.72, 2, 200)]}


@pytest.mark.parametrize("vals, expected", [
    # validated every 10 epochs, then each of the last 5 (--val-last 5)
    ([None] * 9 + [0.5] + [None] * 5 + [0.61, 0.62, 0.6, 0.64, 0.63], True),
    ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], True),                     # every epoch
    ([0.1, 0.2, 0.3, 0.4, None, 0.6], False),                   # epoch 5 not validated
    ([0.3, 0.4, 0.5, 0.6], False),                              # fewer than 5 epochs
    ([None] * 9 + [0.5] + [None] * 9 + [0.6], False),           # --val-every 10
])
def test_the_last_5_epochs_mean_only_when_each_was_validated(tmp_path, vals, expected):
    run = _run(tmp_path, "r", 0.6, vals, mix_rate=0)
    _, metrics, figures = report.measure(run)
    # independently, from the metrics rows
    last = [r for r in runs.read_metrics(run) if r["epoch"] > len(vals) - 5]
    if expected:
        assert all("val_accuracy" in r for r in last) and len(last) == 5
        assert figures["mean val acc, last 5 epochs"] == pytest.approx(
            np.mean([r["val_accuracy"] for r in last]))
    else:
        assert "mean val acc, last 5 epochs" not in figures
    checked = [v for v in vals if v is not None]
    assert figures["last val acc"] == checked[-1]
    assert figures["mean val acc, last 3 validations"] == pytest.approx(np.mean(checked[-3:]))
    names = list(figures)   # beside the last validation
    assert names.index("last val acc") + 1 == names.index("mean val acc, last 3 validations") \
        - int(expected)


def test_a_figure_only_some_seeds_have_says_over_how_many_runs(tmp_path):
    every = [0.5, 0.6, 0.7, 0.8, 0.9]
    made = [_run(tmp_path, "a", 0.80, every, mix_rate=0, seed=1),
            _run(tmp_path, "b", 0.84, [None, None, None, None, 0.7], mix_rate=0, seed=2)]
    measured = [(r,) + report.measure(r) for r in made]
    header, _, row = report.table(measured).splitlines()
    column = header.split(" | ").index("mean val acc, last 5 epochs")
    assert row.split(" | ")[column] == "70.00 (1 of 2 runs)"
    assert "(1 of 2" not in row.split(" | ")[column + 1]


def test_accuracy_against_size_has_a_point_per_run_and_a_series_per_way(tmp_path):
    made = [_run(tmp_path, "e1", 0.80, [0.8], train_subset=100, seed=1, mix_rate=0),
            _run(tmp_path, "e2", 0.82, [0.82], train_subset=100, seed=2, mix_rate=0),
            _run(tmp_path, "e3", 0.90, [0.9], train_subset=400, seed=1, mix_rate=0,
                 num_epochs=60),
            _run(tmp_path, "m1", 0.85, [0.85], train_subset=100, seed=1, alpha=1, mix_rate=1),
            _run(tmp_path, "o1", 0.86, [0.86], train_subset=100, seed=1, alpha=1, mix_rate=1,
                 pairing="other_class"),
            _run(tmp_path, "n1", 0.70, [0.7], train_subset=100, seed=1, mix_rate=0,
                 augment="none")]
    series = report.size_series([(r,) + report.measure(r) for r in made])
    assert series == {
        "ERM": [(100, 0.80, 1, 200), (100, 0.82, 2, 200), (400, 0.90, 1, 60)],
        "MixUp α=1": [(100, 0.85, 1, 200)],
        "MixUp α=1, other-class pairs": [(100, 0.86, 1, 200)],
        "ERM, aug none": [(100, 0.70, 1, 200)]}
    out = str(tmp_path / "size.png")
    assert report.main(made + ["--plot-size", out]) == 0
    assert open(out, "rb").read(4) == b"\x89PNG"


def test_the_size_picture_joins_means_within_a_schedule_only(tmp_path):
    points = [(1000, 0.84, 1, 100), (1000, 0.86, 2, 100), (5000, 0.90, 1, 100),
              (5000, 0.91, 2, 100), (10000, 0.92, 1, 30), (10000, 0.93, 2, 30),
              (10000, 0.95, 1, 100)]
    drawn = plots.accuracy_against_size({"ERM": points}, str(tmp_path / "size.png"))
    # independently: the mean of each (epochs, size) cell
    expected = {}
    for size, acc, _, epochs in points:
        expected.setdefault(("ERM", epochs), {}).setdefault(size, []).append(acc)
    assert set(drawn) == set(expected) == {("ERM", 100), ("ERM", 30)}
    for key, cells in expected.items():
        assert [x for x, _ in drawn[key]] == sorted(cells)
        for (size, mean), want in zip(drawn[key], [np.mean(cells[x]) for x in sorted(cells)]):
            assert mean == pytest.approx(want)
    assert drawn[("ERM", 30)] == [(10000, pytest.approx(0.925))]   # not joined to 100 epochs
    assert open(str(tmp_path / "size.png"), "rb").read(4) == b"\x89PNG"


@pytest.mark.parametrize("flag", ["--plot", "--plot-size"])
@pytest.mark.parametrize("where", ["missing folder", "a directory"])
def test_an_unwritable_plot_path_is_refused_before_any_work(tmp_path, capsys, flag, where):
    made = [_run(tmp_path, "e1", 0.80, [0.8], train_subset=100, seed=1, mix_rate=0)]
    target = str(tmp_path / "no-such-folder" / "plot.png") if where == "missing folder" \
        else str(tmp_path)
    with pytest.raises(SystemExit) as refused:
        report.main(made + [flag, target])
    captured = capsys.readouterr()
    assert refused.value.code == 2 and captured.out == ""      # no table: refused first
    message = captured.err.strip()
    assert len(message.splitlines()) == 1 and flag in message and target in message
    assert "tmp" not in message.replace(str(tmp_path), "")      # names the file, not a temporary
    assert not os.path.exists(str(tmp_path / "no-such-folder"))


def test_runs_of_other_datasets_shapes_or_networks_are_never_one_series_or_row(tmp_path):
    def run(name, accuracy, **options):
        options = dict(dict(train_subset=100, mix_rate=0, seed=1), **options)
        return _run(tmp_path, name, accuracy, [accuracy], **options)

    made = [run("f1", 0.80), run("f2", 0.82, seed=2),
            run("c1", 0.40, dataset="cifar10"),
            run("s1", 0.70, image_shape=(1, 24, 24)),
            run("d1", 0.60, num_layers=14)]
    measured = [(r,) + report.measure(r) for r in made]
    series = report.size_series(measured)
    # every setting a series of its own, named by what tells it apart; the seeds of one
    # setting stay one series
    assert sorted(len(points) for points in series.values()) == [1, 1, 1, 2]
    labels = sorted(series)
    assert all(label.startswith("ERM [") for label in labels)
    assert any("dataset cifar10" in label for label in labels)
    assert any("image-shape 1,24,24" in label for label in labels)
    assert any("num-layers 14" in label for label in labels)
    means = plots.size_lines(series)
    assert sorted(round(m[0][1], 2) for m in means.values()) == [0.4, 0.6, 0.7, 0.81]
    rows = report.table(measured).splitlines()[2:]
    assert len(rows) == 4 and len(set(rows)) == 4
    assert sum("dataset cifar10" in line for line in rows) == 1


def test_a_black_box_attack_has_columns_naming_the_run_that_made_it(tmp_path, capsys):
    """./test.sh --attack-from records its source; the report shows those accuracies apart
    from white-box ones, never in the same column (nor averaged over seeds with them)."""
    attack = {"steps": 1, "space": "pixel levels 0..255", "accuracy": {"8": 0.4},
              "correct": {"8": 40}}
    white = _run(tmp_path, "white", 0.8, [0.8], seed=1)
    black = _run(tmp_path, "black", 0.8, [0.8], seed=2)
    for path, source in ((white, None),
                         (black, {"run": str(tmp_path / "runs" / "erm-s1"), "epoch": 30})):
        scores = json.load(open(os.path.join(path, "test.json")))
        scores.update(format=4, attacks={"FGSM": attack}, attack_source=source)
        with open(os.path.join(path, "test.json"), "w") as f:
            json.dump(scores, f)
    assert report.main([white, black]) == 0
    header, _, row = capsys.readouterr().out.strip().splitlines()
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert "FGSM ε=8" in columns and "FGSM ε=8 (black-box from erm-s1, epoch 30)" in columns
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[columns.index("FGSM ε=8")] == "40.00 (1 of 2 runs)"
    assert cells[columns.index("FGSM ε=8 (black-box from erm-s1, epoch 30)")] == (
        "40.00 (1 of 2 runs)")


def test_black_box_scores_beside_test_json_are_columns_of_their_own(tmp_path, capsys):
    """./test.sh --attack-from writes test-from-RUN-eN.json beside test.json: the report shows
    the run's white-box figure from test.json and each source's in its own column."""
    attack = {"steps": 1, "space": "pixel levels 0..255", "correct": {"8": 40}}
    run = _run(tmp_path, "mixup", 0.8, [0.8], seed=1)
    scores = json.load(open(os.path.join(run, "test.json")))
    for name, accuracy, source in (
            ("test.json", 0.3, None),
            ("test-from-erm-s1-e100.json", 0.6, {"run": "/elsewhere/erm-s1", "epoch": 100}),
            ("test-from-erm-s2-e90.json", 0.5, {"run": "/elsewhere/erm-s2", "epoch": 90}),
            # another split's or the teacher's black-box scores are not this row's
            ("test-from-erm-s1-e100-train.json", 0.1, {"run": "/elsewhere/erm-s1",
                                                       "epoch": 100})):
        scores.update(format=4, attacks={"FGSM": dict(attack, accuracy={"8": accuracy})},
                      attack_source=source)
        with open(os.path.join(run, name), "w") as f:
            json.dump(scores, f)
    figures = report.measure(run)[2]
    assert figures["FGSM ε=8"] == 0.3
    assert figures["FGSM ε=8 (black-box from erm-s1, epoch 100)"] == 0.6
    assert figures["FGSM ε=8 (black-box from erm-s2, epoch 90)"] == 0.5
    assert sum(k.startswith("FGSM") for k in figures) == 3


def test_runs_recorded_with_and_without_the_class_count_are_one_setting(tmp_path, capsys):
    """Runs record the dataset's class count since round 4 (0, "the dataset's", before): the
    same setting either way, one row and one series, not two told apart by num-classes."""
    before = _run(tmp_path, "erm-s1", 0.8, [0.8], seed=1, mix_rate=0)
    after = _run(tmp_path, "erm-s2", 0.9, [0.9], seed=2, mix_rate=0, num_classes=10)
    assert RunConfig.load(before).num_classes == 0
    assert RunConfig.load(after).num_classes == 10
    assert report.main([before, after]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    assert len(rows) == 1 and "num-classes" not in rows[0]
    measured = [report.measure(r) for r in (before, after)]
    series = report.size_series([(r, c, m, f) for r, (c, m, f) in zip((before, after), measured)])
    assert len(series) == 1
