"""The op's linear maps: the rows of a batch mixed with their partners (mixup, and every
label), CutMix's boxes of pixels, and the transposes of both (the exact backward); labels as
probability rows, and their check.

A plan from mixup/draws.py says what to mix; these say how. Each map applies itself two ways
with the same values, element for element (a zero's sign aside: MXNet's sparse dot adds a +0
that numpy does not): ``apply`` on an NDArray's own device (data of any size on any device,
never copied to the host) and ``apply_numpy`` in numpy, which the op uses on the CPU where a
few numpy operations cost less than pushing MXNet's (see mixup/op.py). Labels are handled on
the host: the op reads the batch's labels back once per batch.
"""
import functools

import mxnet as mx
import numpy as np

# Tolerance for probability labels: each row must sum to 1 within this.
PROBABILITY_SUM_TOLERANCE = 1e-3

SPARSE_DTYPES = (np.float32, np.float64)


def device_array(host, ctx, dtype=None):
    """A copy of the numpy array ``host`` on ``ctx``. ``mx.nd.array`` does the same through
    NDArray's ``[:] =`` indexing, whose Python costs about 70 us per call in MXNet 1.9.1, more
    than the copy of a batch's worth of small numbers: this writes the memory directly."""
    dtype = host.dtype if dtype is None else np.dtype(dtype)
    array = mx.nd.empty(host.shape, ctx=ctx, dtype=dtype)
    array._sync_copyfrom(host)  # pylint: disable=protected-access
    return array


def _summed_in(dtype):
    """The dtype in which products of ``dtype`` values are summed: float32 at least (float16
    sums of a row's worth of products lose the gradient)."""
    return np.promote_types(dtype, np.float32)


