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
    with `index` a permutation (without fixed points, or with give = 0 at them); keep, give and
    index are numpy arrays of length N. In the mixing plan keep[i] = lam_i (the weight of
    sample i's own input) and give[i] = 1 - lam_i (the weight of its partner's), both 1 and 0
    for a sample that is not mixed. With several partners (num_mix = T + 1 > 2) give and index
    are (T, N): x~[i] = keep[i] * x[i] + sum over t of give[t, i] * x[index[t, i]], each
    index[t] a permutation and the T + 1 rows met by row i distinct.

    A weight that is zero in the data's dtype is left out of the map, not multiplied: 0 * NaN
    is NaN, so a non-finite value in one sample reaches only the rows that really mix it,
    forward (x~) and backward (the transpose), and an unmixed row is an exact copy. Every
    output element is round(round(keep * x) + round(give * x_partner)) in the data's dtype,
    the terms present only if their weight is non-zero, whichever way the map is applied.
    With several partners the terms are added in order (own, then partner 1, 2, ...) on the
    host and in float16, and in the order of their rows by MXNet's sparse dot: there the two
    ways may differ in the last bit (each way is deterministic, so a run resumes bit-exactly).

    On the device (``apply``): for float32/float64 one CSR x dense ``dot`` (the matrix holds
    only the non-zero weights, at most T + 1 per row, is built once per dtype, and the backward
    multiplies by its transpose), for float16 a gather and row scalings per partner selected
    with ``where`` (the transpose is again a RowMixing). On the host (``apply_numpy``): numpy
    products where the weight is non-zero.
    """

    def __init__(self, keep, give, index):
        self.keep = keep
        # (T, N) whatever was given: one row per partner
        self.gives, self.indices = np.atleast_2d(give), np.atleast_2d(index)
        self._cache = {}  # per (device, dtype): the CSR matrix; per dtype: host weights
        self._inverses = self._transposed = None

    def inverses(self):
        """(T, N): the inverse permutation of each index: inverse[t, index[t, i]] = i."""
        if self._inverses is None:
            self._inverses = np.empty_like(self.indices)
            for inverse, index in zip(self._inverses, self.indices):
                inverse[index] = np.arange(len(index))
        return self._inverses

    def transposed(self):
        if self._transposed is None:
            inverses = self.inverses()
            gives = np.stack([give[inverse] for give, inverse in zip(self.gives, inverses)])
            self._transposed = RowMixing(self.keep, gives, inverses)
        return self._transposed

    def matrix(self, ctx, dtype):
        """The (N, N) CSR matrix: row i holds keep[i] at column i and give[t, i] at
        index[t, i], each only if it is non-zero in `dtype`."""
        key = (str(ctx), np.dtype(dtype).name)
        if key not in self._cache:
            batch = len(self.keep)
            columns = np.vstack([np.arange(batch), self.indices]).T
            weights = np.vstack([self.keep, self.gives]).T.astype(dtype)
            # CSR wants columns ascending within each row
            order = np.argsort(columns, axis=1, kind="stable")
            columns = np.take_along_axis(columns, order, axis=1)
            weights = np.take_along_axis(weights, order, axis=1)
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
        # present (indices exact below 2**24 in float32): rows keep, keep present, then per
        # partner its weight, whether present, and its index
        keep16, gives16 = self.keep.astype(x.dtype), self.gives.astype(x.dtype)
        rows = [keep16, keep16 != 0]
        for give16, index in zip(gives16, self.indices):
            rows += [give16, give16 != 0, index]
        packed = device_array(np.stack(rows), x.context, np.float32)
        shape = (-1,) + (1,) * (x.ndim - 1)
        zeros = mx.nd.zeros_like(x)
        keep = packed[0].astype(x.dtype).reshape(shape)
        result = mx.nd.where(packed[1], mx.nd.broadcast_mul(x, keep), zeros)
        for k in range(2, len(rows), 3):
            give = packed[k].astype(x.dtype).reshape(shape)
            partner = mx.nd.broadcast_mul(mx.nd.take(x, packed[k + 2], axis=0), give)
            result = result + mx.nd.where(packed[k + 1], partner, zeros)
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
        index = self.indices[0]  # one partner: lambda from the graph works with num_mix=2
        out = np.zeros(len(index))
        if len(rows):
            picked = device_array(np.stack([rows, index[rows]]), x.context, np.float32)
            flat = x.reshape((x.shape[0], -1)).astype(_summed_in(x.dtype))
            difference = mx.nd.take(flat, picked[0]) - mx.nd.take(flat, picked[1])
            heads = mx.nd.take(grad.reshape(flat.shape).astype(flat.dtype), picked[0])
            out[rows] = mx.nd.sum(heads * difference, axis=1).asnumpy()
        return out

    def lam_gradient_numpy(self, x, grad, rows):
        """:meth:`lam_gradient` on numpy arrays (the host's way: small batches on the CPU, and
        the labels)."""
        index = self.indices[0]
        out = np.zeros(len(index))
        flat = x.reshape((x.shape[0], -1)).astype(_summed_in(x.dtype))
        heads = grad.reshape(flat.shape)[rows].astype(flat.dtype)
        out[rows] = np.einsum("ij,ij->i", heads, flat[rows] - flat[index[rows]])
        return out

    def _host_weights(self, dtype):
        """keep (N, 1) and give (T, N, 1) columns of `dtype`, and the rows where each is
        non-zero (None when all are: the common case, where nothing needs selecting)."""
        if dtype not in self._cache:
            keep, gives = self.keep.astype(dtype)[:, None], self.gives.astype(dtype)[:, :, None]
            own_rows, *partner_rows = (None if w.all() else np.flatnonzero(w)
                                       for w in (keep, *gives))
            self._cache[dtype] = keep, gives, own_rows, partner_rows
        return self._cache[dtype]

    def apply_numpy(self, x, transpose=False):
        """The same map on a numpy array x (N, ...), in x's dtype (with transpose: the
        backward). Row i of the transpose gets keep[i] * x[i] + the sum over t of
        give[t, k] * x[k], k the row whose t-th partner is i."""
        rows = x.reshape((x.shape[0], -1))
        keep, gives, own_rows, partner_rows = self._host_weights(x.dtype)
        # products only where the weight is non-zero: never 0 * inf, nor 0 * NaN
        if own_rows is None:
            out = keep * rows
        else:
            out = np.zeros_like(rows)
            out[own_rows] = keep[own_rows] * rows[own_rows]
        inverses = self.inverses() if transpose else self.indices
        for give, index, inverse, partners in zip(gives, self.indices, inverses, partner_rows):
            if partners is None:
                if transpose:  # row j gets give[k] * x[k] from the k with index[k] = j
                    out += np.take(give * rows, inverse, axis=0)
                else:
                    out += give * np.take(rows, index, axis=0)
            elif transpose:
                out[index[partners]] += give[partners] * rows[partners]
            else:
                out[partners] += give[partners] * rows[index[partners]]
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
