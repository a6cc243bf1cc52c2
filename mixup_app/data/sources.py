"""Where images come from: the official CIFAR-10 python archive, Fashion-MNIST's IDX files,
and a synthetic set. Each reader returns ``{"train": (images, labels), "val": (...)}`` with
uint8 images (N, H, W) or (N, H, W, 3) in RGB and int64 labels, validation in official order.
"""
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import urllib.request
import zlib

import numpy as np

from mixup_app.data import pickles
from mixup_app.files import atomic_path
from mixup_app.progress import bar
from mixup_app.data.records import DataError

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

# The official archive holds 9 members (a folder, five training batches, the test batch,
# batches.meta, readme.html); a batch is a 31 MB Python 2 pickle of about 30 000 opcodes. The
# bounds below are far above that and far below what would exhaust memory.
CIFAR10_MAX_MEMBERS = 64
CIFAR10_MAX_BATCH_BYTES = 64 << 20
CIFAR10_MAX_OPCODES = 200_000
# pax and GNU long-name headers hold a path or a few attributes; tarfile reads them whole
TAR_MAX_HEADER_BYTES = 1 << 20


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header whose extension data (pax, GNU long names) tarfile would read into memory
    whole is refused when it claims more than TAR_MAX_HEADER_BYTES."""

    EXTENSIONS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                  tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)

    def _proc_member(self, tarfile_):  # tarfile's hook for each header it reads
        if self.type in self.EXTENSIONS and self.size > TAR_MAX_HEADER_BYTES:
            raise tarfile.ReadError("an extended header claims %d bytes, more than any real "
                                    "one" % self.size)
        return super()._proc_member(tarfile_)


def archive_md5_note(path):
    """None if path is the published cifar-10-python.tar.gz (by MD5), else the one line that
    says it is not."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "md5").hexdigest()
    if digest == CIFAR10_MD5:
        return None
    return ("note: %s has MD5 %s, not the published archive's %s: reading it as untrusted "
            "data (every member checked, nothing in it run)" % (path, digest, CIFAR10_MD5))


def _cifar10_members(archive_path, tar):
    """{name: TarInfo} of the batches, each checked to be a file of a batch's size as soon as
    its header is read, reading at most CIFAR10_MAX_MEMBERS headers (every header tarfile
    reads stays in memory)."""
    wanted = set(CIFAR10_TRAIN_MEMBERS + [CIFAR10_TEST_MEMBER])
    found = {}
    for count, info in enumerate(iter(tar.next, None)):
        if count >= CIFAR10_MAX_MEMBERS:
            raise DataError("%s holds more than %d members; cifar-10-python.tar.gz holds 9"
                            % (archive_path, CIFAR10_MAX_MEMBERS))
        if info.name not in wanted:
            continue
        if not info.isreg() or info.size > CIFAR10_MAX_BATCH_BYTES:
            raise DataError("%s: member %s is %s, not a CIFAR-10 batch (a file of about 31 MB)"
                            % (archive_path, info.name, "%d bytes" % info.size if info.isreg()
                               else "a link or a special file"))
        found[info.name] = info
        if len(found) == len(wanted):
            break
    return found


