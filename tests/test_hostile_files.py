"""A catalogue of hostile files: files made to run code, exhaust memory or crash a
command, handed to the commands as a user would hand them over (an archive from a mirror, a
folder or a run directory from a colleague).

Every case runs the real command line in its own process and must end in a clean refusal:
exit code 2, one line on stderr naming the file, no traceback, nothing run (the marker file
the hostile payload would create never appears) and nothing written. Its peak memory is
measured with resource.getrusage(RUSAGE_CHILDREN) in a small wrapper process whose only child
is the command (in the test process itself that figure would be the largest of every child
the test run ever waited for) and must stay within MEMORY_MARGIN_MB of the same command on a
small good input; each hostile file here would need at least 500 MB more than that to be
read (the sizes are given per case), so a refusal that reads it first cannot pass.
"""
import gzip
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tarfile
import zlib
from concurrent.futures import ThreadPoolExecutor

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, TINY
from test_data import make_cifar_archive, make_fashion_dir
from test_data_userrec import pil_bytes, write_recs

# Measured on the development machine (2 cores, MXNet 1.9.1 CPU, Python 3.11): the good runs
# peak at 256 MB (the data tool) to 351 MB (training), most of it MXNet's own libraries; the
# refusals at 255-277 MB, at or below the good run of the same command. Read, the hostile files
# need 512 MB (a RecordIO part) to 2 GB more: before they were refused unread, the same cases
# peaked at 0.79 to 3.2 GB (and a 10^9-layer config.json at the 6 GB the check was run under).
MEMORY_MARGIN_MB = 150

WRAPPER = """
import resource, subprocess, sys
try:
    code = subprocess.run(sys.argv[3:], timeout=float(sys.argv[2])).returncode
except subprocess.TimeoutExpired:
    code = 124
with open(sys.argv[1], "w") as f:
    f.write("%d %d" % (code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
"""


def run_measured(module, args, cwd, timeout=300):
    """(exit code, stdout, stderr, peak RSS in MB) of `python -m module args`."""
    report = os.path.join(cwd, ".peak-%s-%d" % (module, abs(hash(tuple(args)))))
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", MIXUP_HOME=cwd,
               MIXUP_PROGRESS="0", XDG_CACHE_HOME=os.path.join(cwd, "cache"))
    proc = subprocess.run([sys.executable, "-c", WRAPPER, report, str(timeout), sys.executable,
                           "-m", module] + list(args), cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout + 60)
    with open(report) as f:
        code, peak_kb = map(int, f.read().split())
    os.remove(report)
    return code, proc.stdout, proc.stderr, peak_kb / 1024


# ----------------------------------------------------------------- pickles that run things

