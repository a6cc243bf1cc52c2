"""Catalogue of bad inputs to the data command line: each is refused with exit code 2
and one `error: ...` naming the option or file and the bad value, never a traceback. (Hostile
files, made to run code or exhaust memory, are in test_hostile_files.py.)"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from mixup_app.data import preparation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def image_tree(root, sizes=((6, 9),), val=True, corrupt=None):
    """root/train/{a,b}/*.png (and root/val/...), one image per size given, per class."""
    rng = np.random.default_rng(0)
    for split in ("train", "val") if val else ("train",):
        for name in ("a", "b"):
            folder = os.path.join(root, split, name)
            os.makedirs(folder)
            for i, size in enumerate(sizes):
                pixels = rng.integers(0, 256, size=size + (3,), dtype=np.uint8)
                Image.fromarray(pixels).save(os.path.join(folder, "%d.png" % i))
    if corrupt:
        open(os.path.join(root, corrupt), "wb").write(b"GIF89a but not really")
    return root


def write(path, content):
    with open(path, "w") as f:
        f.write(content)
    return path


def damaged_manifest(change=None, text=None):
    """A setup: the synthetic set prepared in {tmp}/data, then its manifest (DATASET.json)
    changed by ``change(info)`` or replaced by ``text``."""
    def setup(tmp):

        folder = os.path.join(tmp, "data")
        preparation.prepare("synthetic", folder, log=lambda *_: None, synthetic_counts=(20, 10))
        path = os.path.join(folder, "synthetic.json")
        if change is not None:
            with open(path) as f:
                info = json.load(f)
            info = change(info) or info
        write(path, text if text is not None else json.dumps(info))
    return setup


def _set(**fields):
    return lambda info: info.update(fields)


# the manifest of a prepared set, read back by the command that prepares it (./tools.sh data
# SET checks and reuses what is there): refused naming the file and the field
SYNTHETIC = ["synthetic", "--synthetic-size", "20,10"]
MANIFEST_CASES = {
    "manifest mean NaN": (SYNTHETIC, damaged_manifest(_set(mean=[float("nan"), 1.0, 1.0])),
                          ["data/synthetic.json", "mean", "nan"]),
    "manifest shape as text": (SYNTHETIC, damaged_manifest(_set(image_shape=[3, "32", 32])),
                               ["data/synthetic.json", "image_shape", "'32'"]),
    "manifest count as text": (
        SYNTHETIC, damaged_manifest(lambda i: i["splits"]["val"].update(count="ten")),
        ["data/synthetic.json", "splits", "ten"]),
    "manifest classes a number": (SYNTHETIC, damaged_manifest(_set(classes=10)),
                                  ["data/synthetic.json", "classes", "10"]),
    "manifest mirror as text": (SYNTHETIC, damaged_manifest(_set(mirror="no")),
                                ["data/synthetic.json", "mirror", "'no'"]),
    "manifest a list": (SYNTHETIC, damaged_manifest(lambda i: [i]),
                        ["data/synthetic.json", "JSON object"]),
    "manifest cut off": (SYNTHETIC, damaged_manifest(text='{"classes": ["a",'),
                         ["data/synthetic.json", "corrupt"]),
}


# (arguments, setup(tmp) run first, words stderr must contain); {tmp} is the tmp folder
CASES = {
    "unknown dataset": (["cifar100"], None, ["cifar100", "DATASET"]),
    "synthetic size too small": (["synthetic", "--synthetic-size", "5,1"], None,
                                 ["--synthetic-size", "5,1"]),
    "synthetic size not numbers": (["synthetic", "--synthetic-size", "20x5"], None,
                                   ["--synthetic-size", "20x5"]),
    "--from for synthetic": (["synthetic", "--from", "x.tar.gz"], None,
                             ["--from", "synthetic"]),
    "missing cifar archive": (["cifar10", "--from", "{tmp}/nowhere.tar.gz"], None,
                              ["nowhere.tar.gz", "no such file"]),
    "cifar archive not a tar": (["cifar10", "--from", "{tmp}/fake.tar.gz"],
                                lambda t: write(os.path.join(t, "fake.tar.gz"), "hello"),
                                ["fake.tar.gz", "not a readable tar archive"]),
    "fashion-mnist folder without files": (
        ["fashion-mnist", "--from", "{tmp}/empty"], lambda t: os.makedirs(t + "/empty"),
        ["empty/train-images-idx3-ubyte.gz", "not found"]),
    "dir for a built-in dataset": (["cifar10", "{tmp}/pics"], None, ["{tmp}/pics", "images"]),
    "data dir is a file": (["synthetic", "--data-dir", "{tmp}/afile"],
                           lambda t: write(os.path.join(t, "afile"), "x"),
                           ["--data-dir", "afile"]),
    "images without DIR": (["images"], None, ["images", "DIR"]),
    "images folder missing": (["images", "{tmp}/nosuch"], None, ["nosuch", "no such folder"]),
    "images without val": (["images", "{tmp}/t"], lambda t: image_tree(t + "/t", val=False),
                           ["{tmp}/t/val", "missing"]),
    "images corrupt file": (["images", "{tmp}/t"],
                            lambda t: image_tree(t + "/t", corrupt="val/b/0.png"),
                            ["{tmp}/t/val/b/0.png", "not a readable image"]),
    "images mixed sizes": (["images", "{tmp}/t"],
                           lambda t: image_tree(t + "/t", sizes=((6, 9), (7, 9))),
                           ["--image-size", "6x9", "7x9"]),
    "images bad --image-size": (["images", "{tmp}/t", "--image-size", "0,5"], None,
                                ["--image-size", "0,5"]),
    "images bad --channels": (["images", "{tmp}/t", "--channels", "2"], None,
                              ["--channels", "2"]),
    "images bad --name": (["images", "{tmp}/t", "--name", "a b"], lambda t: image_tree(t + "/t"),
                          ["--name", "a b"]),
}
CASES.update(MANIFEST_CASES)


def _files(folder):
    """{path: bytes} of every file under folder (nothing a refusal may change)."""
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                out[os.path.join(root, name)] = f.read()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_with_exit_2_naming_it(tmp_path, case):
    args, setup, words = CASES[case]
    tmp = str(tmp_path)
    if setup is not None:
        setup(tmp)
    before = _files(os.path.join(tmp, "data"))
    args = [a.replace("{tmp}", tmp) for a in args]
    if "--data-dir" not in args:
        args += ["--data-dir", os.path.join(tmp, "data")]
    env = dict(os.environ, MIXUP_HOME=tmp, PYTHONPATH=ROOT, MIXUP_PROGRESS="0")
    proc = subprocess.run([sys.executable, "-m", "mixup_app.data.command"] + args, capture_output=True,
                          text=True, env=env, cwd=tmp, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    # "error: ..." (or "PROG: error: ..." in mixup_app.cli's spelling), one line, hint to --help
    assert lines and "error: " in lines[0] and len(lines) == 1, proc.stderr
    for word in words:
        assert word.replace("{tmp}", tmp) in proc.stderr, (word, proc.stderr)
    assert not os.path.exists(os.path.join(tmp, "data", "t.json"))
    after = _files(os.path.join(tmp, "data"))
    assert {path: after.get(path) for path in before} == before  # nothing lost or changed
