"""The ``MixUp`` CustomOp: the only home of the mixing math (mixup, CutMix, their switch,
label smoothing, manifold mixup's choice of place).

Forward, in training mode, on a batch of N samples:

    m = round(mix_rate * N) samples (halves up; none when N == 1), chosen uniformly at random,
    are mixed with a partner j(i). The partners form one random cycle through the whole batch:
    j is a permutation without fixed points, so j(i) != i, each j(i) is uniform over the other
    samples, and every sample is the partner of exactly one other. Partners are the original
    inputs, not mixed ones. The other N - m samples pass unchanged.

    mode='mixup' (Zhang et al., https://arxiv.org/abs/1710.09412):
        x~_i = lam_i * x_i + (1 - lam_i) * x_j(i),  y~_i = lam_i * y_i + (1 - lam_i) * y_j(i),
        lam ~ Beta(alpha, alpha) the weight of the sample's own input.
    mode='cutmix' (Yun et al., https://arxiv.org/abs/1905.04899), data (N, C, H, W):
        lam ~ Beta(cutmix_alpha, cutmix_alpha); a box of cut_h x cut_w pixels,
        cut_h = int(H * sqrt(1 - lam)), cut_w = int(W * sqrt(1 - lam)), centred on a uniformly
        drawn pixel (cy, cx) (rows cy - cut_h // 2 .. + cut_h, clipped to the image, likewise
        columns), is filled with partner j(i)'s pixels in every channel; the label weight is
        the exact kept area lam'_i = 1 - (clipped box area) / (H * W).
    mode='switch': per batch, CutMix with probability switch_prob, else mixup (one draw).

    lam_mode='batch' draws one lam (and one box) for the batch, as the papers; 'sample' one
    per mixed sample. Labels y are one-hot rows of class indices, smoothed to
    (1 - eps) * one_hot + eps / num_classes when label_smoothing = eps > 0 (in training mode,
    mixed or not), or (N, num_classes) probability rows taken as given.

    Manifold mixup (Verma et al., https://arxiv.org/abs/1806.05236): with num_places = P > 1
    the node is one of P in a network, at position `place`; each training step exactly one
    place, uniform over the P, mixes and the others pass data and labels unchanged.

In inference mode (and under :func:`paused`) the data pass unchanged and labels become one-hot
(or pass, if given as probabilities).

Both modes are linear in the data with a permutation structure, so the backward is exact and
of the same kind as the forward. mixup: x~ = M x with M = diag(keep) + diag(give) P (P the
partner permutation, keep = lam, give = 1 - lam), dx = M^T dy, where M^T = diag(keep) +
diag(give[P^-1]) P^-1 has the same form: for float32/float64 one sparse (CSR) x dense ``dot``
each way on the device; for float16, which MXNet's sparse dot lacks, a gather and two row
scalings. CutMix: x~ = where(box, x[P], x) per pixel, so dx = where(box, 0, dy) +
(where(box, dy, 0))[P^-1]: each input pixel's gradient comes from the output pixel it was
copied to. Weights that are zero (and pixels outside the boxes) are selected away, never
multiplied by zero, so a NaN or inf in one sample reaches only the rows that mix it.

Randomness: the per-batch plan (lam, the mixed subset, the partner cycle; CutMix's boxes) is
O(N) numbers drawn on the host and sent to the op's device (mixup: the sparse mixing matrix,
at most 5N + 1 numbers; CutMix: 6N numbers, from which the box masks are built on the device);
data, labels and gradients never leave the device. Batch s of an op instance is drawn from
``numpy.random.default_rng([seed, s])``: ``seed`` comes from MXNet's global RNG when the
operator is created, so ``mx.random.seed(x)`` before binding (or before an imperative call)
reproduces the draws, and ``s`` counts the instance's training-mode forwards, so
:func:`seek` can continue a re-bound graph exactly where an interrupted run stopped.
MXNet's own random operators cannot serve here: inside a CustomOp they run in a worker thread
whose generator ``mx.random.seed`` does not reach (measured with MXNet 1.9.1).
"""
import numbers
import sys
import traceback
import weakref
from collections import namedtuple
from contextlib import contextmanager

import mxnet as mx
import numpy as np

from . import params as _params
from .params import OP_TYPE

# Tolerance for probability labels: each row must sum to 1 within this.
PROBABILITY_SUM_TOLERANCE = 1e-3

