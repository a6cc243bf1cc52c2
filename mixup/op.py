"""The ``MixUp`` CustomOp and its CustomOpProp: what the op does on each call, the process-wide
state its instances share (``paused``, ``seek``, manifold mixup's seeds), and its shape and
type inference. The per-batch draws live in mixup/draws.py, the device-side maps in
mixup/mixing.py, the MXNet 1.9.1 workarounds it relies on in mixup_compat.py.

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

    pairing='other_class' lays the samples out class after class and shifts (partners of
    another class wherever the batch allows); pairing='same_class' makes each class's samples
    one random cycle, a sample alone of its class its own partner (so unmixed); pairing='flip'
    pairs row i with row N - 1 - i (the graph can build the partner: mx.sym.reverse): see
    mixup/draws.py. label_mode='own' mixes the data only, every row keeping its own label.
    num_mix = k > 2 (mode='mixup', pairing='random', a drawn lam): row i combines itself with
    j^1(i) .. j^(k-1)(i), the next k - 1 samples on the cycle, weights ~ Dirichlet(alpha, ...),
    labels alike; the backward is M^T with one term per partner.

    lam_mode='batch' draws one lam (and one box) for the batch, as the papers; 'sample' one
    per mixed sample. Labels y are one-hot rows of class indices, smoothed to
    (1 - eps) * one_hot + eps / num_classes when label_smoothing = eps > 0 (in training mode,
    mixed or not), or (N, num_classes) probability rows taken as given.

    lam_mode='input' takes lambda from the graph instead: a third input lam (N,), weights in
    [0, 1] (anything else, NaN included, is refused at forward), mode='mixup' only. The op
    still draws the partners and the mixed subset as above (the same draws as the other
    modes, so seek and mx.random.seed work alike); a mixed row i becomes
    lam_i * x_i + (1 - lam_i) * x_j(i) (labels alike), a row left out by mix_rate passes
    unchanged (lam_i is ignored there, as if it were 1) and gets zero gradient w.r.t. lam_i.
    The backward gives lam's exact gradient too: for a mixed row,
    dL/dlam_i = <dL/dx~_i, x_i - x_j(i)> + <dL/dy~_i, y_i - y_j(i)> (the second term when
    label_out has a gradient); zero at inference and under paused(), where the node is the
    identity.

    Manifold mixup (Verma et al., https://arxiv.org/abs/1806.05236): with num_places = P > 1
    the node is one of P in a network, at position `place`; each training step exactly one
    place, uniform over the P, mixes and the others pass data and labels unchanged.

In inference mode (and under :func:`paused`) the data pass unchanged and labels become one-hot
(or pass, if given as probabilities).

Both modes are linear in the data with a permutation structure, so the backward is exact and
of the same kind as the forward. mixup: x~ = M x with M = diag(keep) + diag(give) P (P the
partner permutation, keep = lam, give = 1 - lam), dx = M^T dy, where M^T = diag(keep) +
diag(give[P^-1]) P^-1 has the same form. CutMix: x~ = where(box, x[P], x) per pixel, so dx =
where(box, 0, dy) + (where(box, dy, 0))[P^-1]: each input pixel's gradient comes from the
output pixel it was copied to. Weights that are zero (and pixels outside the boxes) are
selected away, never multiplied by zero, so a NaN or inf in one sample reaches only the rows
that mix it.

Where the work is done. The labels: on the host, always; the op reads the batch's labels back
once per batch (N numbers, or the N x num_classes probabilities), checks them, makes the
(smoothed) one-hot rows and mixes them there, and writes label_out with one copy. The data and
their gradient, by the same plan, two ways that give the same values (mixup/mixing.py):

* on the CPU, where the host is the device, small mixup batches (HOST_MIX_MAX_ELEMENTS) and
  every CutMix batch are mixed by numpy, reading and writing the arrays MXNet hands the op in
  place (mixup_compat.callback_viewer): a few numpy operations cost less than pushing MXNet
  operators, whose fixed cost dominates small tensors;
* otherwise, and always on a GPU, on the data's device with MXNet's operators: for float32/64
  mixup one sparse (CSR) x dense ``dot`` each way, the matrix (at most 5N + 1 numbers) sent
  from the host; for float16, which MXNet's sparse dot lacks, a gather and two row scalings;
  CutMix builds its box masks on the device from 6N numbers. The data and the gradient never
  leave the device.

Randomness: the per-batch plan (lam, the mixed subset, the partner cycle; CutMix's boxes) is
O(N) numbers drawn on the host. Batch s of an op instance is drawn from
``numpy.random.default_rng([seed, s])``: ``seed`` comes from MXNet's global RNG when the
operator is created, so ``mx.random.seed(x)`` before binding (or before an imperative call)
reproduces the draws, and ``s`` counts the instance's training-mode forwards, so
:func:`seek` can continue a re-bound graph exactly where an interrupted run stopped.
MXNet's own random operators cannot serve here: inside a CustomOp they run in a worker thread
whose generator ``mx.random.seed`` does not reach (measured with MXNet 1.9.1).
"""
import functools
import math
import numbers
import weakref
from contextlib import contextmanager