class RowMixing:
    """The linear map x~[i] = keep[i] * x[i] + give[i] * x[index[i]] over the rows of a batch,
    with `index` a permutation without fixed points; keep, give and index are numpy arrays of
    length N. In the mixing plan keep[i] = lam_i (the weight of sample i's own input) and
    give[i] = 1 - lam_i (the weight of its partner's), both 1 and 0 for a sample that is not
    mixed.

    A weight that is zero in the data's dtype is left out of the map, not multiplied: 0 * NaN
    is NaN, so a non-finite value in one sample reaches only the rows that really mix it,
    forward (x~) and backward (the transpose), and an unmixed row is an exact copy. Every
    output element is round(round(keep * x) + round(give * x_partner)) in the data's dtype,
    the terms present only if their weight is non-zero, whichever way the map is applied.

    On the device (``apply``): for float32/float64 one CSR x dense ``dot`` (the matrix holds
    only the non-zero weights, one or two per row, is built once per dtype, and the backward
    multiplies by its transpose), for float16 a gather and row scalings selected with ``where``
    (the transpose is again a RowMixing). On the host (``apply_numpy``): numpy products where
    the weight is non-zero.
    """

    def __init__(self, keep, give, index):
        self.keep, self.give, self.index = keep, give, index
        self._cache = {}  # per (device, dtype): the CSR matrix; per dtype: host weights
        self._inverse = self._transposed = None

    def inverse(self):
        """The inverse permutation of index: inverse[index[i]] = i."""
        if self._inverse is None:
            self._inverse = np.empty_like(self.index)
            self._inverse[self.index] = np.arange(len(self.index))
        return self._inverse

    def transposed(self):
        if self._transposed is None:
            inverse = self.inverse()
            self._transposed = RowMixing(self.keep, self.give[inverse], inverse)
        return self._transposed

    def matrix(self, ctx, dtype):
        """The (N, N) CSR matrix: row i holds keep[i] at column i and give[i] at index[i],
        each only if it is non-zero in `dtype`."""
        key = (str(ctx), np.dtype(dtype).name)
        if key not in self._cache:
            batch = len(self.keep)
            own = np.arange(batch)
            # CSR wants columns ascending within each row: the two entries of row i in order
            partner_first = self.index < own
            columns = np.where(partner_first, [self.index, own], [own, self.index]).T
            weights = np.where(partner_first, [self.give, self.keep], [self.keep, self.give]).T
            weights = weights.astype(dtype)
            present = weights != 0
            indptr = np.zeros(batch + 1, dtype=np.int64)
            np.cumsum(present.sum(axis=1), out=indptr[1:])
            self._cache[key] = mx.nd.sparse.csr_matrix(
                (device_array(weights[present], ctx), device_array(columns[present], ctx),
                 device_array(indptr, ctx)), shape=(batch, batch), ctx=ctx, dtype=dtype)
        return self._cache[key]

    def apply(self, x, out=None, transpose=False):
        """The mixed rows of the NDArray x on its device (with transpose: the transposed map,
        the backward), written into `out` if given."""
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
        packed = device_array(np.stack([keep16, give16, self.index, keep16 != 0, give16 != 0]),
                              x.context, np.float32)
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

    def lam_gradient(self, x, grad, rows):
        """The gradient of <grad, x~> with respect to lam_i where row i's weights are (lam_i,
        1 - lam_i) (lambda from the graph): d x~_i / d lam_i = x_i - x_index[i], so
        sum over row i of grad[i] * (x[i] - x[index[i]]) for the rows in ``rows`` (indices of
        the mixed rows) and 0 for the others, selected, never a product with 0. x and grad:
        NDArrays of one shape (N, ...) on one device, reduced there (N numbers come back);
        summed in float32 at least. Returns float64 numpy (N,)."""
        out = np.zeros(len(self.index))
        if len(rows):
            picked = device_array(np.stack([rows, self.index[rows]]), x.context, np.float32)
            flat = x.reshape((x.shape[0], -1)).astype(_summed_in(x.dtype))
            difference = mx.nd.take(flat, picked[0]) - mx.nd.take(flat, picked[1])
            heads = mx.nd.take(grad.reshape(flat.shape).astype(flat.dtype), picked[0])
            out[rows] = mx.nd.sum(heads * difference, axis=1).asnumpy()
        return out

    def lam_gradient_numpy(self, x, grad, rows):
        """:meth:`lam_gradient` on numpy arrays (the host's way: small batches on the CPU, and
        the labels)."""
        out = np.zeros(len(self.index))
        flat = x.reshape((x.shape[0], -1)).astype(_summed_in(x.dtype))
        heads = grad.reshape(flat.shape)[rows].astype(flat.dtype)
        out[rows] = np.einsum("ij,ij->i", heads, flat[rows] - flat[self.index[rows]])
        return out

    def _host_weights(self, dtype):
        """keep and give as (N, 1) columns of `dtype`, and the rows where each is non-zero
        (None when all are: the common case, where nothing needs selecting)."""
        if dtype not in self._cache:
            keep, give = self.keep.astype(dtype)[:, None], self.give.astype(dtype)[:, None]
            own_rows, partner_rows = (None if w.all() else np.flatnonzero(w) for w in (keep, give))
            self._cache[dtype] = keep, give, own_rows, partner_rows
        return self._cache[dtype]

    def apply_numpy(self, x, transpose=False):
        """The same map on a numpy array x (N, ...), in x's dtype (with transpose: the
        backward). Row i of the transpose gets keep[i] * x[i] + give[k] * x[k], k the row
        whose partner is i."""
        rows = x.reshape((x.shape[0], -1))
        keep, give, own_rows, partner_rows = self._host_weights(x.dtype)
        # products only where the weight is non-zero: never 0 * inf, nor 0 * NaN
        if own_rows is None:
            out = keep * rows
        else:
            out = np.zeros_like(rows)
            out[own_rows] = keep[own_rows] * rows[own_rows]
        if partner_rows is None:
            if transpose:  # row j gets give[k] * x[k] from the k with index[k] = j
                out += np.take(give * rows, self.inverse(), axis=0)
            else:
                out += give * np.take(rows, self.index, axis=0)
        elif transpose:
            out[self.index[partner_rows]] += give[partner_rows] * rows[partner_rows]
        else:
            out[partner_rows] += give[partner_rows] * rows[self.index[partner_rows]]
        return out.reshape(x.shape)


