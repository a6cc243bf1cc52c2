"""Semi-supervised mixup: ``./train.sh --labeled N --semi ict|mixmatch``.

Each step takes a labeled batch and an unlabeled batch (mixup_app.data.semisplit; an epoch is
one pass over the unlabeled images, the labeled ones cycle, as ICT's ``zip(cycle(trainloader),
unlabelledloader)``), trains the student on both, and updates a teacher, an exponential
moving average of the student's parameters (and BatchNorm statistics), decay
``min(1 - 1/(step+1), --ema-decay)`` after each update (mean teacher's warm start, ICT's
``update_ema_variables``). The teacher is validated beside the student, saved with every
checkpoint (``teacher-NNNN.params``, ``./test.sh --model teacher``) and restored on --resume.
The unlabeled loss's weight is ``--unlabeled-weight`` after a ramp-up over
``--rampup-epochs``, t the epoch (fractional, per step). The options a method leaves unset
take its own defaults (mixup_app.config.METHOD_DEFAULTS).

**ICT**, Interpolation Consistency Training (Verma et al., IJCAI 2019, arXiv 1903.03825; the
authors' code: github.com/vikasverma1077/ICT):

* supervised loss: the run's training graph on the labeled batch (with MixUp as the run's
  options say: the paper mixes, ``--alpha 1``), cross-entropy;
* the teacher predicts softmax probabilities of the unlabeled batch, in training mode
  (BatchNorm with the batch's statistics, as the authors' teacher);
* the unlabeled batch goes through a MixUp node (mixup, one lambda ~ Beta(--unlabeled-alpha)
  per batch, every row mixed with its partner on the op's cycle) with the teacher's
  probabilities as its label input: the op's mixed data is what the student sees, the op's
  mixed soft label the target (no gradient);
* consistency loss: per image, sum_k (p_k - target_k)^2 / K (the authors' softmax_mse_loss),
  averaged over the batch, its weight ramped up by exp(-5 (1 - t/T)^2).

The consistency graph is a second Module bound on the student's parameters (shared arrays,
``shared_module``): its gradient is added (grad_req 'add') to the one the student's backward
wrote, and the student's optimizer makes one update from the sum.

**MixMatch** (Berthelot et al., NeurIPS 2019, arXiv 1905.02249; the authors' code:
github.com/google-research/mixmatch, ``mixmatch.py``): K views of each unlabeled image
(:class:`Views`); the student's probabilities on each view, in training mode, averaged and
sharpened into its guessed label (:func:`guess_labels`, no gradient); one MixUp node over the
concatenation of the labeled batch and the K views, lambda' = max(lambda, 1 - lambda) per
row, each row's partner on the op's cycle through the whole concatenation; cross-entropy on
the labeled rows, squared error over the classes on the unlabeled ones, the latter weighted by
lambda_U ramped up linearly (:func:`mixmatch_symbol`, :class:`MixMatch`). The teacher is the
authors' evaluation model (their EMA, 0.999).

The draws a step makes (MixUp's from its op, MixMatch's views and lambdas from generators
keyed by the seed and the step) and the EMA's step count follow from the epoch, so a resumed
run continues bit for bit.

**Several devices** (``--gpus``, ``--cpu-devices``): every graph is bound on all of them, each
device computes its slice of a batch and the kvstore sums the gradients, as for a supervised
run. The teacher is an EMA of each device's copy of the student (the parameters the same on
every device, the BatchNorm statistics each device's own); after each epoch the devices'
teachers are averaged and put back on every device, as the trainer does with the student's
statistics (:meth:`SemiMethod.end_epoch`), so a checkpoint holds what the devices hold.
MixMatch's rows are interleaved over the devices (:func:`interleaved_order`).

**dist_sync**: each worker reads its own shard of the labeled and of the unlabeled images
(every worker the same number of steps, mixup_app.fit.layout), the kvstore sums the
gradients, and every worker's teacher is the same EMA of the same synced parameters: it
starts as rank 0's (:meth:`SemiMethod.start_teacher`, through the kvstore; a resumed run's
from rank 0's checkpoint). Each worker keeps its own BatchNorm statistics, student and
teacher, as a supervised run does; rank 0 validates and checkpoints its own. MixMatch's
views and lambdas are each worker's own draws (keyed by its rank too, rank 0 drawing what a
run of one worker draws).
"""
import contextlib
import math
import os
import time

