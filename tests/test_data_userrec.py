"""Records made elsewhere (mixup_app.data.userrec.adopt), written here with MXNet's own mx.recordio tools."""
import io
import json
import os
import struct

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from conftest import read_records
from mixup_app.data import userrec
from mixup_app.data.records import DataError


def quiet(*_):
    pass


def pil_bytes(pixels, fmt="PNG"):
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def write_recs(path, images, labels, indexed=True, fmt=".png", pack=None):
    """Records as MXNet's tools write them: pack_img (OpenCV, BGR in) unless `pack` is given."""
    base = path[:-4]
    if indexed:
        writer = mx.recordio.MXIndexedRecordIO(base + ".idx", path, "w")
    else:
        writer = mx.recordio.MXRecordIO(path, "w")
    for i, (image, label) in enumerate(zip(images, labels)):
        header = mx.recordio.IRHeader(0, float(label), i, 0)
        if pack is not None:
            item = mx.recordio.pack(header, pack(image))
        else:
            bgr = image[..., ::-1] if image.ndim == 3 else image
            item = mx.recordio.pack_img(header, bgr, quality=95, img_fmt=fmt)
        if indexed:
            writer.write_idx(i, item)
        else:
            writer.write(item)
    writer.close()
    return path


def make_pair(tmp_path, rng, counts=(12, 5), shape=(10, 8, 3), num_classes=4, **kwargs):
    made = {}
    for split, count in zip(("train", "val"), counts):
        images = rng.integers(0, 256, size=(count,) + shape, dtype=np.uint8)
        labels = rng.integers(0, num_classes, size=count)
        labels[0] = num_classes - 1
        path = write_recs(str(tmp_path / ("my_%s.rec" % split)), images, labels, **kwargs)
        made[split] = (path, images, labels)
    return made


def iterate(manifest, split, batch_size=4):
    """Every record through mx.io.ImageRecordIter with the adopted paths, in index order."""
    return read_records(*manifest["paths"][split], manifest["image_shape"], batch_size)


def mxnet_decoded(path):
    """Every image of a plain .rec as MXNet's unpack_img (OpenCV) decodes it, RGB."""
    reader = mx.recordio.MXRecordIO(path, "r")
    out = []
    while True:
        item = reader.read()
        if item is None:
            return np.stack(out)
        out.append(mx.recordio.unpack_img(item)[1][..., ::-1])


def test_indexed_jpeg_records_from_pack_img_are_adopted(tmp_path, rng):
    pytest.importorskip("cv2")
    made = make_pair(tmp_path, rng, fmt=".jpg")
    manifest = userrec.adopt(made["train"][0], made["val"][0], 4, log=quiet)
    assert manifest["image_shape"] == [3, 10, 8] and manifest["num_classes"] == 4
    assert manifest["classes"] == ["0", "1", "2", "3"] and manifest["mirror"] is True
    assert [manifest["splits"][s]["count"] for s in ("train", "val")] == [12, 5]
    for split in ("train", "val"):
        rec = made[split][0]
        assert manifest["paths"][split] == [rec, rec[:-4] + ".idx"]
        assert os.path.isabs(rec)
        pixels, labels = iterate(manifest, split)
        np.testing.assert_array_equal(labels, made[split][2])
        np.testing.assert_array_equal(pixels, mxnet_decoded(rec))   # ImageRecordIter's view
    reference = mxnet_decoded(made["train"][0]).reshape(-1, 3).astype(np.float64)
    # Pillow decodes the JPEGs for the statistics; OpenCV's decoder may differ by rounding
    np.testing.assert_allclose(manifest["mean"], reference.mean(0), atol=0.5)
    np.testing.assert_allclose(manifest["std"], reference.std(0), atol=0.5)
    beside = str(tmp_path / "my_train.mixup.json")
    assert manifest["manifest"] == beside and json.load(open(beside))["mean"] == manifest["mean"]


