"""The op's linear maps on the device: the rows of a batch mixed with their partners (mixup,
and every label), CutMix's boxes of pixels, and the transposes of both (the exact backward);
labels as probability rows, and their check.

A plan from mixup/draws.py says what to mix; these say how, on the data's own device, without
a host round trip of the data.
"""
import mxnet as mx
import numpy as np

# Tolerance for probability labels: each row must sum to 1 within this.
PROBABILITY_SUM_TOLERANCE = 1e-3

SPARSE_DTYPES = (np.float32, np.float64)


class RowMixing:
    """The linear map x~[i] = keep[i] * x[i] + give[i] * x[index[i]] over the rows of a batch,
    with `index` a permutation; keep, give and index are numpy arrays of length N. In the
    mixing plan keep[i] = lam_i (the weight of sample i's own input) and give[i] = 1 - lam_i
    (the weight of its partner's), both 1 and 0 for a sample that is not mixed.

    A weight that is zero in the data's dtype is left out of the map, not multiplied: 0 * NaN
    is NaN, so a non-finite value in one sample reaches only the rows that really mix it,
    forward (x~) and backward (the transpose), and an unmixed row is an exact copy.

    Applied on x's device: for float32/float64 as one CSR x dense ``dot`` (the matrix holds only
    the non-zero weights, one or two per row, is built once per dtype, and the backward
    multiplies by its transpose), for float16 as a gather and row scalings selected with
    ``where`` (the transpose is again a RowMixing).
    """

    def __init__(self, keep, give, index):
        self.keep, self.give, self.index = keep, give, index
        self._matrices = {}

    def transposed(self):
        inverse = np.empty_like(self.index)
        inverse[self.index] = np.arange(len(self.index))
        return RowMixing(self.keep, self.give[inverse], inverse)

    def matrix(self, ctx, dtype):
        """The (N, N) CSR matrix: row i holds keep[i] at column i and give[i] at index[i],
        each only if it is non-zero in `dtype`."""
        key = (str(ctx), np.dtype(dtype).name)
        if key not in self._matrices:
            batch = len(self.keep)
            rows = np.concatenate([np.arange(batch), np.arange(batch)])
            columns = np.concatenate([np.arange(batch), self.index])
            weights = np.concatenate([self.keep, self.give])
            present = weights.astype(dtype) != 0
            # CSR wants rows in order and columns ascending within each row
            order = np.lexsort((columns[present], rows[present]))
            rows, columns, weights = (a[present][order] for a in (rows, columns, weights))
            indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=batch))])
            self._matrices[key] = mx.nd.sparse.csr_matrix(
                (weights, columns, indptr), shape=(batch, batch), ctx=ctx, dtype=dtype)
        return self._matrices[key]

    def apply(self, x, out=None, transpose=False):
        """The mixed rows of x (with transpose: the transposed map, the backward), written into
        `out` if given."""
        if np.dtype(x.dtype) in SPARSE_DTYPES:
            flat = x.reshape((x.shape[0], -1))
            matrix = self.matrix(x.context, x.dtype)  # the forward's, reused by the backward
            kwargs = dict(transpose_a=transpose, forward_stype="default")
            if out is None:
                return mx.nd.sparse.dot(matrix, flat, **kwargs).reshape(x.shape)
            mx.nd.sparse.dot(matrix, flat, out=out.reshape(flat.shape), **kwargs)
            return out
        if transpose:
            return self.transposed().apply(x, out)
        # float16: one small host->device copy of weights, indices and which weights are
        # present (indices exact below 2**24 in float32)
        keep16, give16 = self.keep.astype(x.dtype), self.give.astype(x.dtype)
        packed = mx.nd.array(np.stack([keep16, give16, self.index, keep16 != 0, give16 != 0]),
                             ctx=x.context, dtype=np.float32)
        shape = (-1,) + (1,) * (x.ndim - 1)
        keep, give = (w.astype(x.dtype).reshape(shape) for w in (packed[0], packed[1]))
        zeros = mx.nd.zeros_like(x)
        own = mx.nd.where(packed[3], mx.nd.broadcast_mul(x, keep), zeros)
        partner = mx.nd.broadcast_mul(mx.nd.take(x, packed[2], axis=0), give)
        result = own + mx.nd.where(packed[4], partner, zeros)
        if out is None:
            return result
        result.copyto(out)
        return out