import mxnet as mx
import numpy as np

import mixup
from mixup.draws import symmetric_beta

from mixup_app import cluster, runs
from mixup_app.data import catalogue, records
from mixup_app.data.iterators import PAD
from mixup_app.metrics import SoftMetrics

# the extra fields of a --semi run's metrics rows: each epoch's (the epoch's means) ...
ROW_FIELDS = ("sup_loss", "unsup_loss", "ramp_weight")
# ... and, in the rows of validated epochs, the teacher's validation scores
VAL_FIELDS = ("val_accuracy_teacher", "val_loss_teacher")


def sigmoid_rampup(t, length):
    """exp(-5 (1 - t/length)^2) for t in [0, length], 1 after (and for length 0): the ramp-up of
    Laine & Aila (2017), used by mean teacher and ICT."""
    if length <= 0:
        return 1.0
    phase = 1.0 - min(max(float(t), 0.0), length) / length
    return math.exp(-5.0 * phase * phase)


def ema_decay(step, decay):
    """The teacher's decay after update number ``step`` (1 after the first): the true average
    of the steps so far until the exponential one weighs more (mean teacher, ICT)."""
    return min(1.0 - 1.0 / (step + 1), decay)


def ema_update(pairs, decay):
    """teacher = decay * teacher + (1 - decay) * student, in place, for each (teacher, student)
    pair of NDArrays."""
    for teacher, student in pairs:
        teacher[:] = teacher * decay + student * (1.0 - decay)


def logits_symbol(config, num_classes):
    """The network's logits (float32) on the input ``data``, without MixUp: the scoring
    graph's, whose parameter names are the training graph's."""
    import mixup_symbols
    net = mixup_symbols.get_symbol(config.network, num_classes=num_classes,
                                   num_layers=config.num_layers, image_shape=config.image_shape,
                                   dtype=config.dtype, train=False)
    return net.get_children()[0]  # SoftmaxOutput's inputs: logits, label


def consistency_symbol(logits, num_classes, alpha, with_mixed=False):
    """The consistency graph: ``data`` (unlabeled images) and ``ulabel`` (the teacher's
    probabilities) through a MixUp node, the student's probabilities on the mixed images
    against the mixed probabilities. Outputs: the weighted loss (``cons_weight`` (N,) per
    row), the unweighted per-row loss, the target; with ``with_mixed`` the mixed images too."""
    mixed, target = mixup.symbol(mx.sym.var("data"), mx.sym.var("ulabel"),
                                 num_classes=num_classes, alpha=alpha, mix_rate=1.0,
                                 name="mixup_unlabeled")
    target = mx.sym.BlockGrad(target)
    probs = mx.sym.softmax(logits(data=mixed), axis=1)
    per_row = mx.sym.sum(mx.sym.square(probs - target), axis=1) / num_classes
    loss = mx.sym.MakeLoss(per_row * mx.sym.var("cons_weight"), name="consistency")
    outputs = [loss, mx.sym.BlockGrad(per_row), target]
    return mx.sym.Group(outputs + ([mx.sym.BlockGrad(mixed)] if with_mixed else []))


@contextlib.contextmanager
def unpartitioned():
    """Binds in this block are not partitioned into MKLDNN subgraphs.

    MXNet 1.9.1 (MKLDNN build) partitions every inference-only bind into MKLDNN subgraphs
    (``MXNET_SUBGRAPH_BACKEND``, MKLDNN unless set), whose fused operators keep what they
    computed from the parameters at their first forward: once the parameters change in place
    (the EMA, or ``set_params``), the module still computes partly with the old ones
    (measured: the teacher's probabilities after one epoch off by up to 0.59 from a fresh bind
    of the same parameters). The teacher's parameters change after every step, so it is bound
    without partitioning. MXNet reads the variable at each bind; the value before is put
    back."""
    name, before = "MXNET_SUBGRAPH_BACKEND", os.environ.get("MXNET_SUBGRAPH_BACKEND")
    os.environ[name] = "NONE"
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


# ------------------------------------------------------------------ MixMatch's parts

