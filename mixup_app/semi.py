"""Semi-supervised mixup: ``./train.sh --labeled N --semi ict``.

Interpolation Consistency Training (Verma et al., IJCAI 2019, arXiv 1903.03825; the authors'
code: github.com/vikasverma1077/ICT). Each step takes a labeled batch and an unlabeled batch
(mixup_app.data.semisplit; an epoch is one pass over the unlabeled images, the labeled ones
cycle, as the authors' ``zip(cycle(trainloader), unlabelledloader)``):

* supervised loss: the run's training graph on the labeled batch (with MixUp as the run's
  options say: the paper mixes, ``--alpha 1``), cross-entropy;
* the teacher, an exponential moving average of the student's parameters (and BatchNorm
  statistics), decay ``min(1 - 1/(step+1), --ema-decay)`` after each update (mean teacher's
  warm start, the authors' ``update_ema_variables``), predicts softmax probabilities of the
  unlabeled batch, in inference mode;
* the unlabeled batch goes through a MixUp node (mixup, one lambda ~ Beta(--unlabeled-alpha)
  per batch, every row mixed with its partner on the op's cycle) with the teacher's
  probabilities as its label input: the op's mixed data is what the student sees, the op's
  mixed soft label the target (no gradient);
* consistency loss: per image, sum_k (p_k - target_k)^2 / K (the authors' softmax_mse_loss),
  averaged over the batch, weighted by --consistency-weight x exp(-5 (1 - t/T)^2), t the
  epoch (fractional, per step) and T --rampup-epochs.

The consistency graph is a second Module bound on the student's parameters (shared arrays,
``shared_module``): its gradient is added (grad_req 'add') to the one the student's backward
wrote, and the student's optimizer makes one update from the sum. The teacher is saved with
every checkpoint (``teacher-NNNN.params``) and restored on --resume; the EMA step count and
the MixUp draws follow from the epoch, so a resumed run continues bit for bit.
"""
import contextlib
import math
import os
import time

import mxnet as mx
import numpy as np

import mixup
from mixup.draws import symmetric_beta

from mixup_app import runs
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
# (Berthelot et al., NeurIPS 2019, arXiv 1905.02249). Not yet a --semi method: the trainer
# (K = 2 augmentations of the unlabeled batch, the loss weight's ramp-up, resume) is to come.

MIXMATCH_SEED_TAG = 1905  # keeps the lambda stream apart from other streams of (seed, step)


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


def mixmatch_lambda(seed, step, alpha, rows):
    """(rows,) lambda' = max(lambda, 1 - lambda), one lambda ~ Beta(alpha, alpha) per row (the
    authors' ``MixMode.augment_pair`` samples ``[batch, 1, 1, 1]``), drawn from a generator
    keyed by (seed, step) alone: a resumed run draws what the uninterrupted run drew. Always
    >= 0.5, so each mixed row stays closer to its own image (and label) than to its partner.
    Beta draws as the MixUp op's (mixup.draws.symmetric_beta: any alpha > 0)."""
    rng = np.random.default_rng([MIXMATCH_SEED_TAG, int(seed), int(step)])
    lam = symmetric_beta(rng, alpha, int(rows))
    return np.maximum(lam, 1.0 - lam)


def mixmatch_symbol(logits, num_classes, labeled, with_mixed=False):
    """MixMatch's training graph on ``data``, the concatenation of a labeled batch (its first
    ``labeled`` rows) and the unlabeled batches, ``mixlabel`` their (N, classes) targets (one-hot
    rows, then the guessed labels) and ``lam`` (N,) lambda' of each row: a MixUp node
    (lam_mode='input': lambda from the graph, the partners the op's own cycle through the whole
    concatenation) mixes data and targets; per row, cross-entropy against the mixed target for
    the labeled part and sum_k (p_k - t_k)^2 / classes for the unlabeled part, each row's loss
    times ``row_weight`` (N,). Outputs: the weighted loss, the unweighted per-row losses, the
    mixed targets, the probabilities (and with ``with_mixed`` the mixed data). The labeled
    rows are the first ones of the batch: bound on one device (a Module on several would cut
    the batch into slices, each mixed and sliced apart)."""
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