class BoxMixing:
    """CutMix's map on (N, C, H, W) data: x~[i] = x[index[i]] inside box i, in every channel,
    and x[i] outside it; boxes (N, 4) rows (top, bottom, left, right), empty for rows that are
    not mixed; `index` a permutation.

    Per pixel it is a permutation-structured selection, so the transpose (the backward) moves
    each output pixel's gradient back to the input pixel it was copied from:
    dx = where(box, 0, dy) + where(box, dy, 0)[index^-1]. Everything is a selection (``where``,
    ``take``), never a product with a 0/1 mask, so NaN or inf stays where it was copied.
    On the device the box mask is built from the 4N box numbers and kept for the backward; on
    the host (``apply_numpy``) it is built with numpy.
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
            packed = device_array(np.concatenate([self.boxes.T, self.index[None],
                                                  self.inverse[None]]), x.context, np.float32)
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
        """The mixed batch (with transpose: the gradient's way back) of the NDArray x on its
        device, written into `out` if given."""
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

    def numpy_mask(self, height, width):
        """(N, 1, H, W) booleans: True inside each row's box."""
        top, bottom, left, right = (self.boxes[:, k, None] for k in range(4))
        rows, cols = np.arange(height), np.arange(width)
        in_rows = (rows >= top) & (rows < bottom)  # (N, H)
        in_cols = (cols >= left) & (cols < right)  # (N, W)
        return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]

    def apply_numpy(self, x, transpose=False):
        """The same map on a numpy array x (N, C, H, W) (with transpose: the backward)."""
        inside = self.numpy_mask(*x.shape[2:])
        if not transpose:
            return np.where(inside, x[self.index], x)
        zero = x.dtype.type(0)
        return np.where(inside, zero, x) + np.where(inside[self.inverse], x[self.inverse], zero)


def check_lam(lam):
    """Refuse weights from the graph (lam_mode='input', numpy (N,)) outside [0, 1], NaN or
    infinite: a weight outside [0, 1] extrapolates instead of mixing, and its labels would not
    be a distribution."""
    bad = ~((lam >= 0) & (lam <= 1))  # NaN fails both comparisons
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError("MixUp: lam[%d] = %r is not a weight in [0, 1] (lam_mode='input': "
                         "one weight per row)" % (i, float(lam[i])))


@functools.lru_cache(maxsize=64)
def _one_hot_rows(num_classes, smoothing):
    """Row c: the (smoothed) one-hot row of class c, float32; row num_classes: no class."""
    off = smoothing / num_classes
    rows = np.full((num_classes + 1, num_classes), off, dtype=np.float32)
    rows[np.arange(num_classes), np.arange(num_classes)] = 1.0 - smoothing + off
    rows.flags.writeable = False
    return rows


def label_probabilities(labels, num_classes, smoothing=0.0, checked=False):
    """numpy labels -> (N, num_classes) float32 probability rows. (N,) class indices become
    one-hot rows, smoothed to (1 - smoothing) * one_hot + smoothing / num_classes; as MXNet's
    ``one_hot`` does, an index is truncated towards zero and one outside [0, num_classes)
    (or NaN) gives a row without its 1 (reachable only with check_labels off; ``checked``:
    the labels passed :func:`check_labels`). (N, C) probabilities pass as float32, as given."""
    if labels.ndim == 2:
        return labels.astype(np.float32)
    if checked:
        index = labels.astype(np.intp)
    else:
        whole = np.trunc(labels)
        index = np.where((whole >= 0) & (whole < num_classes), whole, num_classes)
        index = index.astype(np.intp)
    return _one_hot_rows(num_classes, float(smoothing))[index]


def label_classes(labels):
    """The samples' classes (int64) from numpy labels: class indices as given, or each
    probability row's largest entry (the first of ties)."""
    if labels.ndim == 1:
        return labels.astype(np.int64)
    return labels.argmax(axis=1).astype(np.int64)


def check_labels(labels, num_classes):
    """Refuse class indices outside [0, num_classes) or non-integral, and probability rows that
    are negative or do not sum to 1 (numpy labels, as the op reads them back)."""
    if labels.ndim == 1:
        # one comparison catches indices out of range, fractional ones and NaN alike
        bad = labels != np.minimum(np.maximum(np.floor(labels), 0), num_classes - 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError("MixUp: label[%d] = %r is not a class index in [0, num_classes=%d)"
                             % (i, float(labels[i]), num_classes))
        return
    probs = labels.astype(np.float32)
    row_error = np.abs(probs.sum(axis=1) - 1) > PROBABILITY_SUM_TOLERANCE
    bad_rows = row_error | ((probs < 0) | (probs != probs)).any(axis=1)
    if bad_rows.any():
        i = int(np.flatnonzero(bad_rows)[0])
        raise ValueError("MixUp: label row %d = %s is not a probability vector (non-negative, "
                         "summing to 1)" % (i, np.array2string(probs[i], precision=4)))