# Process-wide switch for training schedules that end without mixing (see `paused`).
_paused = False


@contextmanager
def paused():
    """Within this block every MixUp op of the process is the identity, with one-hot labels
    (smoothed, if label_smoothing is set: the training target stays), while the rest of the
    graph trains normally: plain (ERM) training of the same bound graph. Training steps still
    count (see :func:`seek`). The ops run asynchronously: enter and leave the block between
    steps, after ``mx.nd.waitall()``."""
    global _paused
    before, _paused = _paused, True
    try:
        yield
    finally:
        _paused = before


MixPlan = namedtuple("MixPlan", "partner give")
MixPlan.__doc__ = """One batch's mixup draws, as numpy arrays of length N.

partner[i]: the sample whose input is mixed into sample i (a permutation without fixed points).
give[i]:    weight of the partner's input in output i: 1 - lam_i if i is mixed, else 0.
"""

CutMixPlan = namedtuple("CutMixPlan", "partner give boxes")
CutMixPlan.__doc__ = """One batch's CutMix draws.

partner[i]: as in MixPlan.
boxes[i]:   (top, bottom, left, right) of the pasted box, rows top..bottom-1 and columns
            left..right-1, already clipped to the image; (0, 0, 0, 0) if i is not mixed.
give[i]:    the box's area / (H * W): the partner's weight in label i (1 - lam'_i).
"""


def symmetric_beta(rng, alpha, size):
    """``size`` draws of Beta(alpha, alpha) from the numpy Generator ``rng``, for any alpha > 0.

    numpy's own Beta sampler rejects until it accepts, which for alpha -> 0 takes longer and
    longer (alpha=1e-12: ~85 s for one draw; 1e-20: forever). Here Beta(a, a) = G1 / (G1 + G2)
    with G ~ Gamma(a), and each Gamma(a) = Gamma(a + 1) * U**(1/a) (U uniform on (0, 1]) is
    kept in log space, where neither factor underflows: a fixed number of operations per draw.
    As alpha -> 0 the draws tend to 0 or 1 with probability 1/2 each, as Beta(alpha, alpha).
    """
    log_gamma = (np.log(rng.gamma(alpha + 1.0, size=(2, size)))
                 + np.log1p(-rng.random((2, size))) / alpha)
    difference = log_gamma[0] - log_gamma[1]
    # G1 / (G1 + G2) = sigmoid(difference), evaluated without overflow on either side
    small = np.exp(-np.abs(difference))
    return np.where(difference >= 0, 1.0 / (1.0 + small), small / (1.0 + small))


def _partners_and_mixed(rng, batch, mix_rate):
    order = rng.permutation(batch)
    partner = np.empty(batch, dtype=np.int64)
    partner[order] = np.roll(order, -1)  # the sample after i on a random cycle
    mixed = rng.permutation(batch)[:_params.mixed_count(mix_rate, batch)]
    return partner, mixed


def draw_plan(rng, batch, mix_rate, alpha, lam_mode="batch"):
    """Draw one batch's mixup :class:`MixPlan` from the numpy Generator ``rng`` (pure)."""
    partner, mixed = _partners_and_mixed(rng, batch, mix_rate)
    give = np.zeros(batch, dtype=np.float64)
    # one lambda for the batch, or one per mixed sample
    # (1 - lam ~ Beta(alpha, alpha) as lam does: the distribution is symmetric)
    give[mixed] = symmetric_beta(rng, alpha, 1 if lam_mode == "batch" else len(mixed))
    return MixPlan(partner=partner, give=give)