class Calls:
    """Pickles as a call of func(*args): what a hostile pickle does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def evil_pickles(marker):
    """name -> pickle bytes that create `marker` when unpickled in full."""
    touch = "touch %s" % marker
    return {
        "os.system (GLOBAL, protocol 0)": b"cos\nsystem\n(S'" + touch.encode() + b"'\ntR.",
        "posix.system (STACK_GLOBAL, protocol 4)": pickle.dumps(Calls(os.system, touch), 4),
        "os.system (INST, protocol 0)": b"(S'" + touch.encode() + b"'\nios\nsystem\n.",
        "subprocess.call": pickle.dumps(Calls(subprocess.call, ["touch", marker]), 3),
        "subprocess.Popen": pickle.dumps(Calls(subprocess.Popen, ["touch", marker]), 3),
        "builtins.eval": pickle.dumps(Calls(eval, "__import__('os').system(%r)" % touch), 3),
        # imports hostile_module.py from the working directory, which creates the marker
        "builtins.__import__": pickle.dumps(Calls(__import__, "hostile_module"), 3),
    }


def plant_import_target(folder, marker):
    with open(os.path.join(folder, "hostile_module.py"), "w") as f:
        f.write("open(%r, 'w').close()\n" % marker)


# ------------------------------------------------------------------- compressed large files

def gzip_zeros(out, count_mb):
    """Append count_mb MB of zeros to the gzip stream `out` in a few KB: each MB is its own
    gzip member (readers concatenate members), compressed once."""
    member = gzip.compress(bytes(1 << 20), compresslevel=9)
    for _ in range(count_mb):
        out.write(member)


def tar_bomb(path, header_type, size_mb):
    """A .tar.gz whose first header (`header_type`) claims size_mb MB, all of them zeros."""
    info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
    info.type = header_type
    info.size = size_mb << 20
    with open(path, "wb") as out:
        out.write(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT)))
        gzip_zeros(out, size_mb)
        out.write(gzip.compress(bytes(1024)))  # the end-of-archive blocks
    return path


def png(path, width, height, rows=None):
    """An RGB PNG declaring width x height; `rows` the raw scanlines to compress (default: all
    of them, black)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))
    if rows is None:
        compressor = zlib.compressobj(1)
        row = bytes(1 + 3 * width)
        body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    else:
        body = zlib.compress(rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                                                  8, 2, 0, 0, 0))
                + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def image_tree(root, rng):
    for split in ("train", "val"):
        for name in ("a", "b"):
            os.makedirs(os.path.join(root, split, name))
            pixels = rng.integers(0, 256, size=(6, 9, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(root, split, name, "0.png"))
    return root


# ------------------------------------------------------------------------------- the cases

class Case:
    """A hostile input: the command and arguments, the words its refusal must say, and what
    must not exist afterwards. `good` names the baseline it is measured against."""

    def __init__(self, module, args, words, good, absent=(), code=2, stdout_words=(),
                 cwd=None):
        self.module, self.args, self.words, self.good = module, args, words, good
        self.absent, self.code, self.stdout_words, self.cwd = absent, code, stdout_words, cwd


def cifar_cases(tmp, rng):
    cases = {}
    for number, name in enumerate(evil_pickles("")):
        # each case its own marker, so that one case running code fails that case alone
        marker = os.path.join(tmp, "MARKER-cifar-%d" % number)
        folder = os.path.join(tmp, "cifar-%d" % number)
        os.makedirs(folder)
        plant_import_target(folder, marker)
        archive = os.path.join(folder, "evil.tar.gz")
        payload = evil_pickles(marker)[name]
        make_cifar_archive(archive, rng, mutate=lambda im, lb, payload=payload: payload)
        cases["cifar10 batch calls " + name] = Case(
            "mixup_app.data.command", ["cifar10", "--from", archive, "--data-dir", folder + "/d"],
            [archive, "data_batch_1", "refused"], "data",
            absent=[marker, folder + "/d/cifar10.json"], cwd=folder)
    # a 2 GB member: read whole before unpickling, it needs 2 GB
    cases["cifar10 member of 2 GB"] = Case(
        "mixup_app.data.command", ["cifar10", "--from", tar_bomb(tmp + "/big-member.tar.gz", tarfile.REGTYPE,
                                                     2048), "--data-dir", tmp + "/d"],
        ["big-member.tar.gz", "data_batch_1", "2147483648 bytes"], "data")
    # a pax header claiming 2 GB: tarfile reads extended headers into memory whole
    cases["cifar10 pax header of 2 GB"] = Case(
        "mixup_app.data.command", ["cifar10", "--from", tar_bomb(tmp + "/big-pax.tar.gz", tarfile.XHDTYPE,
                                                     2048), "--data-dir", tmp + "/d"],
        ["big-pax.tar.gz", "extended header claims 2147483648 bytes"], "data")
    return cases


def fashion_cases(tmp, rng):
    def folder(name, images_file):
        directory = os.path.join(tmp, name)
        make_fashion_dir(directory, rng)
        with open(os.path.join(directory, "train-images-idx3-ubyte.gz"), "wb") as f:
            images_file(f)
        return directory

    def overflow(f):  # 2^31 x 2^31 x 4 wraps to 0 bytes in int64
        f.write(gzip.compress(struct.pack(">HBBIII", 0, 8, 3, 2 ** 31, 2 ** 31, 4)))

    def bomb(f):  # 2 000 000 images of 28x28 (1.5 GB), all there, in 1.5 MB of gzip
        f.write(gzip.compress(struct.pack(">HBBIII", 0, 8, 3, 2_000_000, 28, 28)))
        gzip_zeros(f, 2_000_000 * 784 >> 20)
        f.write(gzip.compress(bytes(2_000_000 * 784 - (2_000_000 * 784 >> 20 << 20))))

    def promises_more(f):  # 900 000 images promised, 10 there
        f.write(gzip.compress(struct.pack(">HBBIII", 0, 8, 3, 900_000, 28, 28)
                              + bytes(10 * 784)))

    cases = {}
    for name, write, words in (
            ("overflowing header", overflow, ["2147483648 items of 2147483648x4"]),
            ("bomb of 2 000 000 images", bomb, ["2000000 items of 28x28", "at most"]),
            ("header promising more than it holds", promises_more,
             ["900000 items", "truncated"])):
        directory = folder(name.replace(" ", "-"), write)
        cases["fashion-mnist IDX " + name] = Case(
            "mixup_app.data.command", ["fashion-mnist", "--from", directory, "--data-dir", tmp + "/d"],
            [directory + "/train-images-idx3-ubyte.gz"] + words, "data",
            absent=[tmp + "/d/fashion-mnist.json"])
    return cases


def image_cases(tmp, rng):
    cases = {}

    def tree(name, plant, *extra, words):
        root = image_tree(os.path.join(tmp, name), rng)
        plant(root)
        cases["images " + name.replace("-", " ")] = Case(
            "mixup_app.data.command", ["images", root, "--data-dir", tmp + "/d"] + list(extra),
            [w.replace("{root}", root) for w in words], "images",
            absent=[tmp + "/d/%s.json" % name])

    # 10^10 pixels declared (30 GB decoded): Pillow refuses it with an error that was not caught
    tree("bomb", lambda r: png(r + "/train/a/1.png", 100_000, 100_000, rows=bytes(300_001)),
         words=["{root}/train/a/1.png", "decompression bomb"])
    # 90 million pixels, between Pillow's limit and twice it, where Pillow only warns: decoded
    # and converted it needs 540 MB (--image-size makes the sizes agree)
    tree("bomb-under-twice-the-limit", lambda r: png(r + "/train/a/1.png", 9500, 9500),
         "--image-size", "6,9", words=["{root}/train/a/1.png", "decompression bomb"])
    tree("symlink-loop", lambda r: os.symlink("loop.png", r + "/train/a/loop.png"),
         words=["{root}/train/a/loop.png", "loops"])
    tree("symlink-to-nothing", lambda r: os.symlink("gone.png", r + "/val/b/1.png"),
         words=["{root}/val/b/1.png", "leads nowhere"])
    outside = image_tree(os.path.join(tmp, "elsewhere"), rng)
    tree("symlink-outside", lambda r: os.symlink(outside + "/train/a/0.png",
                                                 r + "/train/b/1.png"),
         words=["{root}/train/b/1.png", "outside {root}"])
    tree("class-folder-outside", lambda r: os.symlink(outside + "/train/a", r + "/train/c"),
         words=["{root}/train/c", "outside {root}"])
    return cases


def rec_case(tmp, rng):
    """A .rec whose last record claims 2^29 - 1 bytes (MXNet zero-fills 512 MB for it)."""
    images = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    train = write_recs(tmp + "/hostile_train.rec", images, [0, 1, 2, 0, 1, 2], pack=pil_bytes)
    val = write_recs(tmp + "/hostile_val.rec", images[:3], [0, 1, 2], pack=pil_bytes)
    os.remove(tmp + "/hostile_train.idx")  # the scan reads every record to index them
    with open(train, "ab") as f:
        f.write(struct.pack("<II", 0xced7230a, (1 << 29) - 1) + bytes(64))
    return {"rec record claiming 512 MB": Case(
        "mixup_app.train", ["--dataset", "rec", "--train-rec", train, "--val-rec", val,
                        "--num-classes", "3", "--num-layers", "8", "--batch-size", "2",
                        "--num-epochs", "1", "--progress", "off", "--data-dir",
                        tmp + "/rec-data", "--out-dir", tmp + "/rec-run"],
        [train, "record 6", "claims 536870911 bytes", "truncated or corrupt"], "train",
        absent=[tmp + "/rec-run/config.json"])}


def manifest_cases(tmp, data_dir):
    cases = {}
    def on_a_device(info):
        # a registered pair's manifest names its files; /dev/zero is read without end
        info["paths"] = {split: ["/dev/zero", "/dev/zero"] for split in ("train", "val")}
        for split in ("train", "val"):
            info["splits"][split] = {"count": info["splits"][split]["count"], "rec_bytes": 0}

    changes = {
        "image shape of 10^9": (lambda i: i.update(image_shape=[3, 10 ** 9, 10 ** 9]),
                                ["image_shape"]),
        "num_classes -3": (lambda i: i.update(num_classes=-3), ["num_classes", "-3"]),
        "classes as a string": (lambda i: i.update(classes="ten"), ["classes", "'ten'"]),
        "a count as text": (lambda i: i["splits"]["train"].update(count="many"),
                            ["splits", "many"]),
        "mean as text": (lambda i: i.update(mean=["a", "b", "c"]), ["mean"]),
        "paths to a device": (on_a_device, ["/dev/zero", "not a regular file"]),
    }
    for name, (change, words) in changes.items():
        number = len(cases)
        copy = os.path.join(tmp, "data-%d" % number)
        shutil.copytree(data_dir, copy)
        manifest = os.path.join(copy, "synthetic.json")
        with open(manifest) as f:
            info = json.load(f)
        change(info)
        with open(manifest, "w") as f:
            json.dump(info, f)
        cases["manifest " + name] = Case(
            "mixup_app.train", TINY + ["--data-dir", copy, "--num-epochs", "1", "--out-dir",
                                   tmp + "/m-run-%d" % number],
            [manifest] + words, "train", absent=[tmp + "/m-run-%d/config.json" % number])
    return cases


def run_dir_cases(tmp, run):
    """A run directory from elsewhere: hostile .states for --resume and ./test.sh; hostile
    config.json and best.json for ./test.sh."""
    cases = {}
    marker = os.path.join(tmp, "MARKER-states")

    def foreign(name, change):
        copy = os.path.join(tmp, "run-" + name.replace(" ", "-"))
        shutil.copytree(run, copy)
        os.remove(os.path.join(copy, "test.json"))  # written by the good ./test.sh run
        change(copy)
        return copy

    def evil_states(marker):
        def change(copy):
            with open(os.path.join(copy, "model-0001.states"), "wb") as f:
                f.write(evil_pickles(marker)["posix.system (STACK_GLOBAL, protocol 4)"])
        return change

    marker = os.path.join(tmp, "MARKER-states-resume")
    evil = foreign("evil states", evil_states(marker))
    cases["train --resume with .states calling os.system"] = Case(
        "mixup_app.train", ["--resume", "--out-dir", evil, "--num-epochs", "2"],
        [evil + "/model-0001.states", "posix.system", "refused"], "train",
        absent=[marker, evil + "/model-0002.params"])
    # ./test.sh never reads .states: it scores the run and nothing is run
    marker = os.path.join(tmp, "MARKER-states-test")
    evil = foreign("evil states for test.sh", evil_states(marker))
    cases["test.sh beside .states calling os.system"] = Case(
        "mixup_app.score", ["--out-dir", evil], [], "evaluate", code=0,
        stdout_words=["accuracy: "], absent=[marker])

    def config(value):
        def change(copy):
            path = os.path.join(copy, "config.json")
            with open(path) as f:
                options = json.load(f)
            if callable(value):
                text = value(options)
            else:
                options.update(value)
                text = json.dumps(options)
            with open(path, "w") as f:
                f.write(text)
        return change

    for name, value, words in (
            # 166 666 666 units per stage: the graph alone would need hundreds of GB
            ("num_layers 10^9", {"num_layers": 999999998}, ["--num-layers", "999999998"]),
            ("image shape 10^9", {"image_shape": [3, 10 ** 9, 10 ** 9]},
             ["--image-shape", "1000000000"]),
            ("num_layers as text", {"num_layers": "fifty"}, ["--num-layers", "fifty"]),
            ("train_count null", {"train_count": None}, ["train_count", "None"]),
            ("dataset as a path", {"dataset": "../../etc/passwd"}, ["--dataset", "passwd"]),
            ("a list, not an object", lambda o: json.dumps([o]), ["not a JSON object"]),
            ("nested 100 000 deep", lambda o: "[" * 100_000 + "]" * 100_000,
             ["nested too deeply"])):
        copy = foreign("config " + name, config(value))
        cases["test.sh on config.json with " + name] = Case(
            "mixup_app.score", ["--out-dir", copy], [copy + "/config.json"] + words, "evaluate",
            absent=[copy + "/test.json"])

    def best(copy):
        with open(os.path.join(copy, "best.json"), "w") as f:
            json.dump({"epoch": "../../x", "val_accuracy": 2}, f)

    copy = foreign("bad best", best)
    cases["test.sh --epoch best on a bad best.json"] = Case(
        "mixup_app.score", ["--out-dir", copy, "--epoch", "best"], [copy + "/best.json", "epoch"],
        "evaluate", absent=[copy + "/test.json"])

    def huge_params(copy):
        # a parameter claiming 2^17 x 2^17 float32 (64 GB), with 24 bytes of data
        mx.nd.save(os.path.join(copy, "model-0001.params"),
                   {"arg:x": mx.nd.array(np.zeros((2, 3), np.float32))})
        path = os.path.join(copy, "model-0001.params")
        raw = bytearray(open(path, "rb").read())
        raw[36:52] = struct.pack("<qq", 2 ** 17, 2 ** 17)
        open(path, "wb").write(raw)

    copy = foreign("huge params", huge_params)
    cases["test.sh on a .params claiming 64 GB"] = Case(
        "mixup_app.score", ["--out-dir", copy], [copy + "/model-0001.params", "corrupt"],
        "evaluate", absent=[copy + "/test.json"])
    return cases


def all_cases(tmp, data_dir, run):
    rng = np.random.default_rng(22)
    cases = {}
    cases.update(cifar_cases(tmp, rng))
    cases.update(fashion_cases(tmp, rng))
    cases.update(image_cases(tmp, rng))
    cases.update(rec_case(tmp, rng))
    cases.update(manifest_cases(tmp, data_dir))
    cases.update(run_dir_cases(tmp, run))
    return cases


CASE_NAMES = ["cifar10 batch calls " + name for name in evil_pickles("M")] + [
    "cifar10 member of 2 GB", "cifar10 pax header of 2 GB",
    "fashion-mnist IDX overflowing header", "fashion-mnist IDX bomb of 2 000 000 images",
    "fashion-mnist IDX header promising more than it holds",
    "images bomb", "images bomb under twice the limit", "images symlink loop",
    "images symlink to nothing", "images symlink outside", "images class folder outside",
    "rec record claiming 512 MB",
    "manifest image shape of 10^9", "manifest num_classes -3", "manifest classes as a string",
    "manifest a count as text", "manifest mean as text", "manifest paths to a device",
    "train --resume with .states calling os.system",
    "test.sh beside .states calling os.system",
    "test.sh on config.json with num_layers 10^9", "test.sh on config.json with image shape 10^9",
    "test.sh on config.json with num_layers as text",
    "test.sh on config.json with train_count null",
    "test.sh on config.json with dataset as a path",
    "test.sh on config.json with a list, not an object",
    "test.sh on config.json with nested 100 000 deep",
    "test.sh --epoch best on a bad best.json", "test.sh on a .params claiming 64 GB"]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, data_dir):
    tmp = str(tmp_path_factory.mktemp("hostile"))
    run = os.path.join(tmp, "run")
    rng = np.random.default_rng(0)
    good_archive = tmp + "/good.tar.gz"
    make_cifar_archive(good_archive, rng)
    good_tree = image_tree(tmp + "/good-tree", rng)
    # the same commands on small good inputs: what the refusals are measured against
    baselines = {
        "train": ("mixup_app.train", TINY + ["--data-dir", data_dir, "--num-epochs", "1",
                                         "--out-dir", run]),
        "data": ("mixup_app.data.command", ["cifar10", "--from", good_archive, "--data-dir", tmp + "/gd"]),
        "images": ("mixup_app.data.command", ["images", good_tree, "--data-dir", tmp + "/gd"]),
        "evaluate": ("mixup_app.score", ["--out-dir", run]),
    }
    peaks = {}
    for name, (module, args) in baselines.items():
        code, _, err, peaks[name] = run_measured(module, args, tmp)
        assert code == 0, err[-3000:]
    cases = all_cases(tmp, data_dir, run)
    assert sorted(cases) == sorted(CASE_NAMES)

    def attempt(item):
        name, case = item
        return name, run_measured(case.module, case.args, case.cwd or tmp)

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(pool.map(attempt, cases.items()))
    return cases, done, peaks


@pytest.mark.slow
@pytest.mark.parametrize("name", CASE_NAMES)
def test_hostile_file_is_refused_and_nothing_runs(outcomes, name):
    cases, done, peaks = outcomes
    case = cases[name]
    code, out, err, peak = done[name]
    for path in case.absent:  # the markers a payload creates, the files a command writes
        assert not os.path.exists(path), "%s: %s was made" % (name, path)
    assert code == case.code, "%s: exit %d\n%s" % (name, code, (out + err)[-3000:])
    assert "Traceback" not in out + err, (out + err)[-3000:]
    assert peak < peaks[case.good] + MEMORY_MARGIN_MB, (
        "%s: peak %.0f MB, the good %s run %.0f MB" % (name, peak, case.good, peaks[case.good]))
    if case.code == 2:
        said = [line for line in err.splitlines() if line.strip()]
        assert len(said) == 1 and "error: " in said[0], err[-3000:]
        for word in case.words:
            assert word in said[0], "%s: %r not in %s" % (name, word, said[0])
    for word in case.stdout_words:
        assert word in out, out[-3000:]