MIXMATCH_SEED_TAG = 1905  # keeps the lambda stream apart from other streams of (seed, step)
VIEWS_SEED_TAG = 1906  # ... and the views' stream


def linear_rampup(t, length):
    """t/length for t in [0, length], 1 after (and for length 0): MixMatch's ramp-up of the
    unlabeled loss's weight (the authors' ``clip(step / warmup, 0, 1)``)."""
    if length <= 0:
        return 1.0
    return min(max(float(t), 0.0), length) / length


def sharpen(probs, temperature):
    """MixMatch's Sharpen: p_c^(1/T) / sum_k p_k^(1/T) for each row of ``probs`` (numpy, any
    float dtype, computed in float64): T -> 0 gives the argmax's one-hot row. Computed as
    exp((log p_c - max_k log p_k) / T), so that no small T underflows every entry to 0."""
    with np.errstate(divide="ignore"):  # a probability of 0 stays 0
        logs = np.log(np.asarray(probs, np.float64)) / temperature
    powered = np.exp(logs - logs.max(axis=-1, keepdims=True))
    return powered / powered.sum(axis=-1, keepdims=True)


def guess_labels(predictions, temperature):
    """The guessed label of each unlabeled image: the sharpened mean of the model's
    probabilities over its K augmentations (``predictions``: K arrays (B, classes))."""
    return sharpen(np.mean([np.asarray(p, np.float64) for p in predictions], axis=0),
                   temperature)


def _draw_key(tag, seed, step, rank):
    """A generator's key: (tag, seed, step), and the worker's rank after them on a cluster's
    other workers (each worker draws its own; rank 0, like a run of one worker, draws what a
    run of one worker draws)."""
    return [tag, int(seed), int(step)] + ([int(rank)] if rank else [])


def mixmatch_lambda(seed, step, alpha, rows, rank=0):
    """(rows,) lambda' = max(lambda, 1 - lambda), one lambda ~ Beta(alpha, alpha) per row (the
    authors' ``MixMode.augment_pair`` samples ``[batch, 1, 1, 1]``), drawn from a generator
    keyed by (seed, step) alone (and ``rank``, a cluster's worker: :func:`_draw_key`): a resumed
    run draws what the uninterrupted run drew. Always >= 0.5, so each mixed row stays closer
    to its own image (and label) than to its partner. Beta draws as the MixUp op's
    (mixup.draws.symmetric_beta: any alpha > 0)."""
    rng = np.random.default_rng(_draw_key(MIXMATCH_SEED_TAG, seed, step, rank))
    lam = symmetric_beta(rng, alpha, int(rows))
    return np.maximum(lam, 1.0 - lam)


def interleaved_order(labeled, k, devices):
    """The order of a MixMatch batch's rows that gives each of ``devices`` slices (a Module
    cuts a batch into contiguous slices, one a device, and the MixUp op pairs rows within a
    slice) the same share of labeled and unlabeled rows, as MixMatch's own interleaving does
    for BatchNorm: the indices of the canonical rows (the ``labeled`` labeled rows, then each
    of the K views' ``labeled`` rows) in the order the devices take them, device j's slice
    holding labeled rows j b .. (j + 1) b - 1 and the same rows of every view (b = labeled /
    devices). On one device the canonical order itself."""
    if labeled % devices:
        raise ValueError("--semi mixmatch needs --batch-size a multiple of the %d devices, got "
                         "%d" % (devices, labeled))
    share = labeled // devices
    return np.concatenate([part * labeled + np.arange(j * share, (j + 1) * share)
                           for j in range(devices) for part in range(k + 1)])


