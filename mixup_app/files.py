"""Atomic files: the one place where a file is written under a temporary name and renamed,
the stamp by which a cache tells that a file it was made from has been replaced, and the
bounded reader of the small JSON files the project keeps (manifests, config.json, best.json;
mixup_app.readers checks what a run directory's files hold).

Every file this project writes (records, manifests, run directories, plots, benchmark results)
goes through here, so a reader never sees a half-written file, whatever stops the writer: the
content goes to ``NAME.part-PID-tmp.EXT`` in the same directory (a rename is atomic only within one
file system), is flushed to disk, and then replaces ``NAME`` in one step.
"""
import contextlib
import json
import os

# The project's own JSON files are kilobytes (a manifest with 100 000 class names is a few MB);
# json.load holds a whole file, and several times its size, in memory.
MAX_JSON_BYTES = 16 << 20


def _sync(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; when the block ends without an exception the
    file written there is synced and renamed onto ``path``, else it is removed.

    For writers that take a file name (``mx.nd.save``, ``savefig``, MXNet's RecordIO)."""
    directory, name = os.path.split(os.path.abspath(path))
    root, ext = os.path.splitext(name)
    # keep the extension last: some writers (matplotlib) choose the format from it
    tmp = os.path.join(directory, "%s.part-%d-tmp%s" % (root, os.getpid(), ext))
    try:
        yield tmp
        _sync(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(path, content):
    """Write ``content`` (str or bytes) to ``path`` atomically."""
    mode = "wb" if isinstance(content, bytes) else "w"
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            f.write(content)


def stamp(path):
    """[size, mtime in ns, ctime in ns] of ``path``: changes whenever the file is rewritten
    (an atomic replacement gives a new mtime), so caches built from a file compare it to
    notice. The ctime, which only the kernel sets, keeps a cache that came along with the
    files (an archive or ``cp -p`` restore mtimes) from vouching for them."""
    status = os.stat(path)
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns]


def read_bounded(path, max_bytes=MAX_JSON_BYTES):
    """The bytes of path; ValueError for a file larger than max_bytes (only max_bytes + 1 of
    them are ever read)."""
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ValueError("more than %d bytes, larger than such a file ever is" % max_bytes)
    return raw


def load_json(path, max_bytes=MAX_JSON_BYTES):
    """The JSON value in path. ValueError (with the reason) for a file larger than max_bytes,
    one that is not JSON, or one nested too deeply for the parser."""
    raw = read_bounded(path, max_bytes)
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None