class BoxMixing:
    """CutMix's map on (N, C, H, W) data: x~[i] = x[index[i]] inside box i, in every channel,
    and x[i] outside it; boxes (N, 4) rows (top, bottom, left, right), empty for rows that are
    not mixed; `index` a permutation.

    Per pixel it is a permutation-structured selection, so the transpose (the backward) moves
    each output pixel's gradient back to the input pixel it was copied from:
    dx = where(box, 0, dy) + where(box, dy, 0)[index^-1]. Everything is a selection (``where``,
    ``take``), never a product with a 0/1 mask, so NaN or inf stays where it was copied.
    The box mask is built on the device from the 4N box numbers and kept for the backward.
    """

    def __init__(self, boxes, index):
        self.boxes, self.index = boxes, index
        self.inverse = np.empty_like(index)
        self.inverse[index] = np.arange(len(index))
        self._masks = {}

    def mask(self, x):
        """(N, C, H, W) array of x's dtype: 1 inside each row's box, else 0; and the index, its
        inverse, and zeros, on x's device (built once per device, dtype and shape)."""
        key = (str(x.context), np.dtype(x.dtype).name, x.shape)
        if key not in self._masks:
            batch, channels, height, width = x.shape
            packed = mx.nd.array(np.concatenate([self.boxes.T.astype(np.float32),
                                                 self.index[None], self.inverse[None]]),
                                 ctx=x.context, dtype=np.float32)
            top, bottom, left, right = (packed[k].reshape((batch, 1)) for k in range(4))
            rows = mx.nd.arange(height, ctx=x.context).reshape((1, height))
            cols = mx.nd.arange(width, ctx=x.context).reshape((1, width))
            in_rows = (mx.nd.broadcast_greater_equal(rows, top)
                       * mx.nd.broadcast_lesser(rows, bottom))  # (N, H)
            in_cols = (mx.nd.broadcast_greater_equal(cols, left)
                       * mx.nd.broadcast_lesser(cols, right))  # (N, W)
            # the outer product of each row's two intervals is its box (a batched matrix
            # product and a concatenation: MXNet's CPU broadcasts are several times slower)
            inside = mx.nd.batch_dot(in_rows.reshape((batch, height, 1)),
                                     in_cols.reshape((batch, 1, width)))
            inside = inside.reshape((batch, 1, height, width)).astype(x.dtype)
            if channels > 1:
                inside = mx.nd.concat(*([inside] * channels), dim=1)
            self._masks[key] = {"inside": inside, "index": packed[4], "inverse": packed[5],
                                "zeros": mx.nd.zeros(x.shape, ctx=x.context, dtype=x.dtype)}
        return self._masks[key]

    def apply(self, x, out=None, transpose=False):
        """The mixed batch (with transpose: the gradient's way back), written into `out` if
        given."""
        arrays = self.mask(x)
        inside, zeros = arrays["inside"], arrays["zeros"]
        into = {} if out is None else {"out": out}
        if not transpose:
            return mx.nd.where(inside, mx.nd.take(x, arrays["index"], axis=0), x, **into)
        if "inside_of_partner" not in arrays:  # row j: the box into which j's pixels went
            arrays["inside_of_partner"] = mx.nd.take(inside, arrays["inverse"], axis=0)
        result = mx.nd.where(inside, zeros, x, **into)  # what stayed in its own row
        result += mx.nd.where(arrays["inside_of_partner"],  # what was copied to the partner
                              mx.nd.take(x, arrays["inverse"], axis=0), zeros)
        return result


def label_probabilities(label, num_classes, smoothing=0.0):
    """(N,) class indices -> one-hot float32, smoothed to (1 - smoothing) * one_hot +
    smoothing / num_classes; (N, C) probabilities -> float32 as given."""
    if label.ndim == 1:
        if smoothing == 0:
            return mx.nd.one_hot(label, depth=num_classes, dtype="float32")
        return mx.nd.one_hot(label, depth=num_classes, on_value=1.0 - smoothing
                             + smoothing / num_classes, off_value=smoothing / num_classes,
                             dtype="float32")
    return label.astype("float32", copy=False)


def label_classes(label):
    """The samples' classes on the host (int64): class indices as given, or each probability
    row's largest entry (the first of ties). One read-back of N numbers."""
    if label.ndim == 1:
        return label.asnumpy().astype(np.int64)
    return label.argmax(axis=1).asnumpy().astype(np.int64)


def check_labels(label, num_classes):
    """Refuse class indices outside [0, num_classes) or non-integral, and probability rows that
    are negative or do not sum to 1. Reads back one number; details only on failure."""
    if label.ndim == 1:
        # one comparison catches indices out of range, fractional ones and NaN alike
        bad = label != mx.nd.clip(mx.nd.floor(label), 0, num_classes - 1)
        if bad.sum().asscalar() == 0:
            return
        host = label.asnumpy()
        i = int(np.flatnonzero(bad.asnumpy())[0])
        raise ValueError("MixUp: label[%d] = %r is not a class index in [0, num_classes=%d)"
                         % (i, float(host[i]), num_classes))
    probs = label.astype("float32", copy=False)
    row_error = mx.nd.abs(probs.sum(axis=1) - 1) > PROBABILITY_SUM_TOLERANCE
    bad_rows = row_error + ((probs < 0) + (probs != probs)).sum(axis=1)
    if bad_rows.sum().asscalar() == 0:
        return
    i = int(np.flatnonzero(bad_rows.asnumpy())[0])
    raise ValueError("MixUp: label row %d = %s is not a probability vector (non-negative, "
                     "summing to 1)" % (i, np.array2string(probs[i].asnumpy(), precision=4)))