def test_plain_records_get_the_index_mxnet_would_write(tmp_path, rng):
    pytest.importorskip("cv2")
    made = make_pair(tmp_path, rng, indexed=False, shape=(7, 9))
    assert not os.path.exists(str(tmp_path / "my_train.idx"))
    manifest = userrec.adopt(made["train"][0], made["val"][0], 4, log=quiet)
    assert manifest["image_shape"] == [1, 7, 9]
    for split in ("train", "val"):
        _, images, labels = made[split]
        # reference: the same records written by MXIndexedRecordIO, keys 0..N-1
        reference = write_recs(str(tmp_path / ("ref_%s.rec" % split)), images, labels)
        assert open(manifest["paths"][split][1]).read() == open(reference[:-4] + ".idx").read()
        pixels, got_labels = iterate(manifest, split)
        np.testing.assert_array_equal(pixels[..., 0], images)   # PNG: exact
        np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_allclose(manifest["mean"], [made["train"][1].mean()], atol=1e-3)


def test_the_manifest_is_cached_until_a_file_changes(tmp_path, rng, monkeypatch):
    made = make_pair(tmp_path, rng, pack=pil_bytes)
    first = userrec.adopt(made["train"][0], made["val"][0], 4, log=quiet)
    real = userrec.check_split

    def must_not_run(*args, **kwargs):
        raise AssertionError("rescanned")

    monkeypatch.setattr(userrec, "check_split", must_not_run)
    said = []
    again = userrec.adopt(made["train"][0], made["val"][0], 6, log=said.append)
    assert "checked before" in said[-1] and again["num_classes"] == 6
    assert {k: v for k, v in again.items() if k not in ("num_classes", "classes")} == \
        {k: v for k, v in first.items() if k not in ("num_classes", "classes")}
    with pytest.raises(AssertionError, match="rescanned"):  # fewer classes than labels seen
        userrec.adopt(made["train"][0], made["val"][0], 3, log=quiet)
    monkeypatch.setattr(userrec, "check_split", real)
    images = rng.integers(0, 256, size=(7, 10, 8, 3), dtype=np.uint8)
    write_recs(made["val"][0], images, np.zeros(7), pack=pil_bytes)
    changed = userrec.adopt(made["train"][0], made["val"][0], 4, log=quiet)
    assert changed["splits"]["val"]["count"] == 7


def test_a_cache_that_came_with_replaced_files_does_not_vouch_for_them(tmp_path, rng):
    # an archive (or cp -p) restores a file's size and mtime, never its ctime
    made = make_pair(tmp_path, rng, pack=pil_bytes)
    userrec.adopt(made["train"][0], made["val"][0], 4, log=quiet)
    val = made["val"][0]
    status = os.stat(val)
    raw = open(val, "rb").read()
    last = max(int(line.split()[1]) for line in open(val[:-4] + ".idx"))
    hostile = raw[:last] + struct.pack("<II", userrec.RECORDIO_MAGIC, (1 << 29) - 1)
    with open(val, "wb") as f:  # the same size, the last record claiming 512 MB
        f.write(hostile + bytes(len(raw) - len(hostile)))
    os.utime(val, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert os.path.getsize(val) == status.st_size
    assert os.stat(val).st_mtime_ns == status.st_mtime_ns
    with pytest.raises(DataError, match="my_val.rec: record 4 .*claims 536870911 bytes"):
        userrec.adopt(made["train"][0], val, 4, log=quiet)


@pytest.mark.parametrize("damage", [
    lambda m: m["splits"]["val"].update(labels="x"),
    lambda m: m.update(image_shape=[3, 10 ** 9, 10 ** 9]),
    lambda m: m.update(classes=7),
])
def test_a_damaged_cache_is_read_again_not_trusted(tmp_path, rng, damage):
    made = make_pair(tmp_path, rng, pack=pil_bytes)
    first = userrec.adopt(made["train"][0], made["val"][0], 4, log=quiet)
    with open(first["manifest"]) as f:
        cached = json.load(f)
    damage(cached)  # its stamps still match the files
    with open(first["manifest"], "w") as f:
        json.dump(cached, f)
    said = []
    again = userrec.adopt(made["train"][0], made["val"][0], 4, log=said.append)
    assert not any("checked before" in line for line in said)
    assert again == first


def test_unwritable_folder_uses_the_cache(tmp_path, rng, monkeypatch):
    made = make_pair(tmp_path, rng, indexed=False, pack=pil_bytes)
    monkeypatch.setattr(userrec, "_writable", lambda folder: folder != str(tmp_path))
    cache = str(tmp_path / "cache")
    manifest = userrec.adopt(made["train"][0], made["val"][0], 4, log=quiet, cache_dir=cache)
    assert not os.path.exists(str(tmp_path / "my_train.idx"))
    for split in ("train", "val"):
        assert manifest["paths"][split][1].startswith(cache + os.sep)
    assert manifest["manifest"].startswith(cache + os.sep)
    assert iterate(manifest, "val")[0].shape == (5, 10, 8, 3)
    said = []
    userrec.adopt(made["train"][0], made["val"][0], 4, log=said.append, cache_dir=cache)
    assert "checked before" in said[-1]


def garbage(path):
    open(path, "wb").write(b"not a RecordIO file at all" * 20)


def truncate(path):
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[:len(raw) - 37])