import mxnet as mx
import numpy as np

import mixup_compat

from .draws import CutMixPlan, chosen_place, draw_batch_plan
from .mixing import (BoxMixing, RowMixing, check_lam, check_labels, device_array,
                     label_classes, label_probabilities)
from .params import CLASS_PAIRINGS, MAX_BATCH, OP_TYPE, input_names, mixed_count, parse


class _SharedState:
    """What every MixUp op of this Python process shares: one instance, ``_shared``, whose
    scope is the process (every executor, device and thread in it).

    paused:      inside :func:`paused`, every op is the identity with the training target.
    first_step:  the training step at which ops created from now on start (:func:`seek`).
    live_ops:    the ops alive, so that :func:`seek` moves them too (weak references).
    place_seeds: manifold mixup's seed of each group of nodes, by num_places.
    interrupted: a Ctrl-C that arrived in MixUpProp.__init__, to be raised from the next
                 callback (see _callback).

    Manifold mixup's coordination (``place_seeds``): the P nodes of one network are separate
    CustomOp instances; they agree on the place of each step by sharing one seed: the place-0
    node draws it when it is created and the nodes created after it, in the same executor, take
    it. MXNet creates a graph's operators in topological order, one executor after the other,
    and place 0 comes first in data order (it feeds the others), so each executor (each device
    of a Module) gets its own seed, hence its own choices. Keyed by num_places: one group of
    manifold nodes per network (two independent groups with the same num_places in one graph
    would mix up their seeds).
    """

    def __init__(self):
        self.paused = False
        self.first_step = 0
        self.live_ops = weakref.WeakSet()
        self.place_seeds = {}
        self.interrupted = False  # a Ctrl-C caught where it could not be raised (_callback)


_shared = _SharedState()


class OperatorInterrupted(RuntimeError):
    """Ctrl-C arrived while MXNet was running one of the op's callbacks (see _callback)."""


def _callback(method):
    """A method MXNet calls through ctypes, made safe under Ctrl-C.

    MXNet 1.9.1 wraps each callback in ``except Exception``, so a KeyboardInterrupt raised in
    one (Python raises it wherever the main thread is when SIGINT arrives; the op's
    shape/type inference and creation run there, its forward and backward too under the
    NaiveEngine) passes through C++, which aborts the process or leaves MXNet's state
    broken. Here it becomes :class:`OperatorInterrupted`, an Exception: MXNet abandons the call
    and raises its MXNetError (which names the interrupt) in the caller, and the process goes
    on. An interrupt that arrived in ``MixUpProp.__init__`` (which MXNet does not wrap at all)
    is raised from the next callback."""
    where = method.__name__

    @functools.wraps(method)
    def guarded(*args, **kwargs):
        try:
            if _shared.interrupted:
                _shared.interrupted = False
                raise KeyboardInterrupt
            return method(*args, **kwargs)
        except KeyboardInterrupt:
            raise OperatorInterrupted(
                "MixUp: interrupted (Ctrl-C) while MXNet ran the op's %s; the call was "
                "abandoned" % where) from None
    return guarded



@contextmanager
def paused():
    """Within this block every MixUp op of the process is the identity, with one-hot labels
    (smoothed, if label_smoothing is set: the training target stays), while the rest of the
    graph trains normally: plain (ERM) training of the same bound graph. Training steps still
    count (see :func:`seek`). The ops run asynchronously: enter and leave the block between
    steps, after ``mx.nd.waitall()``."""
    before, _shared.paused = _shared.paused, True
    try:
        yield
    finally:
        _shared.paused = before


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
    if not (isinstance(step, numbers.Real) and not isinstance(step, bool)
            and float(step).is_integer() and step >= 0):
        raise ValueError("mixup.seek: step must be a whole number >= 0, got %r" % (step,))
    _shared.first_step = int(step)
    for op in list(_shared.live_ops):
        op.step = _shared.first_step


