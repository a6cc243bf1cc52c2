"""Converters on inputs built here in the official formats, read back through ImageRecordIter."""
import gzip
import hashlib
import io
import os
import shutil
import struct
import tarfile

import mxnet as mx
import numpy as np
import py2pickle
import pytest

from mixup_app.data import records, sources, userrec
from mixup_app.data.records import DataError
from mixup_app.data import catalogue
from mixup_app.data import command as data_command
from mixup_app.data import iterators
from mixup_app.data import preparation


def py2_batch(images, labels):
    """A CIFAR-10 batch as cifar-10-python.tar.gz has it: a Python 2 pickle of a dict with
    str keys, data rows of R, G, B planes."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return py2pickle.dumps({b"batch_label": b"training batch 1 of 5",
                            b"labels": [int(v) for v in labels], b"data": rows,
                            b"filenames": [b"x.png"] * len(labels)})


def make_cifar_archive(path, rng, per_batch=6, n_test=7, drop=None, mutate=None):
    splits = {"train": ([], []), "val": ([], [])}
    with tarfile.open(path, "w:gz") as tar:
        members = sources.CIFAR10_TRAIN_MEMBERS + [sources.CIFAR10_TEST_MEMBER,
                                                   "cifar-10-batches-py/batches.meta"]
        for member in members:
            if member == drop:
                continue
            if member.endswith("batches.meta"):
                payload = py2pickle.dumps({b"label_names": [b"airplane"] * 10})
            else:
                count = n_test if member.endswith("test_batch") else per_batch
                images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
                labels = rng.integers(0, 10, size=count)
                split = "val" if member.endswith("test_batch") else "train"
                splits[split][0].append(images)
                splits[split][1].append(labels)
                payload = py2_batch(images, labels) if mutate is None else mutate(images, labels)
            info = tarfile.TarInfo(member)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return {k: (np.concatenate(v[0]), np.concatenate(v[1])) for k, v in splits.items() if v[0]}


def idx_bytes(array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim,
                                                                    *array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_fashion_dir(directory, rng, counts=(9, 5)):
    os.makedirs(directory, exist_ok=True)
    made = {}
    for (split, (images_name, labels_name)), count in zip(sources.FASHION_MNIST_FILES.items(),
                                                          counts):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count)
        for name, array in ((images_name, images), (labels_name, labels)):
            with gzip.open(os.path.join(directory, name), "wb") as f:
                f.write(idx_bytes(array))
        made[split] = (images, labels)
    return made


def read_back(data_dir, dataset, split, batch_size=4, **kwargs):
    """Every image of a split once, in record order, as uint8 (N, H, W, C), with labels."""
    it = iterators.record_iter(data_dir, dataset, split, batch_size, normalize=False, train=False,
                          **kwargs)
    images, labels = [], []
    for batch in it:
        keep = batch_size - batch.pad
        images.append(batch.data[0].asnumpy()[:keep])
        labels.append(batch.label[0].asnumpy()[:keep])
    images = np.concatenate(images).transpose(0, 2, 3, 1)
    assert np.all(images == np.rint(images))
    return images.astype(np.uint8), np.concatenate(labels).astype(np.int64)


def test_cifar10_archive_converts_pixel_exact_in_official_order(tmp_path, rng):
    archive = str(tmp_path / "cifar-10-python.tar.gz")
    made = make_cifar_archive(archive, rng)
    with tarfile.open(archive) as tar:  # written as Python 2 did: str, not _codecs'd bytes
        raw = tar.extractfile(sources.CIFAR10_TEST_MEMBER).read()
    assert b"_codecs" not in raw and b"cnumpy.core.multiarray\n_reconstruct" in raw
    assert data_command.main(["cifar10", "--data-dir", str(tmp_path / "d"), "--from", archive]) == 0
    for split in ("train", "val"):
        images, labels = read_back(str(tmp_path / "d"), "cifar10", split)
        np.testing.assert_array_equal(images, made[split][0])  # RGB, not BGR
        np.testing.assert_array_equal(labels, made[split][1])
    manifest = records.load_manifest(str(tmp_path / "d"), "cifar10")
    np.testing.assert_allclose(manifest["mean"], made["train"][0].reshape(-1, 3).mean(0),
                               atol=1e-3)


@pytest.mark.parametrize("damage, words", [
    ("truncate", ["cifar-10-python.tar.gz"]),
    ("drop_member", ["data_batch_3", "missing"]),
    ("wrong_shape", ["data_batch_1", "(N, 3072)"]),
    ("not_a_pickle", ["data_batch_1", "truncated or corrupt"]),
    ("bad_labels", ["data_batch_1", "outside 0..9"]),
    ("not_an_archive", ["not a readable tar archive"]),
])
def test_bad_cifar10_archives_are_refused_naming_the_file(tmp_path, rng, damage, words):
    archive = str(tmp_path / "cifar-10-python.tar.gz")
    if damage == "drop_member":
        make_cifar_archive(archive, rng, drop="cifar-10-batches-py/data_batch_3")
    elif damage == "wrong_shape":
        make_cifar_archive(archive, rng, mutate=lambda im, lb: py2pickle.dumps(
            {b"data": im.reshape(len(im), -1)[:, :1000], b"labels": list(lb)}))
    elif damage == "not_a_pickle":
        make_cifar_archive(archive, rng, mutate=lambda im, lb: py2_batch(im, lb)[:500])
    elif damage == "bad_labels":
        make_cifar_archive(archive, rng, mutate=lambda im, lb: py2_batch(im, lb + 10))
    else:
        make_cifar_archive(archive, rng)
        raw = open(archive, "rb").read()
        open(archive, "wb").write(raw[: len(raw) // 2] if damage == "truncate" else b"hello")
    with pytest.raises(DataError) as caught:
        preparation.prepare("cifar10", str(tmp_path / "d"), source=archive, log=lambda *_: None)
    for word in words:
        assert word in str(caught.value)
    assert not os.path.exists(tmp_path / "d" / "cifar10.json")


def test_fashion_mnist_idx_converts_pixel_exact(tmp_path, rng):
    made = make_fashion_dir(str(tmp_path / "idx"), rng)
    preparation.prepare("fashion-mnist", str(tmp_path / "d"), source=str(tmp_path / "idx"),
                 log=lambda *_: None)
    for split in ("train", "val"):
        images, labels = read_back(str(tmp_path / "d"), "fashion-mnist", split)
        np.testing.assert_array_equal(images[..., 0], made[split][0])
        np.testing.assert_array_equal(labels, made[split][1])


@pytest.mark.parametrize("damage", ["truncate", "magic"])
def test_bad_idx_files_are_refused_naming_the_file(tmp_path, rng, damage):
    directory = str(tmp_path / "idx")
    make_fashion_dir(directory, rng)
    name = os.path.join(directory, "t10k-images-idx3-ubyte.gz")
    raw = gzip.open(name).read()
    raw = raw[:-100] if damage == "truncate" else b"\x00\x00\x09\x03" + raw[4:]
    with gzip.open(name, "wb") as f:
        f.write(raw)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz"):
        preparation.prepare("fashion-mnist", str(tmp_path / "d"), source=directory,
                     log=lambda *_: None)


def test_real_fashion_mnist_if_installed():
    directory = sources.FASHION_MNIST_DEBIAN_DIR
    if not os.path.exists(os.path.join(directory, "t10k-labels-idx1-ubyte.gz")):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    splits = sources.read_fashion_mnist(directory)
    assert splits["train"][0].shape == (60000, 28, 28) and splits["val"][0].shape[0] == 10000
    assert np.bincount(splits["val"][1]).tolist() == [1000] * 10


def test_interrupted_conversion_leaves_nothing_that_looks_finished(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = records.encode_png

    def failing(image):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real(image)

    monkeypatch.setattr(records, "encode_png", failing)
    with pytest.raises(KeyboardInterrupt):
        preparation.prepare("synthetic", str(tmp_path), log=lambda *_: None, synthetic_counts=(50, 10))
    finished = [f for f in os.listdir(tmp_path) if not f.endswith(".part")]
    assert finished == []
    assert not catalogue.is_prepared(str(tmp_path), "synthetic")


def test_corrupt_or_truncated_records_are_refused_naming_the_file(tmp_path):
    preparation.prepare("synthetic", str(tmp_path), log=lambda *_: None, synthetic_counts=(40, 10))
    rec, _ = records.paths(str(tmp_path), "synthetic", "train")
    raw = bytearray(open(rec, "rb").read())
    raw[len(raw) // 2] ^= 0xFF
    open(rec, "wb").write(bytes(raw))
    with pytest.raises(DataError, match="synthetic_train.rec.*SHA-256"):
        preparation.prepare("synthetic", str(tmp_path), log=lambda *_: None)
    open(rec, "wb").write(bytes(raw[:-10]))
    with pytest.raises(DataError, match="synthetic_train.rec has .* bytes"):
        iterators.record_iter(str(tmp_path), "synthetic", "train", 8)


def test_foreign_truncated_rec_is_refused_by_the_scan(tmp_path):
    preparation.prepare("synthetic", str(tmp_path), log=lambda *_: None, synthetic_counts=(40, 10))
    rec, idx = records.paths(str(tmp_path), "synthetic", "val")
    raw = open(rec, "rb").read()
    open(rec, "wb").write(raw[: len(raw) - 500])
    with pytest.raises(DataError, match="synthetic_val.rec"):
        userrec.check_split(rec, idx, 10)


def test_shards_cover_every_record_exactly_once(tmp_path):
    preparation.prepare("synthetic", str(tmp_path), log=lambda *_: None, synthetic_counts=(50, 23))
    everything, _ = read_back(str(tmp_path), "synthetic", "val")
    seen = []
    for part in range(3):
        images, _ = read_back(str(tmp_path), "synthetic", "val", num_parts=3, part_index=part)
        assert 0 < len(images) < len(everything)
        seen.extend(image.tobytes() for image in images)
    assert sorted(seen) == sorted(image.tobytes() for image in everything)


def test_training_iterator_augments_and_shuffles_reproducibly(tmp_path):
    preparation.prepare("synthetic", str(tmp_path), log=lambda *_: None, synthetic_counts=(40, 10))

    def first_batch(seed):
        it = iterators.record_iter(str(tmp_path), "synthetic", "train", 40, seed=seed,
                              normalize=False)
        batch = next(iter(it))
        return batch.data[0].asnumpy(), batch.label[0].asnumpy()

    a, b, c = first_batch(1), first_batch(1), first_batch(2)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1], c[1]), "another seed, another order"
    plain, _ = read_back(str(tmp_path), "synthetic", "train")
    assert not any(np.array_equal(a[0][0].transpose(1, 2, 0), image) for image in plain), \
        "padded random crops differ from the stored images"


def test_offline_cifar10_error_says_what_to_download(tmp_path, monkeypatch):
    closed = "http://127.0.0.1:9/"
    monkeypatch.setattr(sources, "CIFAR10_URL", closed + "cifar-10-python.tar.gz")
    monkeypatch.setattr(sources, "CIFAR10_REC_URLS", {"train": closed + "t.rec",
                                                      "val": closed + "v.rec"})
    with pytest.raises(DataError) as caught:
        preparation.prepare("cifar10", str(tmp_path), log=lambda *_: None)
    text = str(caught.value)
    assert "cifar-10-python.tar.gz" in text and "--from" in text and sources.CIFAR10_MD5 in text


def test_an_archive_that_is_not_the_published_one_is_said_so_and_read_as_data(tmp_path, rng,
                                                                             monkeypatch):
    archive = str(tmp_path / "mine.tar.gz")
    made = make_cifar_archive(archive, rng)
    digest = hashlib.md5(open(archive, "rb").read()).hexdigest()

    def notes(data_dir, source=None):
        said = []
        preparation.prepare("cifar10", str(tmp_path / data_dir), source=source, log=said.append)
        return [line for line in said if "MD5" in line]

    said = notes("given", archive)  # given with --from
    assert len(said) == 1 and archive in said[0] and digest in said[0]
    assert sources.CIFAR10_MD5 in said[0] and "untrusted" in said[0]
    images, labels = read_back(str(tmp_path / "given"), "cifar10", "val")  # and read
    np.testing.assert_array_equal(images, made["val"][0])
    downloads = tmp_path / "found" / "downloads"  # found where a download would be
    downloads.mkdir(parents=True)
    shutil.copy(archive, downloads / "cifar-10-python.tar.gz")
    said = notes("found")
    assert len(said) == 1 and str(downloads / "cifar-10-python.tar.gz") in said[0]
    # the published archive is not in the tests: give this one its MD5
    monkeypatch.setattr(sources, "CIFAR10_MD5", digest)
    assert notes("published", archive) == []


def test_bad_iterator_shape_is_refused(tmp_path):
    preparation.prepare("synthetic", str(tmp_path), log=lambda *_: None, synthetic_counts=(20, 10))
    with pytest.raises(ValueError, match="image.shape"):
        iterators.record_iter(str(tmp_path), "synthetic", "train", 4, image_shape=(1, 32, 32))


def test_cifar10_records_without_a_manifest_are_scanned_and_adopted(tmp_path):
    import shutil
    made = str(tmp_path / "made")
    preparation.prepare("synthetic", made, log=lambda *_: None, synthetic_counts=(30, 12))
    target = str(tmp_path / "d")
    os.makedirs(target)
    for split in ("train", "val"):
        for src, dst in zip(records.paths(made, "synthetic", split),
                            records.paths(target, "cifar10", split)):
            shutil.copy(src, dst)
    manifest = preparation.prepare("cifar10", target, log=lambda *_: None)
    assert manifest["encoding"] == "as found"
    assert [manifest["splits"][s]["count"] for s in ("train", "val")] == [30, 12]
    assert records.verify(target, "cifar10")["splits"]["val"]["count"] == 12


def test_missing_idx_file_is_named_as_missing(tmp_path, rng):
    make_fashion_dir(str(tmp_path / "idx"), rng)
    os.remove(str(tmp_path / "idx" / "train-labels-idx1-ubyte.gz"))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz not found"):
        preparation.prepare("fashion-mnist", str(tmp_path / "d"), source=str(tmp_path / "idx"),
                     log=lambda *_: None)


@pytest.mark.parametrize("channels", [1, 3])
def test_records_hold_lossless_png_of_the_right_mode(tmp_path, rng, channels):
    """Checked against Pillow's and OpenCV's own decoders, not only through MXNet."""
    from PIL import Image
    shape = (6, 9, 7) if channels == 1 else (6, 9, 7, 3)
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    labels = np.arange(6) % 3
    records.write_split(str(tmp_path), "t", "train", images, labels)
    reader = mx.recordio.MXIndexedRecordIO(*reversed(records.paths(str(tmp_path), "t", "train")),
                                           "r")
    for i in range(6):
        header, payload = mx.recordio.unpack(reader.read_idx(i))
        assert payload[:8] == b"\x89PNG\r\n\x1a\n" and header.label == labels[i]
        decoded = Image.open(io.BytesIO(payload))
        assert decoded.format == "PNG" and decoded.mode == ("L" if channels == 1 else "RGB")
        np.testing.assert_array_equal(np.asarray(decoded), images[i])
        cv2 = pytest.importorskip("cv2")
        bgr = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(bgr if channels == 1 else bgr[..., ::-1], images[i])


def test_encode_png_refuses_other_arrays():
    with pytest.raises(ValueError, match="uint8"):
        records.encode_png(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(4, 4, 4\)"):
        records.encode_png(np.zeros((4, 4, 4), np.uint8))


def test_synthetic_set_of_other_counts_is_rebuilt_and_said_so(tmp_path):
    said = []
    preparation.prepare("synthetic", str(tmp_path), log=said.append, synthetic_counts=(30, 10))
    preparation.prepare("synthetic", str(tmp_path), log=said.append, synthetic_counts=(30, 10))
    assert "using synthetic" in said[-1]
    manifest = preparation.prepare("synthetic", str(tmp_path), log=said.append,
                            synthetic_counts=(40, 12))
    assert any("30 train / 10 val" in line and "40 / 12" in line and "rebuilding" in line
               for line in said)
    assert [manifest["splits"][s]["count"] for s in ("train", "val")] == [40, 12]
    assert records.verify(str(tmp_path), "synthetic")["splits"]["train"]["count"] == 40
    assert len(read_back(str(tmp_path), "synthetic", "val")[0]) == 12
    # no counts asked for: whatever is there
    assert preparation.prepare("synthetic", str(tmp_path), log=said.append)["source"] == \
        "synthetic(num_train=40, num_val=12)"


def test_data_cli_takes_synthetic_size_like_train_sh(tmp_path, capsys):
    assert data_command.main(["synthetic", "--data-dir", str(tmp_path), "--synthetic-size",
                      "20,7"]) == 0
    assert _counts(records.load_manifest(str(tmp_path), "synthetic")) == [20, 7]
    with pytest.raises(SystemExit) as stop:
        data_command.main(["synthetic", "--data-dir", str(tmp_path), "--num-train", "20"])
    assert stop.value.code == 2 and "--num-train" in capsys.readouterr().err


def test_data_cli_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        data_command.main(["--help"])
    out = capsys.readouterr().out
    parser = data_command.build_parser()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert "default" in (action.help or ""), action.option_strings
    assert "2000,500" in out and "./tools.sh data" in out


def test_manifests_carry_mirror_and_classes(tmp_path):
    manifest = preparation.prepare("synthetic", str(tmp_path), log=lambda *_: None,
                            synthetic_counts=(20, 10))
    assert manifest["mirror"] is False and manifest["classes"][0] == "grating-0"
    assert records.load_manifest(str(tmp_path), "synthetic")["mirror"] is False


def _counts(manifest):
    return [manifest["splits"][s]["count"] for s in ("train", "val")]
