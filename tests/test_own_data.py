"""Training and scoring on the user's own data: a folder of images, and RecordIO files written
by MXNet's own mx.recordio tools (--dataset rec)."""
import pytest
import json
import os

import numpy as np

from conftest import cli
from test_data_images import make_tree
from test_data_userrec import make_pair


@pytest.mark.slow
def test_a_folder_of_images_is_converted_trained_on_and_scored(tmp_path, rng):
    root = str(tmp_path / "shapes")
    make_tree(root, rng, classes=("ant", "bee", "cat"), shape=(12, 12, 3), per_class=(8, 3))
    data_dir = str(tmp_path / "d")
    made = cli("mixup_app.data.command", "images", root, "--data-dir", data_dir, "--name", "shapes")
    assert made.returncode == 0, made.stderr[-2000:]
    out = str(tmp_path / "run")
    trained = cli("mixup_app.train", "--dataset", "shapes", "--data-dir", data_dir,
                  "--num-layers", "8", "--batch-size", "6", "--num-epochs", "2",
                  "--out-dir", out, "--progress", "off")
    assert trained.returncode == 0, trained.stdout + trained.stderr[-3000:]
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["image_shape"] == [3, 12, 12]  # read from the records
    scored = cli("mixup_app.score", "--out-dir", out)
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert scored.stdout.strip().endswith("/9)")
    result = json.load(open(os.path.join(out, "test.json")))
    assert result["classes"] == ["ant", "bee", "cat"]


@pytest.mark.slow
def test_records_made_by_mxnets_tools_train_with_dataset_rec(tmp_path, rng):
    made = make_pair(tmp_path, rng, counts=(24, 7), shape=(14, 14, 3), num_classes=4)
    out = str(tmp_path / "run")
    data_dir = str(tmp_path / "d")
    trained = cli("mixup_app.train", "--dataset", "rec", "--train-rec", made["train"][0],
                  "--val-rec", made["val"][0], "--num-classes", "4", "--data-dir", data_dir,
                  "--num-layers", "8", "--batch-size", "8", "--num-epochs", "1",
                  "--out-dir", out, "--progress", "off")
    assert trained.returncode == 0, trained.stdout + trained.stderr[-3000:]
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["image_shape"] == [3, 14, 14] and config["num_classes"] == 4
    # mean/std computed once and cached beside the records
    cached = json.load(open(made["train"][0][:-4] + ".mixup.json"))
    np.testing.assert_allclose(cached["mean"], made["train"][1].reshape(-1, 3).mean(0),
                               atol=2.0)  # JPEG
    scored = cli("mixup_app.score", "--out-dir", out)
    assert scored.returncode == 0 and scored.stdout.strip().endswith("/7)"), scored.stderr
    resumed = cli("mixup_app.train", "--resume", "--out-dir", out, "--num-epochs", "2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    refused = cli("mixup_app.train", "--dataset", "rec", "--train-rec", made["train"][0],
                  "--data-dir", data_dir)
    assert refused.returncode == 2 and "--val-rec" in refused.stderr
