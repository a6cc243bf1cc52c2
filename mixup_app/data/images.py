"""A folder of image files as a dataset: ``ROOT/train/CLASS/*`` and ``ROOT/val/CLASS/*``.

Rules (what :func:`scan` accepts):

* image files are ``.png``, ``.jpg``, ``.jpeg`` (any case), in one folder per class directly
  under ``train/`` and ``val/``; hidden files are skipped, other files and sub-folders are
  skipped and counted (:attr:`ImageFolder.skipped`);
* classes are the folder names under ``train/``, in sorted order (class index = position);
  ``val/`` may lack a class but may not add one; no class folder may be empty;
* every image must decode; it is turned the way its EXIF orientation says (as a viewer shows
  it), and 8-bit grayscale ('1', 'L', 'LA') is stored as one channel, colour ('RGB', 'RGBA',
  palette, CMYK, ...) as RGB; alpha is dropped; 16-bit and float images are refused;
* all images must have one size and one channel count, unless ``image_size=(H, W)`` is given
  (each image is then resized to exactly H x W with Pillow's bicubic filter, aspect ratio not
  kept) or ``channels`` (each image converted to 1 or 3 channels);
* an image of more than Pillow's ``Image.MAX_IMAGE_PIXELS`` pixels (89.5 million) is refused
  from its header, before it is decoded (a small file can declare any size: a decompression
  bomb); Pillow itself only warns up to twice that;
* a symbolic link may point anywhere inside the folder; one that loops, leads nowhere or leads
  out of the folder is refused (the folder is what is read, nothing beside it).

Reading goes through Pillow only; :func:`load` returns the uint8 array that is stored.
"""
import contextlib
import errno
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from mixup_app.progress import bar
from mixup_app.data.records import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLIT_FOLDERS = ("train", "val")
GRAY_MODES = ("1", "L", "LA")
COLOUR_MODES = ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")
_SWAPS_SIDES = (5, 6, 7, 8)    # EXIF orientations that turn the image by 90 degrees
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageFolder:
    root: str                 # absolute
    classes: tuple            # sorted class folder names; label = index
    files: dict               # split -> [(path, label), ...], by class then file name
    image_shape: tuple        # (channels, height, width) as stored
    resize: bool              # some image is not image_shape's size and gets resized
    skipped: tuple            # files and folders that are not images of a class

    @property
    def counts(self):
        return tuple(len(self.files[split]) for split in SPLIT_FOLDERS)


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError as error:
        raise DataError("%s cannot be read (%s)" % (path, error.strerror or error)) from None


@contextlib.contextmanager
def opened(source, name, unreadable="is not a readable image"):
    """Image.open(source) for reading; anything Pillow cannot read, or that declares more
    than Image.MAX_IMAGE_PIXELS pixels, is a DataError "NAME UNREADABLE (why)"."""
    with warnings.catch_warnings():
        # Pillow warns between one and two times its limit and refuses only beyond
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(source) as image:
                yield image
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise DataError("%s is refused: %s" % (name, error)) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
            raise DataError("%s %s (%s)" % (name, unreadable, error)) from None


def _header(path):
    """(channels, height, width) from the file's header, after its EXIF orientation."""
    with opened(path, path) as image:
        mode, (width, height) = image.mode, image.size
        orientation = image.getexif().get(_EXIF_ORIENTATION)
    if mode in GRAY_MODES:
        channels = 1
    elif mode in COLOUR_MODES:
        channels = 3
    else:
        raise DataError("%s has %s pixels (16-bit or float); only 8-bit grayscale or colour "
                        "images are supported: convert it to 8 bit" % (path, mode))
    if orientation in _SWAPS_SIDES:
        width, height = height, width
    return channels, height, width


