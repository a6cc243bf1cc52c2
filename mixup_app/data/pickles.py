"""Pickles read as data, never as code.

A pickle is a program: ``pickle.load`` calls whatever callable the file names (``os.system``,
``subprocess.Popen``, ``builtins.eval``). The project reads two kinds of pickle it did not
necessarily write -- CIFAR-10's batches (an archive from a mirror or a colleague) and MXNet's
optimizer ``.states`` (a run directory) -- and reads both through :func:`load`, which

1. walks the opcodes first (``pickletools.genops``, which executes nothing): a truncated or
   corrupt file fails here; names outside the allow-list (``GLOBAL``, ``INST``), extension
   codes and persistent ids are refused; the opcode count and memo indices are bounded, so a
   small file cannot make the unpickler build millions of objects or size its memo table in
   gigabytes (CPython's C unpickler grows the memo to twice the largest index it is given and
   fills every slot);
2. then unpickles with :class:`RestrictedUnpickler`, whose ``find_class`` (which the unpickler
   calls for every name, including ``STACK_GLOBAL``'s, ``INST`` and ``OBJ``) hands out only
   what the allow-list maps the name to, usually a wrapper that checks its arguments.

Everything else -- dicts, lists, tuples, strings, bytes, numbers -- the unpickler builds
without calling anything.
"""
import io
import pickle
import pickletools

import numpy as np


class Refused(pickle.UnpicklingError):
    """The pickle names something that is not data (the message says what), or is corrupt
    (:class:`Corrupt`)."""


class Corrupt(Refused):
    """The pickle is truncated or damaged: a file that was data once, not a hostile one."""


# Opcodes a data pickle never needs: persistent ids (a hook the caller would have to supply)
# and the copyreg extension registry (names looked up by number).
_NEVER = {"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4"}
_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}


def _qualified(module, name):
    return "%s.%s" % (module, name)


class RestrictedUnpickler(pickle.Unpickler):
    """Builds only the names in `allowed`, {(module, name): callable}."""

    def __init__(self, file, allowed, **kwargs):
        super().__init__(file, **kwargs)
        self.allowed = allowed

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise Refused("refers to %s, which is not data" % _qualified(module, name)) from None


def scan(raw, allowed, max_ops):
    """Check the opcodes of `raw` without executing them (see the module's notes)."""
    count = 0
    try:
        for opcode, arg, _ in pickletools.genops(raw):
            count += 1
            if count > max_ops:
                raise Refused("holds more than %d pickle opcodes, more than the data it should "
                              "hold ever needs" % max_ops)
            if opcode.name in _NEVER:
                raise Refused("uses the pickle opcode %s, which data never needs" % opcode.name)
            if opcode.name in ("GLOBAL", "INST"):
                module, name = arg.split(" ", 1)
                if (module, name) not in allowed:
                    raise Refused("refers to %s, which is not data" % _qualified(module, name))
            if opcode.name in _MEMO_PUTS and int(arg) > max_ops:
                raise Refused("puts memo entry %s, beyond any pickle of this size" % arg)
    except Refused:
        raise
    except Exception as error:  # genops raises ValueError and others on damaged input
        raise Corrupt("is truncated or corrupt (%s)" % error) from None
    if count == 0:
        raise Corrupt("is empty")


def load(raw, allowed, max_ops, **kwargs):
    """The object pickled in the bytes `raw`, built from plain types and `allowed` only.
    Raises Refused with a message to put after the file's name."""
    scan(raw, allowed, max_ops)
    try:
        return RestrictedUnpickler(io.BytesIO(raw), allowed, **kwargs).load()
    except Refused:
        raise
    except Exception as error:  # any other failure to build means the file is damaged
        raise Corrupt("is truncated or corrupt (%s: %s)"
                      % (type(error).__name__, str(error)[:200])) from None


# ------------------------------------------------------------- numpy arrays of plain dtypes

PLAIN_KINDS = "biuf"    # bool, signed and unsigned integers, floats


def _plain_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.kind not in PLAIN_KINDS or dtype.shape or dtype.names:
        raise Refused("holds a numpy array of dtype %s; only plain numbers are data" % dtype)
    return dtype


def _ndarray_name(*args):
    """What the name numpy.ndarray stands for in a data pickle: the argument that tells
    _reconstruct which class to make. Called, it refuses: np.ndarray(shape) would allocate
    any size the file asks for."""
    raise Refused("calls numpy.ndarray%r, not as numpy pickles an array" % (args,))


def _empty_array(subtype, shape, dtype):
    # numpy pickles an array as _reconstruct(ndarray, (0,), b'b') and then sets its state
    # (shape, dtype, raw bytes), which checks the bytes against the shape before allocating;
    # any other start is not numpy's own pickle
    if subtype is not _ndarray_name or tuple(shape) != (0,):
        raise Refused("builds a numpy array as numpy never pickles one (%r, %r)"
                      % (subtype, shape))
    return np.ndarray.__new__(np.ndarray, (0,), _plain_dtype(dtype))


# numpy >= 2 pickles under numpy._core, numpy 1.x under numpy.core: both are the same functions
NUMPY_ARRAYS = {(module, "_reconstruct"): _empty_array
                for module in ("numpy.core.multiarray", "numpy._core.multiarray")}
NUMPY_ARRAYS.update({("numpy", "ndarray"): _ndarray_name, ("numpy", "dtype"): _plain_dtype})


def check_plain(obj):
    """Refuse anything in obj but dicts, lists, tuples, strings, bytes, numbers, None and
    numpy arrays of plain dtypes (walked without recursion: nesting depth is the file's)."""
    pending = [obj]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, np.ndarray):
            if item.dtype.kind not in PLAIN_KINDS or item.dtype.names:
                raise Refused("holds a numpy array of dtype %s; only plain numbers are data"
                              % item.dtype)
        elif not (item is None or isinstance(item, (str, bytes, int, float))):
            raise Refused("holds a %s, which is not data" % type(item).__name__)
    return obj
