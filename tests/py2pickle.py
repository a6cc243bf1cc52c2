"""Pickles as Python 2 with numpy wrote them (cifar-10-python.tar.gz holds such pickles).

Python 3 cannot produce them: its protocol-2 pickles of bytes go through _codecs.encode, where
Python 2 wrote str as SHORT_BINSTRING/BINSTRING. This writes the opcodes directly, for dicts of
byte strings, integers, lists and uint8 arrays."""
import struct

import numpy as np


def dumps(obj):
    out = [b"\x80\x02"]  # PROTO 2

    def string(b):  # a Python 2 str
        out.append(b"U" + bytes([len(b)]) + b if len(b) < 256
                   else b"T" + struct.pack("<I", len(b)) + b)

    def integer(v):
        out.append(b"K" + bytes([v]) if 0 <= v < 256 else
                   b"M" + struct.pack("<H", v) if 0 <= v < 65536 else b"J" + struct.pack("<i", v))

    def dump(o):
        if isinstance(o, bytes):
            string(o)
        elif isinstance(o, (int, np.integer)):
            integer(int(o))
        elif isinstance(o, list):
            out.append(b"](")
            for v in o:
                dump(v)
            out.append(b"e")
        elif isinstance(o, dict):
            out.append(b"}(")
            for k, v in o.items():
                dump(k)
                dump(v)
            out.append(b"u")
        elif isinstance(o, np.ndarray) and o.dtype == np.uint8:
            # numpy.core.multiarray._reconstruct(ndarray, (0,), 'b'), then
            # __setstate__((1, shape, dtype('u1'), False, raw bytes))
            out.append(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
            integer(0)
            out.append(b"\x85")
            string(b"b")
            out.append(b"\x87R(")
            integer(1)
            out.append(b"(")
            for d in o.shape:
                integer(d)
            out.append(b"tcnumpy\ndtype\n")
            string(b"u1")
            integer(0)
            integer(1)
            out.append(b"\x87R(")
            integer(3)
            string(b"|")
            out.append(b"NNN")
            for v in (-1, -1, 0):
                integer(v)
            out.append(b"tb\x89")
            string(np.ascontiguousarray(o).tobytes())
            out.append(b"tb")
        else:
            raise TypeError("py2pickle cannot write %r" % type(o))

    dump(obj)
    out.append(b".")
    return b"".join(out)