# On the CPU, mixup batches of at most this many elements (by dtype) are mixed by numpy,
# forward and backward: below it a few numpy operations cost less than MXNet's sparse dot with
# its matrix. Each is a power of two under the crossover measured on the development machine
# (bench/crossover.py: about 150k elements in float32, 75k in float64, 50k in float16, whose
# arithmetic numpy does in software). Larger batches go through MXNet's operators.
HOST_MIX_MAX_ELEMENTS = {"float16": 1 << 15, "float32": 1 << 17, "float64": 1 << 16}


def mixes_on_host(cutmix, shape, dtype):
    """Whether an op on the CPU mixes a batch of ``shape`` and ``dtype`` (and its gradient)
    in numpy: CutMix always (numpy's selections beat MXNet's at every size measured, up to
    128x16x32x32), mixup below HOST_MIX_MAX_ELEMENTS. On a GPU the data stay there."""
    return cutmix or math.prod(shape) <= HOST_MIX_MAX_ELEMENTS[np.dtype(dtype).name]


def _write(req, dst, compute):
    """Honour MXNet's request type for a result computed on the device: compute straight into
    dst for write, add for add."""
    if req == "null":
        return
    if req == "add":
        dst += compute(None)
    else:  # write, inplace
        compute(dst)


class MixUpOp(mx.operator.CustomOp):
    def __init__(self, params, seed, place_seed, ctx):
        super().__init__()
        self._params = params
        self._seed = seed
        self._place_seed = place_seed  # shared by the num_places nodes of one executor
        self.step = _shared.first_step  # training-mode forwards so far
        self._backward_mixing = None  # the last forward's mixing: the backward is its transpose
        self._lam_backward = None  # lam_mode='input': the last forward's labels and mixed rows
        # On the CPU the host is the device: the op reads and writes the callbacks' arrays in
        # place, and mixes small batches in numpy (_on_host, decided per batch).
        self._cpu = ctx.device_type == "cpu"
        self._on_host = False
        _shared.live_ops.add(self)

    def _read(self, array):
        """An input's values as a numpy array: on the CPU a view of its memory, else a copy."""
        return _view(array) if self._cpu else array.asnumpy()

    def _put(self, req, dst, compute):
        """Honour MXNet's request type for a numpy result (``compute()``, of dst's shape and
        dtype): written into dst's memory on the CPU, one copy to the device otherwise."""
        if req == "null":
            return
        value = compute()
        if self._cpu:
            # value has the shape and dtype that MXNet's shape and type inference gave dst
            view = _view(dst, writeable=True, shape=value.shape, dtype=value.dtype)
            if req == "add":
                view += value
            else:  # write, inplace
                np.copyto(view, value)
        elif req == "add":
            dst += device_array(value, dst.context, dst.dtype)
        else:
            dst._sync_copyfrom(value)  # pylint: disable=protected-access

    def _pass(self, req, dst, src):
        """dst = src, unchanged (dst += src for add)."""
        if self._cpu:
            self._put(req, dst, lambda: self._read(src))
        elif req == "add":
            dst += src
        elif req != "null":
            src.copyto(dst)

    @_callback
    def forward(self, is_train, req, in_data, out_data, aux):
        data, label = in_data[:2]
        p = self._params
        labels = self._read(label)  # the batch's labels on the host: checked, mixed there
        if p.check_labels:
            check_labels(labels, p.num_classes)
        lam = None
        if p.lam_input:  # the graph's weights (N numbers), checked whether or not it mixes
            lam = self._read(in_data[2]).astype(np.float64)
            check_lam(lam)
        probs = label_probabilities(labels, p.num_classes, p.label_smoothing if is_train else 0.0,
                                    checked=p.check_labels)
        mixing = self._lam_backward = None
        if is_train:
            # draws of step s are a pure function of (seed, s); every training step counts
            step, self.step = self.step, self.step + 1
            mixes_here = (p.num_places == 1
                          or chosen_place(self._place_seed, step, p.num_places) == p.place)
            shape = data.shape
            if not _shared.paused and mixes_here and mixed_count(p.mix_rate, shape[0]) > 0:
                classes = label_classes(labels) if p.pairing in CLASS_PAIRINGS else None
                plan = draw_batch_plan(np.random.default_rng([self._seed, step]), p, shape,
                                       classes, lam)
                # label weights: keep = lam_i (own label), give = 1 - lam_i (the partner's;
                # with num_mix > 2 one row of weights per partner, keep what they leave)
                label_mixing = RowMixing(1.0 - np.atleast_2d(plan.give).sum(axis=0),
                                         plan.give, plan.partner)
                cutmix = isinstance(plan, CutMixPlan)
                mixing = BoxMixing(plan.boxes, plan.partner) if cutmix else label_mixing
                self._on_host = self._cpu and mixes_on_host(cutmix, shape, data.dtype)
                mixes_labels = p.label_mode == "mixed"
                if p.lam_input:  # what the gradient w.r.t. lam needs besides the data
                    self._lam_backward = (probs if mixes_labels else None, plan.mixed)
                if mixes_labels:  # label_mode='own': every row keeps its own label
                    probs = label_mixing.apply_numpy(probs)
        self._put(req[1], out_data[1], lambda: probs)
        self._backward_mixing = mixing
        if mixing is None:
            self._pass(req[0], out_data[0], data)
        elif self._on_host:
            self._put(req[0], out_data[0], lambda: mixing.apply_numpy(self._read(data)))
        else:
            _write(req[0], out_data[0], lambda out: mixing.apply(data, out))

    @_callback
    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        grad, mixing = out_grad[0], self._backward_mixing
        if mixing is None:  # identity forward (inference, or nothing mixed)
            self._pass(req[0], in_grad[0], grad)
        elif self._on_host:
            self._put(req[0], in_grad[0],
                      lambda: mixing.apply_numpy(self._read(grad), transpose=True))
        else:
            _write(req[0], in_grad[0], lambda out: mixing.apply(grad, out, transpose=True))
        if req[1] != "add":  # labels get no gradient (adding zero would change nothing)
            self._put(req[1], in_grad[1],
                      lambda: np.zeros(in_grad[1].shape, np.dtype(in_grad[1].dtype)))
        if self._params.lam_input:
            self._put(req[2], in_grad[2], lambda: self._lam_gradient(out_grad, in_data).astype(
                np.dtype(in_grad[2].dtype)))

    def _lam_gradient(self, out_grad, in_data):
        """The exact gradient w.r.t. lam (float64 numpy (N,)): through the data, by the forward
        mixing's own method, plus through the labels when label_out has a gradient (a loss
        usually gives its target none). Zero where lam had no effect: rows not mixed, and every
        row at inference, under paused() or when another place of manifold mixup mixed."""
        if self._lam_backward is None:
            return np.zeros(in_data[2].shape)
        (probs, rows), mixing = self._lam_backward, self._backward_mixing
        if self._on_host:
            total = mixing.lam_gradient_numpy(self._read(in_data[0]), self._read(out_grad[0]),
                                              rows)
        else:
            total = mixing.lam_gradient(in_data[0], out_grad[0], rows)
        if probs is None:  # label_mode='own': the labels do not depend on lam
            return total
        label_grad = self._read(out_grad[1])
        if label_grad.any():  # selected, so that unused (zero) label gradients add nothing
            total += mixing.lam_gradient_numpy(probs, label_grad, rows)
        return total