def relabel(label):
    def damage(made, tmp_path, rng):
        images = made["val"][1]
        write_recs(made["val"][0], images, [label] * len(images), pack=pil_bytes)
    return damage


@pytest.mark.parametrize("damage, kwargs, words", [
    (lambda m, t, r: os.remove(m["val"][0]), {}, ["my_val.rec", "missing"]),
    (lambda m, t, r: garbage(m["train"][0]), {}, ["my_train.rec", "not a RecordIO file"]),
    (lambda m, t, r: truncate(m["val"][0]), {}, ["my_val.rec", "truncated"]),
    (relabel(4), {}, ["my_val.rec", "label 4", "0..3"]),
    (relabel(-1), {}, ["my_val.rec", "label -1"]),
    (relabel(1.5), {}, ["my_val.rec", "label 1.5"]),
    (None, {"num_classes": 1}, ["num_classes", "1"]),
    (None, {"image_shape": (3, 8, 10)}, ["3,8,10", "3,10,8", "my_train.rec"]),
    (lambda m, t, r: write_recs(m["val"][0], m["val"][1], m["val"][2],
                                pack=lambda im: b"\x00" * 50), {},
     ["my_val.rec", "record 0", "no decodable image"]),
    (lambda m, t, r: open(m["train"][0][:-4] + ".idx", "a").write("99\t123456\n"), {},
     ["my_train.idx", "does not match", "delete it"]),
    (lambda m, t, r: open(m["train"][0][:-4] + ".idx", "w").write("nonsense\n"), {},
     ["my_train.idx", "not a RecordIO index"]),
    (lambda m, t, r: open(m["val"][0], "wb").close(), {}, ["my_val.rec", "no records"]),
    (lambda m, t, r: write_recs(m["val"][0], r.integers(0, 256, size=(2, 4, 4, 3),
                                                        dtype=np.uint8), [0, 1],
                                pack=pil_bytes), {}, ["my_val.rec", "4x4", "smaller"]),
])
def test_unusable_records_are_refused_naming_the_file(tmp_path, rng, damage, kwargs, words):
    made = make_pair(tmp_path, rng, pack=pil_bytes)
    if damage is not None:
        damage(made, tmp_path, rng)
    args = dict(num_classes=4, log=quiet, cache_dir=str(tmp_path / "cache"))
    args.update(kwargs)
    with pytest.raises(DataError) as caught:
        userrec.adopt(made["train"][0], made["val"][0], **args)
    for word in words:
        assert word in str(caught.value)