class ICT:
    """A --semi ict run's teacher and consistency graph around the student Module."""

    def __init__(self, config, lay, student, step):
        self.config, self.student, self.step = config, student, step
        self.batches_per_epoch = lay.batches_per_epoch
        classes, contexts = lay.num_classes, list(lay.contexts)
        shape = [("data", (config.batch_size,) + tuple(config.image_shape))]
        logits = logits_symbol(config, classes)
        self.teacher = mx.mod.Module(mx.sym.softmax(logits, axis=1), context=contexts,
                                     data_names=["data"], label_names=None)
        with unpartitioned():  # its parameters change in place after every step
            self.teacher.bind(data_shapes=shape, for_training=False)
        self.consistency = mx.mod.Module(
            consistency_symbol(logits, classes, config.unlabeled_alpha), context=contexts,
            data_names=["data"], label_names=["ulabel", "cons_weight"])
        self.consistency.bind(data_shapes=shape,
                              label_shapes=[("ulabel", (config.batch_size, classes)),
                                            ("cons_weight", (config.batch_size,))],
                              shared_module=student, grad_req="add")
        self._scorer = None  # the teacher's graph bound at the validation batch (validate_row)
        self._contexts = contexts
        self._val_shape = [("data", (lay.val_batch,) + tuple(config.image_shape))]

    def start_teacher(self, arg_params, aux_params):
        self.teacher.init_params(arg_params=arg_params, aux_params=aux_params)
        theirs = _arrays(self.student)
        self._pairs = [(t, s) for name, arrays in _arrays(self.teacher).items()
                       for t, s in zip(arrays, theirs[name])]

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
            self._scorer = mx.mod.Module(self.teacher.symbol, context=self._contexts,
                                         data_names=["data"], label_names=None)
            with unpartitioned():
                self._scorer.bind(data_shapes=self._val_shape, for_training=False)
        self._scorer.set_params(*(params or self.teacher.get_params()))
        scores = validate(self._scorer)
        row.update(val_accuracy_teacher=scores["accuracy"],
                   val_loss_teacher=scores["cross_entropy"])

    def weight(self, epochs):
        """The consistency weight after ``epochs`` (fractional) epochs."""
        return self.config.consistency_weight * sigmoid_rampup(epochs, self.config.rampup_epochs)

    def targets(self, images):
        """The teacher's probabilities of a batch of unlabeled images."""
        self.teacher.forward(mx.io.DataBatch([images]), is_train=False)
        return self.teacher.get_outputs()[0]

    def train_epoch(self, epoch, labeled, unlabeled, has_mixup, progress_bar, stop):
        """One epoch (fit.train_epoch's contract): the metrics are the labeled batches'
        (supervised), plus ROW_FIELDS."""
        metrics = SoftMetrics()
        tic, images, unsup, weights = time.time(), 0, None, []
        size = self.config.batch_size
        with progress_bar as pbar:
            for i, (batch, ubatch) in enumerate(zip(labeled, unlabeled)):
                # only the unlabeled images: ubatch.label is never read
                probs = self.targets(ubatch.data[0])
                mx.nd.waitall()
                weights.append(self.weight(epoch + i / self.batches_per_epoch))
                self.student.forward_backward(batch)  # writes the gradient
                # read before the consistency graph runs: it reuses the student's memory
                outputs = self.student.get_outputs()
                metrics.update(outputs[1] if has_mixup else batch.label[0], outputs[0],
                               pad=batch.pad)
                # The two graphs share a memory pool (shared_module), which MXNet 1.9.1's
                # threaded engine does not order between executors with a CustomOp in them:
                # without these waits the results vary from run to run (tests/test_semi.py).
                mx.nd.waitall()
                self.consistency.forward_backward(mx.io.DataBatch(  # adds its own
                    [ubatch.data[0]], [probs, mx.nd.full((size,), weights[-1])]))
                mx.nd.waitall()
                self.student.update()
                self.update_teacher()
                stop.check()
                loss = self.consistency.get_outputs()[1].sum().as_in_context(mx.cpu())
                unsup = loss if unsup is None else unsup + loss
                images += size - batch.pad
                pbar.update(size)
        mx.nd.waitall()
        out = metrics.get()
        steps = max(1, len(weights))
        out.update(sup_loss=out["cross_entropy"],
                   unsup_loss=float(unsup.asscalar()) / (steps * size) if unsup else 0.0,
                   ramp_weight=sum(weights) / steps)
        return out, images, time.time() - tic


def start(config, lay, student, run_dir, begin_epoch, seed):
    """The run's semi-supervised method around the bound student (None: supervised): its
    teacher the student's parameters (a new run) or the checkpoint's teacher (--resume);
    MXNet's RNG is seeded with ``seed`` before its MixUp node is made (which draws its own)."""
    if config.semi == "none":
        return None
    mx.random.seed(seed)
    method = ICT(config, lay, student, begin_epoch * lay.batches_per_epoch)
    method.start_teacher(*(runs.load_params(run_dir, begin_epoch, runs.TEACHER) if begin_epoch
                           else student.get_params()))
    return method
