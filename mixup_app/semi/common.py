"""The shared machinery of a semi-supervised run (mixup_app.semi): the teacher, the ramps, the
epoch loop; ICT (mixup_app.semi.ict) and MixMatch (mixup_app.semi.mixmatch) build on it.

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

The draws a step makes (MixUp's from its op, MixMatch's views and lambdas from generators
keyed by the seed and the step) and the EMA's step count follow from the epoch, so a resumed
run continues bit for bit.

**Several devices** (``--gpus``, ``--cpu-devices``): every graph is bound on all of them, each
device computes its slice of a batch and the kvstore sums the gradients, as for a supervised
run. The teacher is an EMA of each device's copy of the student (the parameters the same on
every device, the BatchNorm statistics each device's own); after each epoch the devices'
teachers are averaged and put back on every device, as the trainer does with the student's
statistics (:meth:`SemiMethod.end_epoch`), so a checkpoint holds what the devices hold.

**dist_sync**: each worker reads its own shard of the labeled and of the unlabeled images
(every worker the same number of steps, mixup_app.fit.layout), the kvstore sums the
gradients, and every worker's teacher is the same EMA of the same synced parameters: it
starts as rank 0's (:meth:`SemiMethod.start_teacher`, through the kvstore; a resumed run's
from rank 0's checkpoint). Each worker keeps its own BatchNorm statistics, student and
teacher, as a supervised run does; rank 0 validates and checkpoints its own.
"""
import contextlib
import math
import os
import time

import mxnet as mx

from mixup_app import cluster
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


def linear_rampup(t, length):
    """t/length for t in [0, length], 1 after (and for length 0): MixMatch's ramp-up of the
    unlabeled loss's weight (the authors' ``clip(step / warmup, 0, 1)``)."""
    if length <= 0:
        return 1.0
    return min(max(float(t), 0.0), length) / length



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


def _arrays(module):
    """{name: [array per device]} of a bound Module's parameters and auxiliary states."""
    group = module._exec_group  # MXNet 1.9.1's Module has no public accessor for these
    out = dict(zip(group.param_names, group.param_arrays))
    out.update(zip(group.aux_names, group.aux_arrays))
    return out


def batch_statistics_forward(module, images):
    """``module``'s first output on ``images`` in training mode (BatchNorm with the batch's own
    statistics), the module's BatchNorm moving statistics (its aux arrays) put back as they
    were: MXNet 1.9.1's CPU BatchNorm moves them in its backward only, which is never run here,
    but cuDNN's moves them in a training-mode forward."""
    statistics = [a for arrays in module._exec_group.aux_arrays for a in arrays]
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
    # whether the teacher's BatchNorm moving statistics are its own, measured on real images
    # with its weights at each epoch's end (mixup_app.fit), or the EMA of the student's
    own_statistics = False

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
