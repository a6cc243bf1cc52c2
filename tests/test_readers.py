"""The readers of a run directory's own files (mixup_app.readers): metrics.jsonl cut by a kill or
damaged in the middle, test.json of every layout ./test.sh has written, wrong types in any of
them, and --resume continuing only from a checkpoint whose metrics row is complete."""
import json
import os

import mxnet as mx
import pytest

from mixup_app import readers, runs


def row(epoch, val=None, **extra):
    """A metrics.jsonl row as the trainer writes it (validated when ``val`` is given)."""
    out = {"epoch": epoch, "train_accuracy": 0.5, "train_loss": 1.0, "lr": 0.1,
           "seconds": 1.0, "images_per_sec": 10.0, "num_workers": 1, "rank": 0,
           "mixup": True}
    if val is not None:
        out.update(val_accuracy=val, val_loss=1.2, val_count=45)
    out.update(extra)
    return out


def lines(*rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def test_a_last_line_cut_by_a_kill_is_left_out_and_said_once(tmp_path):
    text = lines(row(1, 0.4), row(2)) + json.dumps(row(3, 0.5))[:40]
    write(str(tmp_path / "metrics.jsonl"), text)
    said = []
    rows = readers.read_metrics(str(tmp_path), warn=said.append)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert len(said) == 1 and "metrics.jsonl" in said[0] and "line 3" in said[0] \
        and "incomplete" in said[0] and "epochs 1 to 2" in said[0]


def test_a_complete_last_line_without_its_newline_is_read(tmp_path):
    write(str(tmp_path / "metrics.jsonl"), lines(row(1)) + json.dumps(row(2, 0.6)))
    said = []
    assert [r["epoch"] for r in readers.read_metrics(str(tmp_path), said.append)] == [1, 2]
    assert said == []


@pytest.mark.parametrize("bad, words", [
    ('{"epoch": 2, "train_acc\n', ["line 2", "not JSON"]),
    ("[1, 2]\n", ["line 2", "JSON object"]),
    (json.dumps(row(2, val="high")) + "\n", ["line 2", "'val_accuracy'", "'high'"]),
    (json.dumps(row(2, val=[0.5])) + "\n", ["line 2", "'val_accuracy'"]),
    (json.dumps(row(2)).replace("1.0", "NaN", 1) + "\n", ["line 2", "'train_loss'", "nan"]),
    (json.dumps(row(2, train_accuracy=True)) + "\n", ["line 2", "'train_accuracy'"]),
    (json.dumps({k: v for k, v in row(2).items() if k != "epoch"}) + "\n",
     ["line 2", "no 'epoch'"]),
    (json.dumps(row(1)) + "\n", ["line 2", "epoch 1 follows epoch 1"]),
    (json.dumps(dict(row(2), val_count=45)) + "\n", ["line 2", "no 'val_accuracy'"]),
])
def test_a_bad_line_in_the_middle_is_refused_naming_the_file_and_line(tmp_path, bad, words):
    path = write(str(tmp_path / "metrics.jsonl"), lines(row(1, 0.4)) + bad + lines(row(3)))
    with pytest.raises(ValueError) as refused:
        readers.read_metrics(str(tmp_path))
    assert str(refused.value).startswith(path)
    for word in words:
        assert word in str(refused.value)


def test_rows_of_the_first_version_without_wall_seconds_are_read(tmp_path):
    write(str(tmp_path / "metrics.jsonl"), lines(row(1, 0.4, val_top5=0.9),
                                                 row(2, 0.5, wall_seconds=1.5)))
    assert len(readers.read_metrics(str(tmp_path))) == 2


SCORES = {"accuracy": 0.8, "cross_entropy": 0.6, "ece": 0.05, "count": 45, "correct": 36,
          "per_class_accuracy": [0.8, 0.8], "confusion": [[18, 4], [5, 18]], "epoch": 2,
          "dataset": "synthetic", "classes": ["a", "b"], "run": "/r"}
BINS = [{"count": 0, "confidence": None, "accuracy": None},
        {"count": 45, "confidence": 0.9, "accuracy": 0.8}]
ATTACK = {"steps": 1, "space": "pixel levels 0..255", "accuracy": {"2": 0.3},
          "correct": {"2": 13}}


@pytest.mark.parametrize("layout, scores, attacks, bins", [
    (1, SCORES, {}, None),
    (2, dict(SCORES, reliability=BINS, split="val", attack=dict(ATTACK, method="FGSM")),
     {"FGSM": ATTACK}, BINS),
    (3, dict(SCORES, reliability=BINS, split="val", format=3,
             attacks={"FGSM": ATTACK, "I-FGSM (3 steps)": dict(ATTACK, steps=3)}),
     {"FGSM": ATTACK, "I-FGSM (3 steps)": dict(ATTACK, steps=3)}, BINS),
    (4, dict(SCORES, reliability=BINS, split="val", format=4, attacks={"FGSM": ATTACK},
             attack_source={"run": "/runs/other", "epoch": 3}), {"FGSM": ATTACK}, BINS),
])
def test_test_json_of_every_layout_is_read_as_the_current_one(tmp_path, layout, scores,
                                                              attacks, bins):
    write(str(tmp_path / "test.json"), json.dumps(scores))
    read = readers.read_test(str(tmp_path))
    assert read["format"] == readers.TEST_FORMAT and read["accuracy"] == 0.8
    assert read["attacks"] == attacks and read["reliability"] == bins
    assert read["split"] == "val" and "attack" not in read
    # attacks of the layouts before --attack-from are white-box
    assert read["attack_source"] == scores.get("attack_source")


@pytest.mark.parametrize("change, words", [
    ({"accuracy": "high"}, ["'accuracy'", "'high'"]),
    ({"ece": [0.1]}, ["'ece'"]),
    ({"cross_entropy": float("nan")}, ["'cross_entropy'", "nan"]),
    ({"accuracy": None}, ["'accuracy'"]),
    ({"format": 9}, ["format 9", "newer version"]),
    ({"reliability": [{"count": 3, "confidence": "x", "accuracy": 0.5}]},
     ["reliability", "confidence"]),
    ({"attacks": {"FGSM": {"steps": 1, "accuracy": {"2": 1.5}}}}, ["FGSM", "'accuracy'"]),
    ({"attack": "FGSM"}, ["'attack'"]),
    ({"attack_source": {"run": "/r", "epoch": "last"}}, ["'attack_source'", "'last'"]),
])
def test_wrong_types_in_test_json_are_refused_naming_the_file_and_key(tmp_path, change,
                                                                       words):
    path = write(str(tmp_path / "test.json"), json.dumps(dict(SCORES, **change)))
    with pytest.raises(ValueError) as refused:
        readers.read_test(str(tmp_path))
    assert str(refused.value).startswith(path)
    for word in words:
        assert word in str(refused.value)
    missing = dict(SCORES)
    del missing["ece"]
    write(path, json.dumps(missing))
    with pytest.raises(ValueError, match="no 'ece'"):
        readers.read_test(str(tmp_path))


@pytest.mark.parametrize("best", [{"epoch": 2, "val_accuracy": float("nan")},
                                  {"epoch": 2.0, "val_accuracy": 0.5},
                                  {"epoch": 2, "val_accuracy": "0.5"}, [2, 0.5]])
def test_a_bad_best_json_is_refused_naming_it(tmp_path, best):
    path = write(str(tmp_path / "best.json"), json.dumps(best))
    with pytest.raises(ValueError) as refused:
        runs.best_epoch(str(tmp_path))
    assert str(refused.value).startswith(path) and "epoch" in str(refused.value)


def _checkpoint(run, epoch):
    mx.nd.save(runs.params_path(run, epoch), {"arg:w": mx.nd.zeros((2,))})


def test_resume_continues_from_the_checkpoint_of_the_last_complete_row(tmp_path):
    run = str(tmp_path)
    for epoch in (1, 2, 3):
        _checkpoint(run, epoch)
    # epoch 3's checkpoint exists but its row was cut: continuing from it would leave no
    # figures for epoch 3; epoch 2 is the last one the rows account for
    write(os.path.join(run, "metrics.jsonl"),
          lines(row(1, 0.4), row(2, 0.5)) + json.dumps(row(3, 0.6))[:30])
    said = []
    assert runs.last_loadable_checkpoint(run, said.append) == 2
    assert len(said) == 1 and "epoch 3" in said[0] and "model-0003.params" in said[0]
    write(os.path.join(run, "metrics.jsonl"), lines(row(1, 0.4), row(2, 0.5), row(3, 0.6)))
    assert runs.last_loadable_checkpoint(run, said.append) == 3


@pytest.mark.slow
def test_a_killed_runs_cut_last_row_is_trained_again_on_resume(tmp_path, data_dir):
    from conftest import TINY, cli
    out = str(tmp_path / "r")
    made = cli("mixup_app.train", *TINY, "--data-dir", data_dir, "--num-epochs", "2",
               "--out-dir", out)
    assert made.returncode == 0, made.stderr[-3000:]
    path = os.path.join(out, "metrics.jsonl")
    text = open(path).read()
    first = runs.read_metrics(out)[0]
    # epoch 2's row cut part-way, its checkpoint whole: the rows account for epoch 1 only
    write(path, text[:text.index("\n") + 1] + text.splitlines()[1][:60])
    resumed = cli("mixup_app.train", "--resume", "--out-dir", out, "--progress", "off")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stderr
    assert resumed.stderr.count("line 2) is incomplete") == 1, resumed.stderr
    assert "resuming %s from epoch 1" % out in resumed.stdout
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2] and rows[0] == first
    assert open(path).read().endswith("\n")