def scan(root, image_size=None, channels=None, progress=None):
    """Check the folder tree and every image header; returns an :class:`ImageFolder`.

    image_size: (H, W) to resize every image to; channels: 1 or 3 to convert every image to.
    Without them, all images must agree. Raises DataError naming the folder or file."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise DataError("%s: no such folder (need %s/train/CLASS/*.png|jpg|jpeg and "
                        "%s/val/CLASS/...)" % (root, root, root))
    real_root = os.path.realpath(root)
    for split in SPLIT_FOLDERS:
        _check_link(os.path.join(root, split), root, real_root)
        if not os.path.isdir(os.path.join(root, split)):
            raise DataError("%s is missing: the folder needs train/ and val/, each with one "
                            "sub-folder of images per class" % os.path.join(root, split))
    skipped, found = [], {}
    for split in SPLIT_FOLDERS:
        folder = os.path.join(root, split)
        found[split] = {}
        for name in _listdir(folder):
            path = os.path.join(folder, name)
            if name.startswith("."):
                continue
            _check_link(path, root, real_root)
            if not os.path.isdir(path):
                if name.lower().endswith(EXTENSIONS):
                    raise DataError("%s is directly in %s: put each image in its class "
                                    "folder (%s/CLASS/%s)" % (path, folder, folder, name))
                skipped.append(path)
                continue
            images = []
            for file_name in _listdir(path):
                file_path = os.path.join(path, file_name)
                if file_name.startswith("."):
                    continue
                _check_link(file_path, root, real_root)
                if os.path.isfile(file_path) and file_name.lower().endswith(EXTENSIONS):
                    images.append(file_path)
                else:
                    skipped.append(file_path)
            if not images:
                raise DataError("class folder %s holds no images (%s)"
                                % (path, "|".join(e[1:] for e in EXTENSIONS)))
            found[split][name] = images
    classes = tuple(sorted(found["train"]))
    if len(classes) < 2:
        raise DataError("%s holds %d class folder(s); a classifier needs at least 2"
                        % (os.path.join(root, "train"), len(classes)))
    extra = sorted(set(found["val"]) - set(classes))
    if extra:
        raise DataError("%s has class folder(s) %s that %s lacks: every validation class "
                        "must have training images" % (os.path.join(root, "val"),
                                                       ", ".join(extra),
                                                       os.path.join(root, "train")))
    if not found["val"]:
        raise DataError("%s holds no class folders" % os.path.join(root, "val"))
    files = {split: [(path, classes.index(name)) for name in sorted(found[split])
                     for path in found[split][name]] for split in SPLIT_FOLDERS}
    first = {}  # (channels, height, width) -> the first file that has it
    total = sum(len(v) for v in files.values())
    with bar(total, "checking images", enabled=progress) as pbar:
        for split in SPLIT_FOLDERS:
            for path, _ in files[split]:
                first.setdefault(_header(path), path)
                pbar.update(1)
    sizes = {shape[1:] for shape in first}
    counts = {shape[0] for shape in first}
    if image_size is None and len(sizes) > 1:
        (a, path_a), (b, path_b) = _two_different(first, lambda s: s[1:])
        raise DataError("images in %s have different sizes (%s is %dx%d, %s is %dx%d); give "
                        "--image-size H,W to resize them all" % (root, path_a, a[1], a[2],
                                                                 path_b, b[1], b[2]))
    if channels is None and len(counts) > 1:
        (a, path_a), (b, path_b) = _two_different(first, lambda s: s[0])
        raise DataError("images in %s mix grayscale and colour (%s has %d channel(s), %s has "
                        "%d); give --channels 1 or 3" % (root, path_a, a[0], path_b, b[0]))
    height, width = image_size or next(iter(sizes))
    image_shape = (channels or next(iter(counts)), height, width)
    return ImageFolder(root, classes, files, image_shape,
                       resize=sizes != {(height, width)}, skipped=tuple(skipped))


def _check_link(path, root, real_root):
    """Refuse a symbolic link at path that loops, leads nowhere, or leads out of the folder
    root (whose real location is real_root). Folders are checked before what they hold, so
    an entry that is not a link lies where its checked folder does."""
    if not os.path.islink(path):
        return
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as error:
        raise DataError("%s is a symbolic link that %s" % (
            path, "loops back on itself" if error.errno == errno.ELOOP
            else "leads nowhere (%s)" % (error.strerror or error))) from None
    if os.path.commonpath([target, real_root]) != real_root:
        raise DataError("%s is a symbolic link to %s, outside %s: copy what it points to into "
                        "the folder (only the folder's own files are read)"
                        % (path, target, root))


def _two_different(first, key):
    items = sorted(first.items(), key=lambda item: item[1])
    a = items[0]
    b = next(item for item in items if key(item[0]) != key(a[0]))
    return a, b


def load(path, image_shape):
    """The uint8 pixels of one image as stored: (H, W) for 1 channel, (H, W, 3) RGB for 3,
    turned by its EXIF orientation, converted and resized to image_shape (C, H, W)."""
    channels, height, width = image_shape
    # A truncated file must be refused, not padded with grey: Pillow's process-wide switch
    # LOAD_TRUNCATED_IMAGES is turned on by some libraries on import (GluonCV's data module).
    lenient, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with opened(path, path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")  # Pillow's advice for palette transparency
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BICUBIC)
            pixels = np.asarray(image, dtype=np.uint8)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    return pixels


class Split:
    """One split's images as a sequence for :func:`mixup_app.data.records.write_split`, decoded one at
    a time, in order."""

    def __init__(self, folder, split):
        self.items = folder.files[split]
        self.shape = folder.image_shape

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        for path, _ in self.items:
            yield load(path, self.shape)

    def labels(self):
        return np.array([label for _, label in self.items], dtype=np.int64)
