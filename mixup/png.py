"""Lossless PNG encoding of uint8 images, without OpenCV.

PNG stores RGB in R, G, B order; MXNet's ImageRecordIter decodes it with OpenCV and hands back
RGB, so the pixels a record iterator yields are exactly the pixels encoded here.
"""
import struct
import zlib

import numpy as np


def _chunk(kind, payload):
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def encode_png(image, level=6):
    """PNG bytes of an (H, W) grayscale or (H, W, 3) RGB uint8 array."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3
                                                                and image.shape[2] != 3):
        raise ValueError("encode_png: need uint8 (H, W) or (H, W, 3), got %s %s"
                         % (image.dtype, image.shape))
    height, width = image.shape[:2]
    colour_type = 0 if image.ndim == 2 else 2
    rows = image.reshape(height, -1)
    # filter type 0 (None) before every scanline
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, level)) + _chunk(b"IEND", b""))
