"""Where images come from: the official CIFAR-10 python archive, Fashion-MNIST's IDX files,
and a synthetic set. Each reader returns ``{"train": (images, labels), "val": (...)}`` with
uint8 images (N, H, W) or (N, H, W, 3) in RGB and int64 labels, validation in official order.
"""
import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import subprocess
import tarfile
import tempfile
import urllib.request

import numpy as np

from .progress import bar
from .files import atomic_path
from .records import DataError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
# Ready-made records from MXNet's data server (JPEG-encoded, made by MXNet's im2rec).
CIFAR10_REC_URLS = {"train": "http://data.mxnet.io/data/cifar10/cifar10_train.rec",
                    "val": "http://data.mxnet.io/data/cifar10/cifar10_val.rec"}
CIFAR10_TRAIN_MEMBERS = ["cifar-10-batches-py/data_batch_%d" % i for i in range(1, 6)]
CIFAR10_TEST_MEMBER = "cifar-10-batches-py/test_batch"

FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                       "val": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


# ---------------------------------------------------------------------------------- downloads

def download(url, dest, md5=None, timeout=30):
    """Fetch url to dest atomically (with a progress bar); check md5 if given."""
    digest = hashlib.md5()
    with atomic_path(dest) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with bar(total, os.path.basename(dest), unit="B") as pbar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    digest.update(block)
                    pbar.update(len(block))
        if md5 is not None and digest.hexdigest() != md5:  # the partial file is removed
            raise DataError("%s: MD5 %s differs from the published %s (download corrupt)"
                            % (url, digest.hexdigest(), md5))
    return dest


# ----------------------------------------------------------------------------------- CIFAR-10

def _load_pickle(archive_path, tar, member):
    try:
        handle = tar.extractfile(member)
        batch = pickle.load(io.BytesIO(handle.read()), encoding="bytes")
    except KeyError:
        raise DataError("%s: member %s is missing; is this cifar-10-python.tar.gz?"
                        % (archive_path, member)) from None
    except (tarfile.TarError, EOFError, OSError, pickle.UnpicklingError, ValueError) as error:
        raise DataError("%s: member %s is truncated or corrupt (%s)"
                        % (archive_path, member, error)) from None
    data = np.asarray(batch.get(b"data", batch.get("data")) if isinstance(batch, dict) else None)
    labels = batch.get(b"labels", batch.get("labels")) if isinstance(batch, dict) else None
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8 or labels is None:
        raise DataError("%s: member %s is not a CIFAR-10 batch (need uint8 data of shape "
                        "(N, 3072) and labels; got data %s %s)"
                        % (archive_path, member, data.dtype, data.shape))
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (data.shape[0],):
        raise DataError("%s: member %s has %d images but %d labels"
                        % (archive_path, member, data.shape[0], labels.size))
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError("%s: member %s has labels outside 0..9 (%d..%d)"
                        % (archive_path, member, labels.min(), labels.max()))
    # rows are R plane, G plane, B plane of 32x32: to (N, 32, 32, 3) RGB
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_cifar10_archive(path):
    """The official cifar-10-python.tar.gz (or a repack with the same members)."""
    if not os.path.isfile(path):
        raise DataError("%s: no such file" % path)
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as error:
        reasons = "; ".join(line.strip(" -") for line in str(error).splitlines()).replace(":;", ":")
        raise DataError("%s is not a readable tar archive (%s)" % (path, reasons)) from None
    with tar:
        train = [_load_pickle(path, tar, member) for member in CIFAR10_TRAIN_MEMBERS]
        val = _load_pickle(path, tar, CIFAR10_TEST_MEMBER)
    return {"train": (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])),
            "val": val}


# ------------------------------------------------------------------------------ Fashion-MNIST

