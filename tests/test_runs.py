"""Run directories over a run's life: resume (also after a kill, and bit-exact for MixUp),
extension, refused changes, damaged checkpoints, divergence, the checkpoint policy, the log."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, TINY, cli
from mixup_app import runs, train

# identical values for the same run, interrupted or not (floats printed by json round-trip)
COMPARED = ("train_accuracy", "train_loss", "val_accuracy", "val_loss", "lr")


def _rows(run):
    return [{k: r[k] for k in ("epoch",) + COMPARED} for r in runs.read_metrics(run)]


@pytest.mark.slow
def test_resume_after_a_killed_run_continues_from_the_last_checkpoint(tmp_path, data_dir):
    out = str(tmp_path / "r")
    args = TINY + ["--data-dir", data_dir, "--num-epochs", "3", "--out-dir", out,
                   "--lr-step-epochs", "2"]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "mixup_app.train"] + args, cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(out, "model-0001.params")):
        assert proc.poll() is None and time.time() < deadline, "run ended before epoch 1"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = runs.checkpoint_epochs(out)
    assert 1 <= done[-1] < 3
    before = runs.read_metrics(out)
    refused = cli("mixup_app.train", *args)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = cli("mixup_app.train", "--resume", "--out-dir", out, "--progress", "off")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "from epoch %d" % done[-1] in resumed.stdout
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[:len(before)] == before[:done[-1]]
    assert rows[0]["lr"] == pytest.approx(0.1) and rows[2]["lr"] == pytest.approx(0.01)
    again = cli("mixup_app.train", "--resume", "--out-dir", out)
    assert again.returncode == 0 and "complete" in again.stdout
    log = open(os.path.join(out, "train.log")).read()  # appended across the resume
    assert log.count("run %s" % out) == 2 and "resuming %s from epoch" % out in log


@pytest.mark.slow
def test_stop_and_resume_give_the_metrics_of_an_uninterrupted_mixup_run(tmp_path, data_dir):
    common = TINY + ["--data-dir", data_dir, "--alpha", "1", "--mix-rate", "1",
                     "--seed", "3"]
    whole = str(tmp_path / "whole")
    assert train.main(common + ["--num-epochs", "3", "--out-dir", whole]) == 0
    parts = str(tmp_path / "parts")
    # a run planned for 3 epochs, stopped after 1 (as a kill between epochs would)
    assert train.main(common + ["--num-epochs", "3", "--out-dir", parts]) == 0
    for epoch in (2, 3):
        os.remove(runs.params_path(parts, epoch))
    assert train.main(["--resume", "--out-dir", parts]) == 0
    assert _rows(parts) == _rows(whole)


@pytest.mark.slow
def test_resume_extends_a_finished_run_and_refuses_other_changes(tmp_path, data_dir, capsys):
    out = str(tmp_path / "r")
    assert train.main(TINY + ["--data-dir", data_dir, "--num-epochs", "2", "--out-dir", out,
                              "--lr-schedule", "cosine"]) == 0
    capsys.readouterr()
    assert train.main(["--resume", "--out-dir", out, "--num-epochs", "3", "--lr", "0.5",
                       "--alpha", "0.4"]) == 2
    err = capsys.readouterr().err
    assert "--lr" in err and "--alpha" in err and "0.5" in err and "--num-epochs" not in err
    assert train.main(["--resume", "--out-dir", out, "--num-epochs", "3"]) == 0
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1, 2, 3]
    assert runs.load_config(out).num_epochs == 3  # recorded
    assert "--num-epochs 3 recorded" in capsys.readouterr().out
    # the same option given with the run's own value is not a change
    assert train.main(["--resume", "--out-dir", out, "--lr-schedule", "cosine"]) == 0
    assert train.main(["--resume", "--out-dir", out, "--num-epochs", "1"]) == 2
    assert "below the 3 epochs" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["params", "states"])
def test_a_damaged_checkpoint_is_named_and_resume_falls_back(tmp_path, data_dir, capsys,
                                                             damage):
    out = str(tmp_path / "r")
    assert train.main(TINY + ["--data-dir", data_dir, "--num-epochs", "2",
                              "--out-dir", out]) == 0
    path = (runs.params_path if damage == "params" else runs.states_path)(out, 2)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    capsys.readouterr()
    if damage == "params":
        from mixup_app import score
        assert score.main(["--out-dir", out]) == 2
        err = capsys.readouterr().err
        assert path in err and "truncated or corrupt" in err and "Traceback" not in err
    assert train.main(["--resume", "--out-dir", out, "--num-epochs", "3"]) == 0
    said = capsys.readouterr().out
    assert path in said and "falling back" in said and "from epoch 1" in said
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1, 2, 3]


def test_a_diverging_run_stops_with_the_last_good_checkpoint(tmp_path, data_dir, capsys):
    out = str(tmp_path / "r")
    code = train.main(TINY + ["--data-dir", data_dir, "--num-epochs", "3", "--lr", "1e6",
                              "--out-dir", out])
    said = capsys.readouterr().out
    assert code == 3 and "diverged" in said
    for epoch in runs.checkpoint_epochs(out):  # only finite checkpoints were kept
        args, _ = runs.load_params(out, epoch)
        assert all(float(abs(v).max().asscalar()) < float("inf") for v in args.values())


@pytest.mark.slow
def test_checkpoint_policy_keeps_the_last_k_and_the_best(tmp_path, data_dir, capsys):
    out = str(tmp_path / "r")
    assert train.main(TINY + ["--data-dir", data_dir, "--num-epochs", "5", "--save-period",
                              "2", "--keep-last", "1", "--out-dir", out]) == 0
    rows = runs.read_metrics(out)
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["epoch"]))
    assert runs.best_epoch(out) == (best["epoch"], best["val_accuracy"])
    assert set(runs.checkpoint_epochs(out)) == {5, best["epoch"]}
    from mixup_app import score
    capsys.readouterr()
    assert score.main(["--out-dir", out, "--epoch", "best"]) == 0
    assert capsys.readouterr().out.strip().startswith("accuracy: %.4f" % best["val_accuracy"])
    # and a resumed extension goes on from the last checkpoint
    assert train.main(["--resume", "--out-dir", out, "--num-epochs", "6"]) == 0
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
def test_val_every_validates_every_k_epochs_the_last_and_counts_only_those(tmp_path, data_dir):
    out = str(tmp_path / "r")
    assert train.main(TINY + ["--data-dir", data_dir, "--num-epochs", "5", "--val-every", "2",
                              "--keep-last", "1", "--out-dir", out]) == 0
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["epoch"] for r in rows if "val_accuracy" in r] == [2, 4, 5]
    assert not any(k.startswith("val_") for r in rows if r["epoch"] in (1, 3) for k in r)
    checked = [r for r in rows if "val_accuracy" in r]
    best = max(checked, key=lambda r: (r["val_accuracy"], -r["epoch"]))
    assert runs.best_epoch(out) == (best["epoch"], best["val_accuracy"])
    # --keep-last 1 counts validated epochs: the newest validated one (5) and the best remain
    assert set(runs.checkpoint_epochs(out)) == {5, best["epoch"]}
    # --val-every may change on resume (it decides what is measured, not what is trained)
    assert train.main(["--resume", "--out-dir", out, "--num-epochs", "8", "--val-every",
                       "3"]) == 0
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows if "val_accuracy" in r] == [2, 4, 5, 6, 8]
    assert runs.load_config(out).val_every == 3
    # the newest checkpoint stays even when it was not validated
    assert train.main(["--resume", "--out-dir", out, "--num-epochs", "9"]) == 0
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows if "val_accuracy" in r] == [2, 4, 5, 6, 8, 9]
    assert 9 in runs.checkpoint_epochs(out)
    from mixup_app import report
    _, _, figures = report.measure(out)
    validated = [r["val_accuracy"] for r in rows if "val_accuracy" in r]
    assert figures["last val acc"] == validated[-1]
    assert figures["best val acc"] == max(validated)
    assert figures["mean val acc, last 3 validations"] == pytest.approx(sum(validated[-3:]) / 3)



@pytest.mark.slow
def test_val_last_validates_each_of_the_last_epochs_and_may_change_on_resume(tmp_path,
                                                                             data_dir):
    from mixup_app import report
    out = str(tmp_path / "r")
    assert train.main(TINY + ["--data-dir", data_dir, "--num-epochs", "5", "--val-every", "2",
                              "--val-last", "3", "--out-dir", out]) == 0
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows if "val_accuracy" in r] == [2, 3, 4, 5]
    _, _, figures = report.measure(out)
    assert "mean val acc, last 5 epochs" not in figures          # epoch 1 was not validated
    # --val-last may change on resume (what is measured, not what is trained)
    assert train.main(["--resume", "--out-dir", out, "--num-epochs", "7", "--val-every",
                       "100", "--val-last", "2"]) == 0
    assert runs.load_config(out).val_last == 2
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows if "val_accuracy" in r] == [2, 3, 4, 5, 6, 7]
    _, _, figures = report.measure(out)
    assert figures["mean val acc, last 5 epochs"] == pytest.approx(
        sum(r["val_accuracy"] for r in rows[-5:]) / 5)
    assert figures["last val acc"] == rows[-1]["val_accuracy"]


def _small_module(store, arg_params=None):
    """A small graph's Module updating through `store` (None: in place), its parameters drawn
    under one seed or given."""
    import mxnet as mx
    data = mx.sym.var("data")
    net = mx.sym.FullyConnected(mx.sym.Activation(mx.sym.FullyConnected(
        data, num_hidden=16, name="fc1"), act_type="relu"), num_hidden=3, name="fc2")
    module = mx.mod.Module(mx.sym.SoftmaxOutput(net, name="softmax", normalization="null"),
                           context=[mx.cpu()])
    module.bind(data_shapes=[("data", (8, 5))], label_shapes=[("softmax_label", (8,))])
    mx.random.seed(1)
    module.init_params(mx.init.Xavier(), arg_params=arg_params, force_init=True)
    module.init_optimizer(kvstore=store, optimizer="sgd", optimizer_params=dict(
        learning_rate=0.5, momentum=0.9, wd=1e-3))
    return module


def _step(module, batch):
    module.forward_backward(batch)
    module.update()
    return {k: v.asnumpy() for k, v in module.get_params()[0].items()}


def test_the_in_place_update_is_the_kvstore_update_and_states_move_between_them(tmp_path):
    """One device updates in place (fit.update_store), as MXNet's own Module.fit does; runs
    made before updated through a kvstore. Both give the same parameters, and a .states file
    is keyed by parameter name either way, so each path resumes the other's checkpoint with
    its momentum: the next step is the one the saving module takes."""
    import mxnet as mx
    import numpy as np
    from mixup_app import fit
    assert fit.update_store(mx.kv.create("device"), [mx.cpu()]) is None
    several = mx.kv.create("device")
    assert fit.update_store(several, [mx.cpu(0), mx.cpu(1)]) is several
    rng = np.random.default_rng(0)
    batches = [mx.io.DataBatch([mx.nd.array(rng.normal(size=(8, 5)))],
                               [mx.nd.array(rng.integers(0, 3, 8))]) for _ in range(3)]
    via_store, in_place = _small_module(mx.kv.create("device")), _small_module(None)
    assert via_store._update_on_kvstore and not in_place._update_on_kvstore
    for batch in batches[:2]:
        stored, placed = _step(via_store, batch), _step(in_place, batch)
    for name in stored:
        np.testing.assert_allclose(placed[name], stored[name], rtol=1e-5, atol=1e-6)
    for source, other_path in ((via_store, None), (in_place, "device")):
        run = str(tmp_path / ("from-store" if other_path is None else "from-in-place"))
        os.makedirs(run)
        runs.save_checkpoint(run, source, 1)
        assert set(runs.check_states(run, 1)) == {"fc1_weight", "fc1_bias", "fc2_weight",
                                                  "fc2_bias"}
        args = runs.load_params(run, 1)[0]
        resumed = _small_module(other_path and mx.kv.create(other_path), args)
        without_state = _small_module(other_path and mx.kv.create(other_path), args)
        runs.load_states(resumed, run, 1)
        expected = _step(source, batches[2])
        got, forgot = _step(resumed, batches[2]), _step(without_state, batches[2])
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6)
        # the momentum mattered: without the checkpoint's state the step is another
        assert not np.allclose(forgot["fc1_weight"], expected["fc1_weight"], atol=1e-4)


@pytest.mark.slow
def test_a_subset_is_class_balanced_by_default_and_an_older_run_resumes_uniform(
        tmp_path, data_dir, capsys):
    import json
    import numpy as np
    from mixup_app.data import trainset
    out = str(tmp_path / "r")
    # 120 images, 12 per class: 65 = 6 per class and one more for 5 classes
    assert train.main(TINY + ["--data-dir", data_dir, "--num-epochs", "1", "--train-subset",
                              "65", "--seed", "4", "--out-dir", out]) == 0
    config = runs.load_config(out)
    shares = tuple(int(n) for n in trainset.class_shares(65, 10, 4))
    assert config.subset_draw == "balanced" and config.train_class_counts == shares
    recorded = json.load(open(os.path.join(out, "config.json")))
    assert recorded["subset_draw"] == "balanced" and recorded["train_class_counts"] == list(shares)
    said = capsys.readouterr().out
    line = "training on 65 images (balanced draw), per class %s" % ",".join(map(str, shares))
    assert line in said and line in open(os.path.join(out, "train.log")).read()
    # the draw is part of what was trained: not changed on --resume
    assert train.main(["--resume", "--out-dir", out, "--subset-draw", "uniform"]) == 2
    assert "--subset-draw" in capsys.readouterr().err
    # a run recorded before --subset-draw existed drew uniformly, and resumes so
    recorded.pop("subset_draw")
    recorded.pop("train_class_counts")
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(recorded, f)
    assert train.main(["--resume", "--out-dir", out, "--num-epochs", "2"]) == 0
    assert "training on 65 images (uniform draw)" in capsys.readouterr().out
    assert runs.load_config(out).subset_draw == "uniform"
    derived = os.path.join(data_dir, "derived", "synthetic_train-subset65-seed4.json")
    summary = json.load(open(derived))
    from mixup_app.data import sources
    labels = sources.make_synthetic(120, 45)["train"][1]
    chosen = np.sort(np.random.default_rng([4, 1]).choice(120, 65, replace=False))
    assert summary["draw"] == "uniform"
    assert summary["class_counts"] == list(trainset.class_counts(labels[chosen], 10))