# MXNet 1.9.1 workarounds (mixup_compat), installed explicitly here, where the op is registered:
# MixUp declares every tensor as a backward dependency (out_grad 2, in_data 2 (3 with
# lam_mode='input'), out_data 2: indices 0..5 (0..6)) and gives the process-global set back to the other Python CustomOps; only the
# message of MixUp's own refusals is printed, not a traceback; and on the CPU the callbacks'
# arrays are read and written in place, without a copy or a wait for the engine.
# One bookkeeper per declaration a MixUp node makes (two inputs, or three with
# lam_mode='input'). Each records the other ops' set when its own replaces it; both give back
# in every callback, so the set a node finds when it declares is never a MixUp one.
_backward_dependencies = {
    inputs: mixup_compat.CustomOpBackwardDependencies(range(2 + inputs + 2)) for inputs in (2, 3)}


def _give_back():
    for dependencies in _backward_dependencies.values():
        dependencies.give_back()
mixup_compat.install_concise_refusals(prefix="MixUp:",
                                     types=(ValueError, OperatorInterrupted))
_view = mixup_compat.callback_viewer()


@mx.operator.register(OP_TYPE)
class MixUpProp(mx.operator.CustomOpProp):
    """Shape/type inference and creation of :class:`MixUpOp`.

    Parameters are validated here but the error is raised from ``infer_shape``: an exception in
    ``CustomOpProp.__init__`` kills the process in MXNet 1.9.1, one in ``infer_shape`` becomes
    an ``MXNetError`` the caller can catch (MXNet prints our message to stdout).
    """

    def __init__(self, **kwargs):
        # Nothing may escape from here (see _callback): a Ctrl-C is remembered and raised from
        # the next callback, and the parameters parsed to the end.
        while True:
            try:
                super().__init__(need_top_grad=True)
                # the inputs asked for, even when another parameter is refused: the refusal
                # then comes from infer_shape, not from MXNet's binding of an unknown lam
                self._inputs = input_names(kwargs.get("lam_mode"))
                try:
                    self._params, self._error = _parse_op_kwargs(kwargs), None
                except ValueError as error:
                    self._params, self._error = None, error
                return
            except KeyboardInterrupt:
                _shared.interrupted = True

    def _checked_params(self):
        if self._error is not None:
            raise self._error
        return self._params

    @_callback
    def list_arguments(self):
        _give_back()
        return list(self._inputs)

    @_callback
    def list_outputs(self):
        _give_back()
        return ["data_out", "label_out"]

    @_callback
    def infer_shape(self, in_shape):
        _give_back()
        p = self._checked_params()
        data_shape, label_shape = (tuple(s) for s in in_shape[:2])
        if len(data_shape) < 1 or data_shape[0] == 0:
            raise ValueError("MixUp: data must have a batch axis, got shape %s" % (data_shape,))
        batch = data_shape[0]
        if batch >= MAX_BATCH:
            raise ValueError("MixUp: batch of %d samples is too large (limit %d)"
                             % (batch, MAX_BATCH))
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
        if p.num_mix > 2 and batch < p.num_mix:
            raise ValueError("MixUp: num_mix=%d mixes each row with %d distinct others, more "
                             "than a batch of %d holds (data shape %s)"
                             % (p.num_mix, p.num_mix - 1, batch, data_shape))
        label_shape = (batch,) + label_shape[1:]
        in_shapes = [data_shape, label_shape]
        if p.lam_input:
            lam_shape = tuple(in_shape[2])
            if lam_shape in ((), (0,)):  # unknown: one weight per row
                lam_shape = (batch,)
            if lam_shape != (batch,):
                raise ValueError("MixUp: lam must have shape (N,) = (%d,), one weight per row "
                                 "of data %s, got shape %s" % (batch, data_shape, lam_shape))
            in_shapes.append(lam_shape)
        return in_shapes, [data_shape, (batch, p.num_classes)], []

    @_callback
    def infer_type(self, in_type):
        _give_back()
        p = self._checked_params()
        data_type, label_type = in_type[:2]
        if label_type is None:  # unknown (a label variable without dtype): MXNet's float32
            label_type = np.float32
        in_types = [_float("data", data_type, np.float32), label_type]
        if p.lam_input:  # lam's own float type (its gradient's), else data's
            in_types.append(_float("lam", in_type[2], in_types[0]))
        return in_types, [in_types[0], np.float32], []

    @_callback
    def declare_backward_dependency(self, out_grad, in_data, out_data):
        # The gradient needs only out_grad[0] and the stored plan (with lam_mode='input' also
        # in_data[0] and out_grad[1], for lam's), yet we declare every tensor:
        # see mixup_compat.CustomOpBackwardDependencies for why MXNet 1.9.1 requires it next
        # to other Python ops.
        _backward_dependencies[len(in_data)].declared_by_mixup()
        return out_grad + in_data + out_data

    @_callback
    def create_operator(self, ctx, shapes, dtypes):
        _give_back()
        p = self._checked_params()
        # Runs in the caller's thread, where mx.random.seed governs MXNet's generator.
        seed = _draw_seed()
        place_seed = None
        if p.num_places > 1:
            if p.place == 0:
                _shared.place_seeds[p.num_places] = _draw_seed()
            elif p.num_places not in _shared.place_seeds:
                raise ValueError("MixUp: place=%d of num_places=%d was created before any node "
                                 "with place=0 of num_places=%d" % (p.place, p.num_places,
                                                                    p.num_places))
            place_seed = _shared.place_seeds[p.num_places]
        return MixUpOp(p, seed, place_seed, ctx)


@functools.lru_cache(maxsize=64)
def _parse_strings(items):
    return parse(**dict(items))


def _parse_op_kwargs(kwargs):
    """``parse(**kwargs)``, remembered: an imperative ``mx.nd.Custom`` call creates a MixUpProp
    each time, with the same strings (a ValueError is not remembered: it is raised anew)."""
    return _parse_strings(tuple(sorted(kwargs.items())))


def _float(name, dtype, unknown):
    """An input's float type (``unknown`` if MXNet does not know it yet), or a refusal."""
    dtype = unknown if dtype is None else dtype
    if np.dtype(dtype) not in (np.float16, np.float32, np.float64):
        raise ValueError("MixUp: %s must be float16, float32 or float64, got %s"
                         % (name, np.dtype(dtype).name))
    return dtype


def _draw_seed():
    """A seed from MXNet's global RNG, within numpy's and C's int range."""
    return int(mx.nd.random.randint(0, 2 ** 31 - 1, shape=(1,), ctx=mx.cpu()).asscalar())
