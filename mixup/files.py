"""Atomic files: the one place where a file is written under a temporary name and renamed,
and the stamp by which a cache tells that a file it was made from has been replaced.

Every file this project writes (records, manifests, run directories, plots, benchmark results)
goes through here, so a reader never sees a half-written file, whatever stops the writer: the
content goes to ``NAME.part-PID-tmp.EXT`` in the same directory (a rename is atomic only within one
file system), is flushed to disk, and then replaces ``NAME`` in one step.
"""
import contextlib
import os


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
    """[size, mtime in ns] of ``path``: changes whenever the file is rewritten (an atomic
    replacement gives a new mtime), so caches built from a file compare it to notice."""
    status = os.stat(path)
    return [status.st_size, status.st_mtime_ns]