def mixmatch_symbol(logits, num_classes, labeled, with_mixed=False):
    """MixMatch's training graph on ``data``, the concatenation of a labeled batch (its first
    ``labeled`` rows) and the unlabeled batches (on several devices each device's slice is
    one, :func:`interleaved_order`, ``labeled`` its labeled rows), ``mixlabel`` their (N,
    classes) targets (one-hot rows, then the guessed labels) and ``lam`` (N,) lambda' of each
    row: a MixUp node (lam_mode='input': lambda from the graph, the partners the op's own
    cycle through the whole concatenation) mixes data and targets; per row, cross-entropy
    against the mixed target for the labeled part and sum_k (p_k - t_k)^2 / classes for the
    unlabeled part, each row's loss times ``row_weight`` (N,). Outputs: the weighted loss, the
    unweighted per-row losses, the mixed targets, the probabilities (and with ``with_mixed``
    the mixed data)."""
    mixed, target = mixup.symbol(mx.sym.var("data"), mx.sym.var("mixlabel"),
                                 num_classes=num_classes, lam=mx.sym.var("lam"),
                                 lam_mode="input", mix_rate=1.0, name="mixup_mixmatch")
    target = mx.sym.BlockGrad(target)
    probs = mx.sym.softmax(logits(data=mixed), axis=1)
    cross_entropy = -mx.sym.sum(target * mx.sym.log(mx.sym.maximum(probs, 1e-12)), axis=1)
    squared = mx.sym.sum(mx.sym.square(probs - target), axis=1) / num_classes
    per_row = mx.sym.concat(mx.sym.slice_axis(cross_entropy, axis=0, begin=0, end=labeled),
                            mx.sym.slice_axis(squared, axis=0, begin=labeled, end=None), dim=0)
    loss = mx.sym.MakeLoss(per_row * mx.sym.var("row_weight"), name="mixmatch")
    outputs = [loss, mx.sym.BlockGrad(per_row), target, mx.sym.BlockGrad(probs)]
    return mx.sym.Group(outputs + ([mx.sym.BlockGrad(mixed)] if with_mixed else []))


def _arrays(module):
    """{name: [array per device]} of a bound Module's parameters and auxiliary states."""
    group = module._exec_group  # MXNet 1.9.1's Module has no public accessor for these
    out = dict(zip(group.param_names, group.param_arrays))
    out.update(zip(group.aux_names, group.aux_arrays))
    return out