def draw_cutmix_plan(rng, batch, height, width, mix_rate, alpha, lam_mode="batch"):
    """Draw one batch's :class:`CutMixPlan` for images of height x width (pure, host-side)."""
    partner, mixed = _partners_and_mixed(rng, batch, mix_rate)
    count = 1 if lam_mode == "batch" else len(mixed)
    cut = np.sqrt(1.0 - symmetric_beta(rng, alpha, count))  # side ratio: area ~ 1 - lam
    cut_h, cut_w = (height * cut).astype(np.int64), (width * cut).astype(np.int64)
    centre_y, centre_x = rng.integers(0, height, count), rng.integers(0, width, count)
    top = np.clip(centre_y - cut_h // 2, 0, height)
    bottom = np.clip(centre_y - cut_h // 2 + cut_h, 0, height)
    left = np.clip(centre_x - cut_w // 2, 0, width)
    right = np.clip(centre_x - cut_w // 2 + cut_w, 0, width)
    boxes = np.zeros((batch, 4), dtype=np.int64)
    boxes[mixed] = np.stack([top, bottom, left, right], axis=1)  # one row broadcasts
    area = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
    return CutMixPlan(partner=partner, give=area / float(height * width), boxes=boxes)


def draw_batch_plan(rng, params, shape):
    """This batch's plan under ``params`` (a MixUpParams) for data of ``shape``: a MixPlan or
    a CutMixPlan; mode='switch' decides first, with one draw."""
    batch = shape[0]
    cutmix = params.mode == "cutmix" or (params.mode == "switch"
                                         and rng.random() < params.switch_prob)
    if cutmix:
        return draw_cutmix_plan(rng, batch, shape[2], shape[3], params.mix_rate,
                                params.cutmix_alpha, params.lam_mode)
    return draw_plan(rng, batch, params.mix_rate, params.alpha, params.lam_mode)


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


def _write(req, dst, compute):
    """Honour MXNet's request type: compute straight into dst for write, add for add."""
    if req == "null":
        return
    if req == "add":
        dst += compute(None)
    else:  # write, inplace
        compute(dst)


# Training step at which MixUp ops created from now on start (see `seek`), and the ops alive.
_first_step = 0
_live_ops = weakref.WeakSet()


def seek(step):
    """Continue every MixUp op at training step ``step``: those alive in the process now, and
    every one created later in the process (until the next ``seek``). Returns nothing.

    Each op draws batch ``s``'s randomness from ``numpy.random.default_rng([seed, s])``, where
    ``seed`` is drawn from MXNet's global RNG when the op is created (bound) and ``s`` counts
    that op's training-mode forwards from its first step (0 unless ``seek`` said otherwise),
    including forwards under :func:`paused` and forwards that mix nothing. So a resumed run
    that calls ``mx.random.seed(s)`` before bind, as the first run did, and ``seek(k)`` with k
    the number of training steps already made, draws exactly what the uninterrupted run drew
    from step k on. Call it between steps (after ``mx.nd.waitall()``).
    """
    global _first_step
    if not (isinstance(step, numbers.Real) and not isinstance(step, bool)
            and float(step).is_integer() and step >= 0):
        raise ValueError("mixup.seek: step must be a whole number >= 0, got %r" % (step,))
    _first_step = int(step)
    for op in list(_live_ops):
        op.step = _first_step


class MixUpOp(mx.operator.CustomOp):
    def __init__(self, params, seed, place_seed=None):
        super().__init__()
        self._params = params
        self._seed = seed
        self._place_seed = place_seed  # shared by the num_places nodes of one executor
        self.step = _first_step  # training-mode forwards so far, counted from _first_step
        self._backward_mixing = None  # the last forward's mixing: the backward is its transpose
        _live_ops.add(self)

    def forward(self, is_train, req, in_data, out_data, aux):
        data, label = in_data
        p = self._params
        if p.check_labels:
            check_labels(label, p.num_classes)
        probs = label_probabilities(label, p.num_classes,
                                    p.label_smoothing if is_train else 0.0)
        mixing = None
        if is_train:
            # draws of step s are a pure function of (seed, s); every training step counts
            step, self.step = self.step, self.step + 1
            mixes_here = (p.num_places == 1
                          or chosen_place(self._place_seed, step, p.num_places) == p.place)
            if (not _paused and mixes_here
                    and _params.mixed_count(p.mix_rate, data.shape[0]) > 0):
                plan = draw_batch_plan(np.random.default_rng([self._seed, step]), p,
                                       data.shape)
                # label weights: keep = lam_i (own label), give = 1 - lam_i (the partner's)
                label_mixing = RowMixing(1.0 - plan.give, plan.give, plan.partner)
                mixing = (BoxMixing(plan.boxes, plan.partner) if isinstance(plan, CutMixPlan)
                          else label_mixing)
                _write(req[1], out_data[1], lambda out: label_mixing.apply(probs, out))
                _write(req[0], out_data[0], lambda out: mixing.apply(data, out))
        if mixing is None:
            self.assign(out_data[0], req[0], data)
            self.assign(out_data[1], req[1], probs)
        self._backward_mixing = mixing

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        grad = out_grad[0]
        if self._backward_mixing is None:  # identity forward (inference, or nothing mixed)
            self.assign(in_grad[0], req[0], grad)
        else:
            _write(req[0], in_grad[0],
                   lambda out: self._backward_mixing.apply(grad, out, transpose=True))
        self.assign(in_grad[1], req[1], 0)  # labels get no gradient


def chosen_place(place_seed, step, num_places):
    """Manifold mixup: the place (0 .. num_places - 1) that mixes at training step `step`,
    uniform, a pure function of the seed shared by the nodes of one executor and the step."""
    return int(np.random.default_rng([place_seed, step]).integers(num_places))


# Manifold mixup's coordination. The P nodes of one network are separate CustomOp instances;
# they agree on the place of each step by sharing one seed: the place-0 node draws it when it
# is created and the nodes created after it, in the same executor, take it. MXNet creates a
# graph's operators in topological order, one executor after the other, and place 0 comes first
# in data order (it feeds the others), so each executor (each device of a Module) gets its own
# seed, hence its own choices. Keyed by num_places: one group of manifold nodes per network
# (two independent groups with the same num_places in one graph would mix up their seeds).
_place_seeds = {}


class _BackwardDependencies:
    """Keeps MixUp from breaking, and from being broken by, other Python CustomOps' backward.

    MXNet 1.9.1 (python/mxnet/operator.py) keeps ONE process-global set,
    ``_registry.result_deps``: every time any Custom node is created (its CustomOpProp parsed:
    ``mx.sym.Custom``, ``mx.nd.Custom``, ``load_json``), its declare_backward_dependency result
    replaces the set. At backward time *every* Python CustomOp's callback asks, for each of the
    tensors handed to it, "is index i in result_deps?"; if so it reads the tensor's storage
    type from the handle. Tensors an op did not declare are handed over as empty handles, whose
    storage type is -1, hence ``CustomOp.backward raised Exception: unknown storage type: -1``
    as soon as the last-created node of *another* op type declared an index that this op did
    not. Our op used to declare only out_grad[0] (index 0); a softmax loss written as a
    CustomOp with need_top_grad=False declares indices 1, 2, 3: created after MixUp, it made
    MixUp's backward read the empty handles 1, 2, 3; created before it, MixUp's set {0} made
    the loss's backward read its own empty out_grad (index 0).

    Both directions are closed here without touching MXNet's code:
    * MixUp declares every out_grad, input and output as a dependency, so none of the tensors
      its backward is handed is empty, whatever set the global holds (the cost: the input of
      the node stays alive until the backward);
    * when MXNet has recorded MixUp's own set, the first callback into a MixUp prop puts back
      the set that the other ops' last declaration left (MixUp nodes do not need it: they
      declare everything), so creating a MixUp node never changes how another op's backward
      reads its tensors.
    """

    # MixUp's declaration: out_grad (2), in_data (2), out_data (2) are indices 0..5
    MIXUP_INDICES = frozenset(range(2 + 2 + 2))

    def __init__(self):
        self._others = set()  # the global as the other op types' last declaration left it

    def declared_by_mixup(self):
        """Called just before MXNet overwrites the global with MixUp's declaration."""
        current = set(mx.operator._registry.result_deps)
        if current != self.MIXUP_INDICES:  # else a MixUp node's set not yet given back
            self._others = current

    def give_back(self):
        registry = mx.operator._registry
        if registry.result_deps == self.MIXUP_INDICES:
            registry.result_deps = set(self._others)


_backward_dependencies = _BackwardDependencies()


class _ConciseRefusals:
    """Stands in for the ``traceback`` module inside ``mxnet.operator``.

    MXNet 1.9.1 prints the full Python traceback of any exception raised in a CustomOp
    callback (``print('Error in %s.infer_shape: %s' % (name, traceback.format_exc()))``) and
    then raises its own MXNetError. For this op's refusals of bad input (a ValueError whose
    message starts with "MixUp:") the traceback says nothing the message does not, so only
    the message is printed; every other exception, of any op, keeps its full traceback."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def format_exc(self, *args, **kwargs):
        error = sys.exc_info()[1]
        if isinstance(error, ValueError) and str(error).startswith("MixUp:"):
            return "%s: %s" % (type(error).__name__, error)
        return self._real.format_exc(*args, **kwargs)


if not isinstance(getattr(mx.operator, "traceback", None), _ConciseRefusals):
    mx.operator.traceback = _ConciseRefusals(traceback)


@mx.operator.register(OP_TYPE)
class MixUpProp(mx.operator.CustomOpProp):
    """Shape/type inference and creation of :class:`MixUpOp`.

    Parameters are validated here but the error is raised from ``infer_shape``: an exception in
    ``CustomOpProp.__init__`` kills the process in MXNet 1.9.1, one in ``infer_shape`` becomes
    an ``MXNetError`` the caller can catch (MXNet prints our message to stdout).
    """

    def __init__(self, **kwargs):
        super().__init__(need_top_grad=True)
        try:
            self._params, self._error = _params.parse(**kwargs), None
        except ValueError as error:
            self._params, self._error = None, error

    def _checked_params(self):
        if self._error is not None:
            raise self._error
        return self._params

    def list_arguments(self):
        _backward_dependencies.give_back()
        return ["data", "label"]

    def list_outputs(self):
        _backward_dependencies.give_back()
        return ["data_out", "label_out"]

    def infer_shape(self, in_shape):
        _backward_dependencies.give_back()
        p = self._checked_params()
        data_shape, label_shape = (tuple(s) for s in in_shape)
        if len(data_shape) < 1 or data_shape[0] == 0:
            raise ValueError("MixUp: data must have a batch axis, got shape %s" % (data_shape,))
        batch = data_shape[0]
        if batch >= _params.MAX_BATCH:
            raise ValueError("MixUp: batch of %d samples is too large (limit %d)"
                             % (batch, _params.MAX_BATCH))
        if len(label_shape) == 0:
            label_shape = (batch,)
        elif len(label_shape) > 2:
            raise ValueError("MixUp: label must be (N,) class indices or (N, num_classes) "
                             "probabilities, got shape %s" % (label_shape,))
        if label_shape[0] not in (0, batch):
            raise ValueError("MixUp: label batch %d differs from data batch %d (label shape %s, "
                             "data shape %s)" % (label_shape[0], batch, label_shape, data_shape))
        if len(label_shape) == 2 and label_shape[1] not in (0, p.num_classes):
            raise ValueError("MixUp: label has %d columns but num_classes=%d (label shape %s)"
                             % (label_shape[1], p.num_classes, label_shape))
        if p.mode != "mixup" and len(data_shape) != 4:
            raise ValueError("MixUp: mode=%s needs data of shape (N, C, H, W) (CutMix pastes "
                             "boxes of pixels), got shape %s" % (p.mode, data_shape))
        label_shape = (batch,) + label_shape[1:]
        return [data_shape, label_shape], [data_shape, (batch, p.num_classes)], []

    def infer_type(self, in_type):
        _backward_dependencies.give_back()
        self._checked_params()
        data_type, label_type = in_type
        if label_type is None:  # unknown (a label variable without dtype): MXNet's float32
            label_type = np.float32
        if data_type is None:
            data_type = np.float32
        if np.dtype(data_type) not in (np.float16, np.float32, np.float64):
            raise ValueError("MixUp: data must be float16, float32 or float64, got %s"
                             % np.dtype(data_type).name)
        return [data_type, label_type], [data_type, np.float32], []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        # The gradient needs only out_grad[0] and the stored plan, yet we declare every tensor:
        # see _BackwardDependencies for why MXNet 1.9.1 requires it next to other Python ops.
        _backward_dependencies.declared_by_mixup()
        return out_grad + in_data + out_data

    def create_operator(self, ctx, shapes, dtypes):
        _backward_dependencies.give_back()
        p = self._checked_params()
        # Runs in the caller's thread, where mx.random.seed governs MXNet's generator.
        seed = _draw_seed()
        place_seed = None
        if p.num_places > 1:
            if p.place == 0:
                _place_seeds[p.num_places] = _draw_seed()
            elif p.num_places not in _place_seeds:
                raise ValueError("MixUp: place=%d of num_places=%d was created before any node "
                                 "with place=0 of num_places=%d" % (p.place, p.num_places,
                                                                    p.num_places))
            place_seed = _place_seeds[p.num_places]
        return MixUpOp(p, seed, place_seed)


def _draw_seed():
    """A seed from MXNet's global RNG, within numpy's and C's int range."""
    return int(mx.nd.random.randint(0, 2 ** 31 - 1, shape=(1,), ctx=mx.cpu()).asscalar())
