"""A folder of images as a dataset (mixup_app.data.images, `./tools.sh data images DIR`): pixels come back
through MXNet's ImageRecordIter exactly as Pillow (and OpenCV) decode the files."""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import read_records
from mixup_app.data import images, records
from mixup_app.data.records import DataError
from mixup_app.data import command as data_command
from mixup_app.data import preparation


def save(path, pixels, **kwargs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels).save(path, **kwargs)
    return path


def make_tree(root, rng, classes=("cat", "ant", "bee"), shape=(6, 9, 3), per_class=(3, 2),
              ext="png"):
    """root/train/CLASS/i.EXT and root/val/CLASS/i.EXT; returns {split: [(path, class)]}."""
    made = {"train": [], "val": []}
    for split, count in zip(("train", "val"), per_class):
        for name in classes:
            for i in range(count):
                pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
                made[split].append((save(os.path.join(root, split, name, "%02d.%s" % (i, ext)),
                                         pixels), name))
    return made


def iterate(data_dir, name, split, shape, batch_size=4):
    """Every record of a split through mx.io.ImageRecordIter, in order: uint8 (N, H, W, C)."""
    return read_records(*records.paths(data_dir, name, split), shape, batch_size)


def pillow_pixels(path, mode):
    with Image.open(path) as image:
        return np.asarray(image.convert(mode))


def quiet(*_):
    pass


@pytest.mark.parametrize("channels", [3, 1])
def test_folder_becomes_records_pixel_exact_in_class_then_file_order(tmp_path, rng, channels):
    shape = (6, 9, 3) if channels == 3 else (6, 9)
    made = make_tree(str(tmp_path / "pets"), rng, shape=shape)
    out = str(tmp_path / "d")
    manifest = preparation.prepare_images(str(tmp_path / "pets"), out, log=quiet)
    classes = ["ant", "bee", "cat"]
    assert manifest["dataset"] == "pets" and manifest["classes"] == classes
    assert manifest["image_shape"] == [channels, 6, 9] and manifest["num_classes"] == 3
    assert manifest["mirror"] is True and manifest["encoding"] == "png"
    assert records.verify(out, "pets") == manifest
    mode = "RGB" if channels == 3 else "L"
    for split in ("train", "val"):
        expected = sorted(made[split], key=lambda item: (item[1], item[0]))
        pixels, labels = iterate(out, "pets", split, (channels, 6, 9))
        assert labels.tolist() == [classes.index(c) for _, c in expected]
        for got, (path, _) in zip(pixels, expected):
            np.testing.assert_array_equal(got.reshape(pillow_pixels(path, mode).shape),
                                          pillow_pixels(path, mode))
        assert manifest["splits"][split]["count"] == len(expected)
    train = np.stack([pillow_pixels(p, mode) for p, _ in made["train"]]).reshape(-1, channels)
    np.testing.assert_allclose(manifest["mean"], train.mean(0), atol=1e-3)
    np.testing.assert_allclose(manifest["std"], train.std(0), atol=1e-3)


def test_jpeg_files_are_stored_as_decoded(tmp_path, rng):
    made = make_tree(str(tmp_path / "j"), rng, ext="jpg", per_class=(2, 1))
    preparation.prepare_images(str(tmp_path / "j"), str(tmp_path / "d"), log=quiet)
    pixels, _ = iterate(str(tmp_path / "d"), "j", "val", (3, 6, 9))
    cv2 = pytest.importorskip("cv2")
    for got, (path, _) in zip(pixels, sorted(made["val"], key=lambda item: item[1])):
        np.testing.assert_array_equal(got, pillow_pixels(path, "RGB"))
        # OpenCV's decoder, an independent reference, agrees to rounding
        reference = cv2.imread(path)[..., ::-1].astype(int)
        assert np.abs(reference - got).max() <= 2