class Views:
    """MixMatch's K views of each unlabeled image, made on the host, as ``--augment`` makes the
    labeled ones (mixup_app.data.iterators.record_iter): standard: 4 pixels of black padding
    when the network's image has the stored size, a uniformly placed crop of that size, a
    mirror with probability 1/2 where the dataset allows it; none: the centre crop. Then the
    dataset's normalisation, (x - mean) * (1 / std) in float32, as MXNet's iterator computes
    it.

    All K views are made here from the stored images (the unlabeled iterator reads them
    neither augmented, cropped nor normalised) rather than K - 1 of them beside one the
    iterator augmented: an augmented image cannot be undone (its crop has lost the border),
    so the other views need the stored image anyway, and views drawn from one generator keyed
    by (seed, step) are alike in distribution and redrawn exactly by a resumed run."""

    def __init__(self, stored_shape, image_shape, mean, std, mirror, augment):
        channels, self.height, self.width = image_shape
        stored = tuple(stored_shape)
        self.augment = augment
        self.pad = PAD if augment and stored[1:] == tuple(image_shape[1:]) else 0
        self.mirror = augment and mirror
        self.mean = np.asarray(mean[:channels], np.float32).reshape((-1, 1, 1))
        self.scale = (np.float32(1) / np.asarray(std[:channels], np.float32)).reshape((-1, 1, 1))

    @classmethod
    def of_run(cls, config):
        manifest = records.load_manifest(config.data_dir, config.dataset)
        return cls(manifest["image_shape"], config.image_shape, manifest["mean"],
                   manifest["std"], catalogue.spec(config.dataset, config.data_dir).mirror,
                   config.augment == "standard")

    def draw(self, rng, count, batch, stored_hw):
        """(top, left, mirrored), each (count, batch): where each view's crop sits in the
        padded image and whether it is mirrored."""
        room_h = stored_hw[0] + 2 * self.pad - self.height
        room_w = stored_hw[1] + 2 * self.pad - self.width
        if not self.augment:
            centre = np.ones((count, batch), np.int64)
            return centre * (room_h // 2), centre * (room_w // 2), np.zeros_like(centre, bool)
        top = rng.integers(0, room_h + 1, size=(count, batch))
        left = rng.integers(0, room_w + 1, size=(count, batch))
        mirrored = rng.random((count, batch)) < 0.5 if self.mirror else np.zeros_like(top, bool)
        return top, left, mirrored

    def make(self, images, rng, count):
        """(count, B, C, h, w) float32: ``count`` views of each of the B stored images
        (numpy (B, C, H, W), pixel values 0..255), drawn from ``rng``."""
        images = np.asarray(images, np.float32)
        batch = images.shape[0]
        p = self.pad
        padded = np.pad(images, ((0, 0), (0, 0), (p, p), (p, p))) if p else images
        top, left, mirrored = self.draw(rng, count, batch, images.shape[2:])
        out = np.empty((count, batch, images.shape[1], self.height, self.width), np.float32)
        for k in range(count):
            for i in range(batch):
                crop = padded[i, :, top[k, i]:top[k, i] + self.height,
                              left[k, i]:left[k, i] + self.width]
                out[k, i] = crop[:, :, ::-1] if mirrored[k, i] else crop
        return (out - self.mean) * self.scale


def batch_statistics_forward(module, images, statistics):
    """``module``'s first output on ``images`` in training mode (BatchNorm with the batch's own
    statistics), its BatchNorm moving ``statistics`` (its aux arrays) put back as they were:
    MXNet 1.9.1's CPU BatchNorm moves them in its backward only, which is never run here, but
    cuDNN's moves them in a training-mode forward."""
    kept = [a.copy() for a in statistics]
    module.forward(mx.io.DataBatch([images]), is_train=True)
    out = module.get_outputs()[0]
    for array, before in zip(statistics, kept):
        before.copyto(array)
    return out


class SemiMethod:
    """A --semi run's parts around the student Module: the teacher (its EMA, validated and
    checkpointed), the ramped-up weight and the epoch loop; a method adds its graphs and
    ``train_step``. ``logits``: the network's logits symbol (default: the run's network)."""

    ramp = staticmethod(sigmoid_rampup)  # the weight's ramp-up, of (t, --rampup-epochs)
    stored_unlabeled = False  # the unlabeled iterator gives the stored images (MixMatch's)

    def __init__(self, config, lay, student, step, logits=None):
        self.config, self.student, self.step = config, student, step
        self.batches_per_epoch, self.rank = lay.batches_per_epoch, lay.rank
        self.num_classes, self.contexts = lay.num_classes, list(lay.contexts)
        self.logits = logits if logits is not None else logits_symbol(config, lay.num_classes)
        self.teacher = mx.mod.Module(mx.sym.softmax(self.logits, axis=1),
                                     context=self.contexts, data_names=["data"],
                                     label_names=None)
        with unpartitioned():  # its parameters change in place after every step
            self.teacher.bind(data_shapes=[("data", self.shape(config.batch_size))],
                              for_training=False)
        self._scorer = None  # the teacher's graph bound at the validation batch (validate_row)
        self._val_shape = [("data", self.shape(lay.val_batch))]

    def shape(self, rows):
        return (rows,) + tuple(self.config.image_shape)

    @property
    def unlabeled_rows(self):
        """The unlabeled rows of a step's loss (unsup_loss is their mean)."""
        return self.config.batch_size

    def start_teacher(self, checkpoint=None, kv=None):
        """The teacher: ``checkpoint``'s (arg, aux) (a resumed run's), else the student's
        parameters. On a cluster every worker then takes rank 0's teacher through the kvstore
        (``kv``): only rank 0 reads the checkpoint, and the other workers' own initial
        parameters (their get_params) are not the ones the kvstore gave them, rank 0's. So
        the workers' teachers start, and stay, the same."""
        arg_params, aux_params = checkpoint or self.student.get_params()
        self.teacher.init_params(arg_params=arg_params, aux_params=aux_params)
        theirs = _arrays(self.student)
        self._pairs = [(t, s) for name, arrays in _arrays(self.teacher).items()
                       for t, s in zip(arrays, theirs[name])]
        cluster.from_rank0(kv, "teacher:", _arrays(self.teacher))
        self.teacher._params_dirty = True  # get_params reads the devices again

    def end_epoch(self):
        """After each epoch, as the trainer does with the student's (mixup_app.fit): the
        average of the devices' teachers (BatchNorm statistics, each device's EMA of its own
        student's) on every device, which a checkpoint holds and --resume restores."""
        if len(self.contexts) > 1:
            self.teacher.set_params(*self.teacher.get_params())

    def update_teacher(self):
        self.step += 1
        ema_update(self._pairs, ema_decay(self.step, self.config.ema_decay))
        self.teacher._params_dirty = True  # get_params (checkpoints) reads the devices again

    def validate_row(self, validate, row, params=None):
        """The teacher's validation scores into the epoch's metrics row (VAL_FIELDS):
        ``validate(module)`` scores a module as the student is scored; ``params`` (arg, aux)
        a checkpoint's teacher, else the current one. On a module of its own bound at the
        validation batch (unpartitioned: its parameters are set again each time), so the
        teacher's training bind is never reshaped."""
        if self._scorer is None:
            self._scorer = mx.mod.Module(self.teacher.symbol, context=self.contexts,
                                         data_names=["data"], label_names=None)
            with unpartitioned():
                self._scorer.bind(data_shapes=self._val_shape, for_training=False)
        self._scorer.set_params(*(params or self.teacher.get_params()))
        scores = validate(self._scorer)
        row.update(val_accuracy_teacher=scores["accuracy"],
                   val_loss_teacher=scores["cross_entropy"])

    def weight(self, epochs):
        """The unlabeled loss's weight after ``epochs`` (fractional) epochs."""
        return self.config.unlabeled_weight * self.ramp(epochs, self.config.rampup_epochs)

    def train_step(self, batch, ubatch, weight, metrics, has_mixup, meter=None):
        """One step on a labeled and an unlabeled batch, the student updated: adds the
        labeled batch to ``metrics`` (and the student's outputs to ``meter``, AdaMixup's),
        returns the unlabeled rows' summed unweighted loss (an NDArray on the CPU)."""
        raise NotImplementedError

    def train_epoch(self, epoch, labeled, unlabeled, has_mixup, progress_bar, stop, meter=None):
        """One epoch (fit.train_epoch's contract): the metrics are the labeled batches'
        (supervised), plus ROW_FIELDS."""
        metrics = SoftMetrics()
        tic, images, unsup, weights = time.time(), 0, None, []
        size = self.config.batch_size
        with progress_bar as pbar:
            for i, (batch, ubatch) in enumerate(zip(labeled, unlabeled)):
                # only the unlabeled images: ubatch.label is never read
                weights.append(self.weight(epoch + i / self.batches_per_epoch))
                loss = self.train_step(batch, ubatch, weights[-1], metrics, has_mixup, meter)
                self.update_teacher()
                stop.check()
                unsup = loss if unsup is None else unsup + loss
                images += size - batch.pad
                pbar.update(size)
        mx.nd.waitall()
        out = metrics.get()
        steps = max(1, len(weights))
        out.update(sup_loss=out["cross_entropy"],
                   unsup_loss=(float(unsup.asscalar()) / (steps * self.unlabeled_rows)
                               if unsup is not None else 0.0),
                   ramp_weight=sum(weights) / steps)
        return out, images, time.time() - tic


class ICT(SemiMethod):
    """A --semi ict run: the teacher's targets and the consistency graph."""

    def __init__(self, config, lay, student, step, logits=None):
        super().__init__(config, lay, student, step, logits)
        size, classes = config.batch_size, lay.num_classes
        self.consistency = mx.mod.Module(
            consistency_symbol(self.logits, classes, config.unlabeled_alpha),
            context=self.contexts, data_names=["data"], label_names=["ulabel", "cons_weight"])
        self.consistency.bind(data_shapes=[("data", self.shape(size))],
                              label_shapes=[("ulabel", (size, classes)),
                                            ("cons_weight", (size,))],
                              shared_module=student, grad_req="add")

    def targets(self, images):
        """The teacher's probabilities of a batch of unlabeled images, in training mode:
        BatchNorm normalises with the batch's own statistics, as the authors' teacher does (its
        ``ema_model.train()`` holds for the whole of training; their EMA averages the
        parameters only). The teacher's moving statistics, the EMA of the student's that its
        validation and ``./test.sh --model teacher`` use, are left as they were."""
        return batch_statistics_forward(self.teacher, images, self._teacher_statistics)

    @property
    def _teacher_statistics(self):
        return [a for arrays in self.teacher._exec_group.aux_arrays for a in arrays]

    def train_step(self, batch, ubatch, weight, metrics, has_mixup, meter=None):
        probs = self.targets(ubatch.data[0])
        mx.nd.waitall()
        self.student.forward_backward(batch)  # writes the gradient
        # read before the consistency graph runs: it reuses the student's memory
        outputs = self.student.get_outputs()
        metrics.update(outputs[1] if has_mixup else batch.label[0], outputs[0], pad=batch.pad)
        if meter is not None:
            meter.update(outputs)
        # The two graphs share a memory pool (shared_module), which MXNet 1.9.1's threaded
        # engine does not order between executors with a CustomOp in them: without these
        # waits the results vary from run to run (tests/test_semi.py).
        mx.nd.waitall()
        self.consistency.forward_backward(mx.io.DataBatch(  # adds its own
            [ubatch.data[0]], [probs, mx.nd.full((self.config.batch_size,), weight)]))
        mx.nd.waitall()
        unsup = self.consistency.get_outputs()[1].sum().as_in_context(mx.cpu())
        self.student.update()
        return unsup


class MixMatch(SemiMethod):
    """A --semi mixmatch run: the views, the guessed labels and the MixMatch graph.

    The student Module only holds the parameters and the optimizer: two Modules bound on its
    arrays (``shared_module``) do the work. The guesser, the network's probabilities at the
    unlabeled batch, runs in training mode (BatchNorm normalises with the batch's statistics,
    as the authors' ``classifier(yi, training=True)``) but leaves the student's BatchNorm
    moving statistics as they were (the authors' code does not run the update ops of its
    guessing forward: they are in ``skip_ops``). The MixMatch graph (:func:`mixmatch_symbol`)
    runs on the B labeled + K x B unlabeled rows in one forward, so its BatchNorm sees the
    whole concatenation (on one device), and writes the gradient (grad_req 'write'); the
    student's optimizer then makes one update. ``views``: a :class:`Views` (default: the run's).

    On several devices the Module gives each device a contiguous slice of the batch's rows,
    and the MixUp op pairs rows within a slice: the rows (with their targets, lambda' and
    row weights) go in :func:`interleaved_order`, each device's slice B/d labeled and K B/d
    unlabeled rows (the graph's cross-entropy on a slice's first B/d), mixed within the slice
    and normalised by its own BatchNorm statistics, as MixMatch's interleaved batches are;
    the summed per-row losses, hence the gradient the kvstore sums over the devices, are the
    whole batch's. The outputs come back in the canonical order."""

    ramp = staticmethod(linear_rampup)
    stored_unlabeled = True

    def __init__(self, config, lay, student, step, logits=None, views=None):
        super().__init__(config, lay, student, step, logits)
        size, classes, k = config.batch_size, lay.num_classes, config.mixmatch_k
        self.views = views if views is not None else Views.of_run(config)
        self.guesser = mx.mod.Module(mx.sym.softmax(self.logits, axis=1), context=self.contexts,
                                     data_names=["data"], label_names=None)
        with unpartitioned():  # the student's parameters change in place after every step
            self.guesser.bind(data_shapes=[("data", self.shape(size))], for_training=False,
                              shared_module=student)
        rows, devices = (k + 1) * size, len(self.contexts)
        self.order = interleaved_order(size, k, devices)  # canonical rows, as bound
        self._restore = np.argsort(self.order)  # bound rows, in the canonical order
        self.mixmatch = mx.mod.Module(mixmatch_symbol(self.logits, classes, size // devices),
                                      context=self.contexts, data_names=["data"],
                                      label_names=["mixlabel", "lam", "row_weight"])
        self.mixmatch.bind(data_shapes=[("data", self.shape(rows))],
                           label_shapes=[("mixlabel", (rows, classes)), ("lam", (rows,)),
                                         ("row_weight", (rows,))],
                           shared_module=student, grad_req="write")
        group = student._exec_group
        self._statistics = [a for arrays in group.aux_arrays for a in arrays]

    @property
    def unlabeled_rows(self):
        return self.config.mixmatch_k * self.config.batch_size

    def make_views(self, images, step):
        """(K, B, C, h, w): the K views of a batch of stored unlabeled images (numpy) at
        training step ``step``, from the generator keyed by (seed, step)."""
        rng = np.random.default_rng(_draw_key(VIEWS_SEED_TAG, self.config.seed, step,
                                              self.rank))
        return self.views.make(images, rng, self.config.mixmatch_k)

    def guess(self, views):
        """(B, classes) float32: the guessed labels of the K views' images, the student's
        probabilities in training mode, BatchNorm's moving statistics put back after (MXNet
        1.9.1's CPU BatchNorm moves them in its backward only, which the guesser never runs;
        cuDNN's moves them in the training-mode forward)."""
        probs = [batch_statistics_forward(self.guesser, mx.nd.array(view),
                                          self._statistics).asnumpy() for view in views]
        return guess_labels(probs, self.config.sharpen_temperature).astype(np.float32)

    def row_weights(self, weight):
        """(B + K B,): 1 for the labeled rows and lambda_U / K for the unlabeled ones. The
        student's optimizer divides the gradient by B (Module's rescale_grad, the batch it is
        bound at), so the step follows the paper's loss: the labeled rows' mean cross-entropy
        plus lambda_U times the unlabeled rows' mean of the squared error over the classes."""
        size, k = self.config.batch_size, self.config.mixmatch_k
        return np.concatenate([np.ones(size), np.full(k * size, weight / k)])

    def forward_backward(self, batch, ubatch, weight):
        """The MixMatch graph's forward and backward on this step's batches (the gradient
        written into the student's arrays, no update); returns its outputs, their rows in the
        canonical order (the labeled rows, then each view's)."""
        size, k = self.config.batch_size, self.config.mixmatch_k
        views = self.make_views(ubatch.data[0].asnumpy(), self.step)
        guesses = self.guess(views)
        labels = batch.label[0].asnumpy().astype(np.int64)
        targets = np.concatenate([np.eye(self.num_classes, dtype=np.float32)[labels]]
                                 + [guesses] * k)
        data = mx.nd.concat(batch.data[0], mx.nd.array(views.reshape(self.shape(k * size))),
                            dim=0)
        lam = mixmatch_lambda(self.config.seed, self.step, self.config.unlabeled_alpha,
                              (k + 1) * size, self.rank)
        weights = self.row_weights(weight)
        interleaved = len(self.contexts) > 1
        if interleaved:  # each row's target, lambda' and weight travel with it
            data = mx.nd.take(data, mx.nd.array(self.order, ctx=data.context))
            targets, lam, weights = targets[self.order], lam[self.order], weights[self.order]
        mx.nd.waitall()  # the graphs share a memory pool (see ICT.train_step)
        self.mixmatch.forward_backward(mx.io.DataBatch([data], [
            mx.nd.array(targets), mx.nd.array(lam), mx.nd.array(weights)]))
        outputs = self.mixmatch.get_outputs()
        if not interleaved:
            return outputs
        return [mx.nd.take(out, mx.nd.array(self._restore, ctx=out.context))
                for out in outputs]

    def train_step(self, batch, ubatch, weight, metrics, has_mixup, meter=None):
        size = self.config.batch_size
        _, per_row, target, probs = self.forward_backward(batch, ubatch, weight)
        # the labeled rows against their mixed targets (the loss's cross-entropy)
        metrics.update(target[:size], probs[:size], pad=batch.pad)
        unsup = per_row[size:].sum().as_in_context(mx.cpu())
        mx.nd.waitall()
        self.student.update()
        return unsup


METHODS = {"ict": ICT, "mixmatch": MixMatch}


def start(config, lay, student, run_dir, begin_epoch, seed, kv=None):
    """The run's semi-supervised method around the bound student (None: supervised): its
    teacher the student's parameters (a new run) or the checkpoint's teacher (--resume; on a
    cluster rank 0 reads it and ``kv`` gives it to every worker); MXNet's RNG is seeded with
    ``seed`` before its MixUp node is made (which draws its own)."""
    if config.semi == "none":
        return None
    mx.random.seed(seed)
    method = METHODS[config.semi](config, lay, student, begin_epoch * lay.batches_per_epoch)
    method.start_teacher(runs.load_params(run_dir, begin_epoch, runs.TEACHER)
                         if begin_epoch and lay.rank == 0 else None, kv)
    return method