def _load_batch(archive_path, tar, members, member):
    info = members.get(member)
    if info is None:
        raise DataError("%s: member %s is missing; is this cifar-10-python.tar.gz?"
                        % (archive_path, member))
    try:
        raw = tar.extractfile(info).read()
        batch = pickles.check_plain(pickles.load(raw, pickles.NUMPY_ARRAYS,
                                                 CIFAR10_MAX_OPCODES, encoding="bytes"))
    except pickles.Refused as error:
        raise DataError("%s: member %s %s: refused, nothing in it run (a CIFAR-10 batch holds "
                        "only dicts, lists, strings, numbers and numpy arrays)"
                        % (archive_path, member, error)) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DataError("%s: member %s is truncated or corrupt (%s)"
                        % (archive_path, member, error)) from None
    data = np.asarray(batch.get(b"data", batch.get("data")) if isinstance(batch, dict) else None)
    labels = batch.get(b"labels", batch.get("labels")) if isinstance(batch, dict) else None
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8 or labels is None:
        raise DataError("%s: member %s is not a CIFAR-10 batch (need uint8 data of shape "
                        "(N, 3072) and labels; got data %s %s)"
                        % (archive_path, member, data.dtype, data.shape))
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        labels = np.zeros(0)
    if labels.shape != (data.shape[0],):
        raise DataError("%s: member %s has %d images but %d labels (need one integer each)"
                        % (archive_path, member, data.shape[0], labels.size))
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError("%s: member %s has labels outside 0..9 (%d..%d)"
                        % (archive_path, member, labels.min(), labels.max()))
    # rows are R plane, G plane, B plane of 32x32: to (N, 32, 32, 3) RGB
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_cifar10_archive(path, log=print):
    """The official cifar-10-python.tar.gz (or a repack with the same members). An archive
    that is not the published one (by MD5) is said to be so, and read all the same: its
    batches are unpickled as data (mixup_app.data.pickles), never run."""
    if not os.path.isfile(path):
        raise DataError("%s: no such file" % path)
    note = archive_md5_note(path)
    if note:
        log(note)
    try:
        tar = tarfile.open(path, "r:*", tarinfo=_BoundedTarInfo)
        with tar:
            members = _cifar10_members(path, tar)
            train = [_load_batch(path, tar, members, member) for member in CIFAR10_TRAIN_MEMBERS]
            val = _load_batch(path, tar, members, CIFAR10_TEST_MEMBER)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        reasons = "; ".join(line.strip(" -") for line in str(error).splitlines()).replace(":;", ":")
        raise DataError("%s is not a readable tar archive (%s)" % (path, reasons)) from None
    return {"train": (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])),
            "val": val}


# ------------------------------------------------------------------------------ Fashion-MNIST

# Fashion-MNIST (like MNIST) holds 60 000 + 10 000 items of 28x28: a header promising more
# than IDX_MAX_ITEMS is refused before any of the body is read (gzip makes a small file of any
# length).
FASHION_MNIST_SHAPE = (28, 28)
IDX_MAX_ITEMS = 1_000_000


def read_idx(path, item_shape, max_items=IDX_MAX_ITEMS):
    """An IDX file of unsigned bytes (optionally gzip'ed) holding N items of item_shape:
    returns uint8 (N,) + item_shape. The header is checked (item shape, N <= max_items)
    before the body is read, and no more of the body is read than the header promises."""
    if not os.path.isfile(path):
        raise DataError("%s not found" % path)
    dims = 1 + len(item_shape)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            header = f.read(4 + 4 * dims)
            if len(header) < 4 + 4 * dims:
                raise DataError("%s is too short for an IDX header" % path)
            zero, dtype_code, ndim = struct.unpack(">HBB", header[:4])
            if zero != 0 or dtype_code != 0x08 or ndim != dims:
                raise DataError("%s is not an IDX file of %d-dimensional unsigned bytes "
                                "(magic %s)" % (path, dims, header[:4].hex()))
            count, *shape = struct.unpack(">" + "I" * dims, header[4:])
            if tuple(shape) != tuple(item_shape) or count > max_items:
                raise DataError("%s: its header promises %d items of %s; need at most %d of %s"
                                % (path, count, "x".join(map(str, shape)) or "one byte",
                                   max_items, "x".join(map(str, item_shape)) or "one byte"))
            need = count * int(np.prod(item_shape, dtype=np.int64))
            body = bytearray()
            while len(body) < need:
                block = f.read(min(need - len(body), 1 << 20))
                if not block:
                    raise DataError("%s holds %d bytes of data, its header (%d items of %s) "
                                    "needs %d: truncated" % (path, len(body), count,
                                                             "x".join(map(str, item_shape))
                                                             or "one byte", need))
                body += block
            if f.read(1):
                raise DataError("%s holds more data than its header (%d items) says: not an "
                                "IDX file of this kind" % (path, count))
    except (OSError, EOFError, zlib.error) as error:
        raise DataError("%s is truncated or corrupt (%s)" % (path, error)) from None
    return np.frombuffer(body, dtype=np.uint8).reshape((count,) + tuple(item_shape))


def read_fashion_mnist(directory):
    splits = {}
    for split, (images_name, labels_name) in FASHION_MNIST_FILES.items():
        images = read_idx(os.path.join(directory, images_name), FASHION_MNIST_SHAPE)
        labels = read_idx(os.path.join(directory, labels_name), ()).astype(np.int64)
        if len(images) != len(labels):
            raise DataError("%s: %d images with %d labels; need one label each"
                            % (directory, len(images), len(labels)))
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
