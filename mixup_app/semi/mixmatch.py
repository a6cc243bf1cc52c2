"""**MixMatch** (Berthelot et al., NeurIPS 2019, arXiv 1905.02249; the authors' code:
github.com/google-research/mixmatch, ``mixmatch.py``): K views of each unlabeled image
(:class:`Views`); the student's probabilities on each view, in training mode, averaged and
sharpened into its guessed label (:func:`guess_labels`, no gradient); one MixUp node over the
concatenation of the labeled batch and the K views, lambda' = max(lambda, 1 - lambda) per
row, each row's partner on the op's cycle through the whole concatenation; cross-entropy on
the labeled rows, squared error over the classes on the unlabeled ones, the latter weighted by
lambda_U ramped up linearly (:func:`mixmatch_symbol`, :class:`MixMatch`). The teacher is the
authors' evaluation model (their EMA, 0.999). Built on the shared machinery of
mixup_app.semi.common.

On several devices MixMatch's rows are interleaved over the devices (:func:`interleaved_order`).
On a cluster (dist_sync) MixMatch's views and lambdas are each worker's own draws (keyed by its
rank too, rank 0 drawing what a run of one worker draws).
"""
import mxnet as mx
import numpy as np

import mixup
from mixup.draws import symmetric_beta

from mixup_app.data import catalogue, records
from mixup_app.data.iterators import PAD
from mixup_app.semi.common import (SemiMethod, batch_statistics_forward, linear_rampup,
                                    unpartitioned)

MIXMATCH_SEED_TAG = 1905  # keeps the lambda stream apart from other streams of (seed, step)
VIEWS_SEED_TAG = 1906  # ... and the views' stream


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
        probs = [batch_statistics_forward(self.guesser, mx.nd.array(view)).asnumpy()
                 for view in views]
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
        mx.nd.waitall()  # the graphs share a memory pool (see ict.ICT.train_step)
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