def read_idx(path, dims):
    """An IDX file of unsigned bytes (optionally gzip'ed) with `dims` dimensions."""
    if not os.path.isfile(path):
        raise DataError("%s not found" % path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise DataError("%s is truncated or corrupt (%s)" % (path, error)) from None
    if len(raw) < 4 + 4 * dims:
        raise DataError("%s is too short for an IDX header" % path)
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim != dims:
        raise DataError("%s is not an IDX file of %d-dimensional unsigned bytes (magic %s)"
                        % (path, dims, raw[:4].hex()))
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DataError("%s holds %d bytes of data, its header %s needs %d: truncated"
                        % (path, body.size, shape, int(np.prod(shape))))
    return body.reshape(shape)


def read_fashion_mnist(directory):
    splits = {}
    for split, (images_name, labels_name) in FASHION_MNIST_FILES.items():
        images = read_idx(os.path.join(directory, images_name), 3)
        labels = read_idx(os.path.join(directory, labels_name), 1).astype(np.int64)
        if images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise DataError("%s: %d images of %s with %d labels; need 28x28 with one label each"
                            % (directory, len(images), images.shape[1:], len(labels)))
        if labels.max(initial=0) > 9:
            raise DataError("%s: labels outside 0..9" % os.path.join(directory, labels_name))
        splits[split] = (images, labels)
    return splits


def _has_fashion_mnist(directory):
    return all(os.path.exists(os.path.join(directory, name))
               for pair in FASHION_MNIST_FILES.values() for name in pair)


def find_fashion_mnist(download_dir, log=print):
    """A directory with Fashion-MNIST's four IDX files: Debian's package if installed, else the
    package fetched and unpacked without root, else the upstream files downloaded."""
    if _has_fashion_mnist(FASHION_MNIST_DEBIAN_DIR):
        return FASHION_MNIST_DEBIAN_DIR
    unpacked = os.path.join(download_dir, "debian-fashion-mnist")
    from_deb = unpacked + FASHION_MNIST_DEBIAN_DIR
    if _has_fashion_mnist(from_deb):
        return from_deb
    os.makedirs(download_dir, exist_ok=True)
    problems = []
    if shutil.which("apt-get") and shutil.which("dpkg-deb"):
        log("fetching Debian's %s package (no root needed) ..." % FASHION_MNIST_PACKAGE)
        with tempfile.TemporaryDirectory(dir=download_dir) as tmp:
            got = subprocess.run(["apt-get", "download", FASHION_MNIST_PACKAGE], cwd=tmp,
                                 capture_output=True, text=True)
            debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
            if got.returncode == 0 and debs:
                staging = unpacked + ".part"
                shutil.rmtree(staging, ignore_errors=True)
                subprocess.run(["dpkg-deb", "-x", os.path.join(tmp, debs[0]), staging], check=True)
                shutil.rmtree(unpacked, ignore_errors=True)
                os.replace(staging, unpacked)
                if _has_fashion_mnist(from_deb):
                    return from_deb
            problems.append("apt-get download: %s" % (got.stderr.strip()[-300:] or "no .deb"))
    else:
        problems.append("apt-get/dpkg-deb not available")
    upstream = os.path.join(download_dir, "fashion-mnist")
    os.makedirs(upstream, exist_ok=True)
    try:
        for pair in FASHION_MNIST_FILES.values():
            for name in pair:
                if not os.path.exists(os.path.join(upstream, name)):
                    download(FASHION_MNIST_URL + name, os.path.join(upstream, name))
        return upstream
    except OSError as error:
        problems.append("download from %s: %s" % (FASHION_MNIST_URL, error))
    raise DataError("Fashion-MNIST not found: install Debian's %s package, or put its four "
                    "IDX files (%s) in %s. Tried: %s"
                    % (FASHION_MNIST_PACKAGE, ", ".join(n for p in FASHION_MNIST_FILES.values()
                                                        for n in p), upstream,
                       "; ".join(problems)))


# ---------------------------------------------------------------------------------- synthetic

def make_synthetic(num_train=2000, num_val=500, num_classes=10, size=32, seed=0):
    """A deterministic, learnable RGB set: each class is an oriented grating with its own
    orientation and tint, at a random phase, plus pixel noise. Made in well under a second."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    angles = np.pi * np.arange(num_classes) / num_classes
    tints = rng.uniform(0.4, 1.0, size=(num_classes, 3))

    def split(count):
        labels = np.arange(count) % num_classes
        rng.shuffle(labels)
        phase = rng.uniform(0, 2 * np.pi, size=(count, 1, 1))
        theta = angles[labels][:, None, None]
        wave = np.sin(2 * np.pi * 3 * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
        images = 128 + 80 * wave[..., None] * tints[labels][:, None, None, :]
        images += rng.normal(0, 25, size=images.shape)
        return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels.astype(np.int64)

    return {"train": split(num_train), "val": split(num_val)}