def test_mixed_sizes_need_image_size_and_are_resized(tmp_path, rng):
    root = str(tmp_path / "mixed")
    make_tree(root, rng, shape=(6, 9, 3), per_class=(2, 1))
    odd = save(os.path.join(root, "train", "cat", "zz.png"),
               rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8))
    with pytest.raises(DataError, match=r"different sizes.*zz\.png is 12x10.*--image-size H,W"):
        preparation.prepare_images(root, str(tmp_path / "d"), log=quiet)
    manifest = preparation.prepare_images(root, str(tmp_path / "d"), image_size=(8, 7), log=quiet)
    assert manifest["image_shape"] == [3, 8, 7]
    pixels, labels = iterate(str(tmp_path / "d"), "mixed", "train", (3, 8, 7))
    with Image.open(odd) as image:
        reference = np.asarray(image.resize((7, 8), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(pixels[labels.tolist().index(2) + 2], reference)


def test_mixed_channels_need_channels(tmp_path, rng):
    root = str(tmp_path / "m")
    make_tree(root, rng, per_class=(2, 1))
    gray = save(os.path.join(root, "val", "ant", "g.png"),
                rng.integers(0, 256, size=(6, 9), dtype=np.uint8))
    with pytest.raises(DataError, match="grayscale and colour.*--channels"):
        preparation.prepare_images(root, str(tmp_path / "d"), log=quiet)
    manifest = preparation.prepare_images(root, str(tmp_path / "d"), channels=3, log=quiet)
    assert manifest["image_shape"] == [3, 6, 9]
    pixels, _ = iterate(str(tmp_path / "d"), "m", "val", (3, 6, 9))
    np.testing.assert_array_equal(pixels[1], pillow_pixels(gray, "RGB"))  # ant: 00, g


def test_exif_orientation_and_alpha(tmp_path, rng):
    root = str(tmp_path / "e")
    make_tree(root, rng, shape=(9, 6, 3), per_class=(1, 1), classes=("a", "b"))
    turned = os.path.join(root, "train", "a", "00.jpg")
    os.remove(os.path.join(root, "train", "a", "00.png"))
    exif = Image.Exif()
    exif[0x0112] = 6   # stored 6 high, 9 wide; shown turned by 90 degrees: 9 high, 6 wide
    save(turned, rng.integers(0, 256, size=(6, 9, 3), dtype=np.uint8), exif=exif)
    rgba = rng.integers(0, 256, size=(9, 6, 4), dtype=np.uint8)
    save(os.path.join(root, "val", "b", "00.png"), rgba)
    preparation.prepare_images(root, str(tmp_path / "d"), log=quiet)
    pixels, _ = iterate(str(tmp_path / "d"), "e", "train", (3, 9, 6))
    with Image.open(turned) as image:
        np.testing.assert_array_equal(pixels[0], np.asarray(image.transpose(
            Image.Transpose.ROTATE_270).convert("RGB")))
    pixels, _ = iterate(str(tmp_path / "d"), "e", "val", (3, 9, 6))
    np.testing.assert_array_equal(pixels[1], rgba[..., :3])


def test_cli_name_mirror_and_skipped_files(tmp_path, rng, capsys):
    root = str(tmp_path / "My Pets!")
    make_tree(root, rng, per_class=(1, 1))
    open(os.path.join(root, "train", "ant", "notes.txt"), "w").write("x")
    open(os.path.join(root, "train", ".DS_Store"), "w").write("x")
    out = str(tmp_path / "d")
    assert data_command.main(["images", root, "--data-dir", out, "--no-mirror"]) == 0
    manifest = json.load(open(os.path.join(out, "My-Pets.json")))
    assert manifest["mirror"] is False and manifest["source"] == root
    assert "notes.txt" in capsys.readouterr().out
    for split in ("train", "val"):
        assert all(os.path.exists(p) for p in records.paths(out, "My-Pets", split))
    assert data_command.main(["images", root, "--data-dir", out, "--name", "pets2"]) == 0
    assert records.verify(out, "pets2")["mirror"] is True
    # a dataset with a manifest is reused by name, like a built-in one
    assert preparation.prepare("pets2", out, log=quiet)["classes"] == ["ant", "bee", "cat"]


def keep_only_class(root, name):
    for split in ("train", "val"):
        for other in os.listdir(os.path.join(root, split)):
            if other != name:
                shutil.rmtree(os.path.join(root, split, other))


def corrupt(path):
    open(path, "wb").write(b"this is not an image")


def truncate(path):
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[:len(raw) // 2])


@pytest.mark.parametrize("damage, words", [
    (lambda r: os.rename(os.path.join(r, "train"), os.path.join(r, "training")),
     ["t/train is missing"]),
    (lambda r: os.rename(os.path.join(r, "val"), os.path.join(r, "test")),
     ["t/val is missing"]),
    (lambda r: os.makedirs(os.path.join(r, "train", "dog")), ["train/dog", "no images"]),
    (lambda r: [os.remove(os.path.join(r, "val", "bee", f))
                for f in os.listdir(os.path.join(r, "val", "bee"))], ["val/bee", "no images"]),
    (lambda r: corrupt(os.path.join(r, "train", "bee", "01.png")),
     ["train/bee/01.png", "not a readable image"]),
    (lambda r: truncate(os.path.join(r, "val", "cat", "00.png")),
     ["val/cat/00.png", "not a readable image"]),
    (lambda r: save(os.path.join(r, "val", "dog", "00.png"), np.zeros((6, 9, 3), np.uint8)),
     ["dog", "t/train"]),
    (lambda r: save(os.path.join(r, "train", "x.png"), np.zeros((6, 9, 3), np.uint8)),
     ["train/x.png", "class folder"]),
    (lambda r: save(os.path.join(r, "train", "ant", "16.png"), np.zeros((6, 9), np.uint16)),
     ["train/ant/16.png", "16-bit"]),
    (lambda r: keep_only_class(r, "cat"),
     ["at least 2"]),
])
def test_bad_folders_are_refused_naming_the_folder_or_file(tmp_path, rng, damage, words):
    root = str(tmp_path / "t")
    make_tree(root, rng)
    damage(root)
    with pytest.raises(DataError) as caught:
        preparation.prepare_images(root, str(tmp_path / "d"), log=quiet)
    for word in words:
        assert word in str(caught.value)
    assert not os.path.exists(tmp_path / "d" / "t.json")


@pytest.mark.parametrize("name, words", [
    ("cifar10", ["'cifar10'", "built-in"]), ("a b", ["'a b'", "--name"]),
    ("-x", ["'-x'"]), ("", ["''"])])
def test_bad_names_are_refused(tmp_path, rng, name, words):
    make_tree(str(tmp_path / "t"), rng, per_class=(1, 1))
    with pytest.raises(DataError) as caught:
        preparation.prepare_images(str(tmp_path / "t"), str(tmp_path / "d"), name=name, log=quiet)
    for word in words:
        assert word in str(caught.value)


def test_folder_name_that_sanitises_to_nothing_asks_for_name(tmp_path, rng):
    make_tree(str(tmp_path / "!!!"), rng, per_class=(1, 1))
    with pytest.raises(DataError, match="give --name"):
        preparation.prepare_images(str(tmp_path / "!!!"), str(tmp_path / "d"), log=quiet)


def test_scan_reports_the_tree(tmp_path, rng):
    make_tree(str(tmp_path / "t"), rng, per_class=(2, 1))
    tree = images.scan(str(tmp_path / "t"))
    assert tree.classes == ("ant", "bee", "cat") and tree.counts == (6, 3)
    assert tree.image_shape == (3, 6, 9) and not tree.resize and tree.skipped == ()
    assert [label for _, label in tree.files["train"]] == [0, 0, 1, 1, 2, 2]


def test_symbolic_links_inside_the_folder_are_followed(tmp_path, rng):
    made = make_tree(str(tmp_path / "t"), rng)
    linked = str(tmp_path / "t" / "val" / "cat" / "linked.png")
    os.symlink(os.path.join("..", "..", "train", "ant", "00.png"), linked)
    shutil.rmtree(str(tmp_path / "t" / "val" / "bee"))
    os.symlink(os.path.join("..", "train", "bee"), str(tmp_path / "t" / "val" / "bee"))
    os.symlink("train", str(tmp_path / "t" / "train-link"))  # not a split: skipped
    tree = images.scan(str(tmp_path / "t"))
    assert (linked, 2) in tree.files["val"]  # classes: ant, bee, cat
    assert [p for p, label in tree.files["val"] if label == 1] == [
        str(tmp_path / "t" / "val" / "bee" / name) for name in ("00.png", "01.png", "02.png")]
    np.testing.assert_array_equal(images.load(linked, tree.image_shape),
                                  pillow_pixels(made["train"][3][0], "RGB"))

