"""The fit loop: bind the training graph, run epochs, validate and checkpoint, stop on request.

In the spirit of MXNet's ``example/image-classification/common/fit.py``, but the epoch loop is
written out instead of calling ``Module.fit``, because the trainer needs to act between steps
and between epochs where ``Module.fit`` gives no hook: stop cleanly on Ctrl-C between two steps
(see mixup_app.interrupts), switch MixUp off for the last epochs, average the devices'
BatchNorm statistics before validating, stop on a diverged loss before it is checkpointed, and
keep MixUp's draws continuing across a resume (``mixup.seek``).
"""
import contextlib
import functools
import math
import os
import time
from dataclasses import dataclass
from typing import Optional, Tuple

import mxnet as mx
import numpy as np

import mixup

from mixup_app.data import catalogue, iterators, records, semisplit, trainset
from mixup_app import (adaptive, batchnorm, cluster, devices, paths, plots, runs, scoring,
                       semi)
from mixup_app.metrics import SoftMetrics, predict, summarize
from mixup_app.progress import bar
from mixup_app.threads import decode_threads


class Diverged(Exception):
    """The training loss became non-finite; the last good checkpoint is kept."""


# the last coordinate of derived_seed for the BatchNorm recalibration's shuffles (the
# unlabeled images' are 1)
_RECALIBRATION_STREAM = 3


def derived_seed(*parts):
    """A seed in [0, 2**31) for one consumer (MXNet's RNG, an epoch's shuffle, ...) derived
    from the run's --seed and the consumer's coordinates (rank, epoch). MXNet's seeds are C
    ints: sums and products of --seed would overflow for large seeds, and could collide."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] >> 1)


def lr_scheduler(config, batches_per_epoch):
    """MXNet's scheduler for the run's whole schedule (num_epochs), counted in updates."""
    total = config.num_epochs * batches_per_epoch
    warmup = int(round(config.warmup_epochs * batches_per_epoch))
    if config.lr_schedule == "cosine":
        return mx.lr_scheduler.CosineScheduler(max_update=total, base_lr=config.lr, final_lr=0,
                                               warmup_steps=warmup, warmup_begin_lr=0)
    steps = [e * batches_per_epoch for e in config.lr_step_epochs if e < config.num_epochs]
    steps = [s for s in steps if s > warmup] or [total + 1]  # none left: constant lr
    return mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=config.lr_factor,
                                                base_lr=config.lr, warmup_steps=warmup,
                                                warmup_begin_lr=0)


def training_graph(config, num_classes):
    """(symbol, has_mixup): the training graph and whether it holds MixUp. With MixUp, the label
    the loss trains against (the mixed soft label) is a second, gradient-free output, so the
    training metrics can score against it. --policy adaptive: AdaMixup's graph
    (mixup_app.adaptive), its output 1 the originals' labels."""
    if adaptive.adaptive(config):
        return adaptive.training_graph(config, num_classes), True
    return _training_graph(config.network, config.num_layers, config.image_shape,
                           config.mixup_at if config.uses_mixup else "none", config.mixing,
                           config.dtype, num_classes)


@functools.lru_cache(maxsize=1)
def _training_graph(network, num_layers, image_shape, mixup_at, mixing, dtype, num_classes):
    """Remembered (the last one, by what it is made of): a new run's preflight builds the graph
    to refuse a bad network before the run directory is written, and fit trains that graph
    rather than building it again."""
    import mixup_symbols
    net, soft_label = mixup_symbols.get_symbol(
        network, num_classes=num_classes, num_layers=num_layers, image_shape=image_shape,
        mixup_at=mixup_at, mixing=mixing, dtype=dtype, train=True, with_label=True)
    if soft_label is None:
        return net, False
    return mx.sym.Group([net, mx.sym.BlockGrad(soft_label)]), True


@dataclass(frozen=True)
class Layout:
    """What one worker trains on, derived from the config, the data and the kvstore."""
    num_classes: int
    train_set: trainset.TrainingSet
    batches_per_epoch: int      # the same on every worker (see train_iter)
    val_batch: int
    contexts: Tuple
    rank: int
    workers: int
    local_states: bool          # the optimizer state lives here (not on dist servers)
    unlabeled_set: Optional[trainset.TrainingSet] = None  # --semi: images used without labels


def layout(config, kv):
    num_classes = catalogue.spec(config.dataset, config.data_dir).num_classes
    manifest = records.verify(config.data_dir, config.dataset, checksums=False)
    train_set = trainset.of_run(config)
    workers = kv.num_workers
    batches = _shard_batches(config.batch_size, train_set.count, workers, "training")
    contexts = (devices.contexts(list(config.gpus)) if config.gpus
                else [mx.cpu(i) for i in range(config.cpu_devices)])
    val_batch = adaptive.val_batch(
        config, min(config.batch_size, manifest["splits"]["val"]["count"]), len(contexts))
    unlabeled = None
    if config.semi != "none":  # an epoch is a pass over each worker's unlabeled images (ICT's)
        unlabeled = semisplit.unlabeled_set(config, num_classes)
        batches = max(batches, _shard_batches(config.batch_size, unlabeled.count, workers,
                                              "unlabeled"))
    return Layout(num_classes, train_set, batches, val_batch, tuple(contexts),
                  kv.rank, workers, "dist" not in kv.type, unlabeled)


def _shard_batches(batch_size, count, workers, what):
    """The batches of the largest of ``workers`` shards of ``count`` images, every worker's
    steps per epoch (see train_iter); refused where the smallest shard is under one batch."""
    shard = count // workers  # the smallest shard
    if batch_size > shard:
        raise ValueError("--batch-size %d is larger than the %d %s images of each of %d "
                         "worker(s)" % (batch_size, shard, what, workers))
    return int(math.ceil(math.ceil(count / workers) / batch_size))


def train_iter(config, lay, epoch, unlabeled=False, stored=False):
    """This worker's shard of the training set for `epoch`, shuffled by (seed, epoch, rank).

    Shards can differ by a few images, so without care workers would run different numbers of
    steps and a synchronous kvstore would wait forever for the missing pushes: ResizeIter
    makes every worker run exactly ``batches_per_epoch`` steps (a short shard wraps around), as
    MXNet's own image-classification example does. ``unlabeled``: the --semi run's unlabeled
    images instead (a stream of shuffles of their own; a shorter labeled set cycles).
    ``stored``: the images as stored, neither augmented, cropped nor normalised (MixMatch
    makes its views from them, mixup_app.semi.mixmatch.Views). The unlabeled images are the
    network's alone (no AdaMixup eps: ICT's supervised graph may be AdaMixup's, its other
    graphs are not)."""
    chosen = lay.unlabeled_set if unlabeled else lay.train_set
    inner = iterators.record_iter(config.data_dir, config.dataset, "train", config.batch_size,
                             None if stored else config.image_shape, train=True,
                             seed=derived_seed(config.seed, epoch, lay.rank,
                                               *((1,) if unlabeled else ())),
                             num_parts=lay.workers, part_index=lay.rank,
                             augment=config.augment == "standard" and not stored,
                             normalize=not stored, records_path=(chosen.rec, chosen.idx),
                             threads=decode_threads(gpus=bool(config.gpus)))
    steps = mx.io.ResizeIter(inner, lay.batches_per_epoch, reset_internal=False)
    return steps if unlabeled else adaptive.with_eps(config, steps,
                                                     key=(config.seed, epoch, lay.rank))


def recalibration(config, lay, method):
    """None, or a batchnorm.Recalibration of the run's scoring graph on the first device: for
    AdaMixup's student (its [A; B; M] batches' moving statistics are not the real images') and
    for a teacher that has statistics of its own (ICT's)."""
    if not (adaptive.adaptive(config) or (method is not None and method.own_statistics)):
        return None
    return batchnorm.Recalibration(scoring.graph(config, lay.num_classes),
                                   (config.batch_size,) + tuple(config.image_shape),
                                   lay.contexts[0])


def recalibrate(config, lay, epoch, params, measure, unlabeled=False):
    """``params`` with the network's BatchNorm moving statistics measured again (``measure``,
    a batchnorm.Recalibration) on batchnorm.IMAGES real training images, augmented as in
    training: this worker's shard of the training set (or of the unlabeled images), a shuffle
    of their own keyed by (seed, epoch, rank), so a resumed run measures what a straight one
    does."""
    arg_params, aux_params = params
    images = lay.unlabeled_set if unlabeled else lay.train_set
    batches = -(-batchnorm.IMAGES // config.batch_size)
    stream = derived_seed(config.seed, epoch, lay.rank, _RECALIBRATION_STREAM,
                          *((1,) if unlabeled else ()))
    batch_iter = iterators.record_iter(
        config.data_dir, config.dataset, "train", config.batch_size, config.image_shape,
        train=True, seed=stream, num_parts=lay.workers, part_index=lay.rank,
        augment=config.augment == "standard", records_path=(images.rec, images.idx),
        threads=decode_threads(gpus=bool(config.gpus)))
    measured = measure(arg_params, aux_params,
                       mx.io.ResizeIter(batch_iter, batches, reset_internal=False), batches)
    return arg_params, dict(aux_params, **measured)


def update_store(kv, contexts):
    """The kvstore the Module updates through: `kv` when there is something to combine
    (several devices, or a cluster), else None. With one device and no cluster the Module
    then updates its parameters in place, a few multi-tensor SGD calls per step, as MXNet's
    own Module.fit does for one device; through a kvstore every parameter costs a push-pull, a
    copy and a call from C back into Python per step (docs/BENCHMARKS.md, 7a). The
    optimizer state is the same either way (runs.save_states keys it by name)."""
    return kv if len(contexts) > 1 or "dist" in kv.type else None


def bind(config, lay, symbol, kv, run_dir, begin_epoch):
    """Bind the training graph, load or initialise parameters, set up the optimizer."""
    data = ([("data", (config.batch_size,) + tuple(config.image_shape))]
            + adaptive.extra_data(config))
    module = mx.mod.Module(symbol, context=list(lay.contexts),
                           data_names=[name for name, _ in data], label_names=["softmax_label"])
    module.bind(data_shapes=data,
                label_shapes=[("softmax_label", (config.batch_size,))])
    if begin_epoch and kv.rank == 0:  # other workers receive rank 0's parameters via kvstore
        arg_params, aux_params = runs.load_params(run_dir, begin_epoch)
        module.init_params(arg_params=arg_params, aux_params=aux_params)
    else:
        module.init_params(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    optimizer_params = dict(learning_rate=config.lr, momentum=config.mom, wd=config.wd,
                            lr_scheduler=lr_scheduler(config, lay.batches_per_epoch),
                            begin_num_update=begin_epoch * lay.batches_per_epoch,
                            multi_precision=config.dtype == "float16")
    # Module sets rescale_grad = 1 / (batch_size * workers for dist_sync): with the loss's
    # normalization='null' that is the only division by the batch.
    module.init_optimizer(kvstore=update_store(kv, lay.contexts), optimizer="sgd",
                          optimizer_params=optimizer_params)
    if begin_epoch and "dist" not in kv.type and os.path.exists(
            runs.states_path(run_dir, begin_epoch)):
        runs.load_states(module, run_dir, begin_epoch)
    # A resumed run's parameters reach every worker through the kvstore (init above); the
    # BatchNorm statistics are no parameters: every worker takes rank 0's too (a --semi run's
    # teacher is a moving average of them)
    group = module._exec_group  # MXNet 1.9.1's Module has no public accessor for these
    cluster.from_rank0(kv if begin_epoch else None, "aux:",
                       dict(zip(group.aux_names, group.aux_arrays)))
    # MixUp's draws are a function of (seed, step): continue them where the run stopped
    mixup.seek(begin_epoch * lay.batches_per_epoch)
    return module


def train_epoch(module, batches, has_mixup, progress_bar, stop, meter=None):
    """One pass over `batches`. Returns (soft-label metrics, images, seconds). ``meter``
    (AdaMixup's): given each step's outputs."""
    metrics = SoftMetrics()
    tic, images = time.time(), 0
    with progress_bar as pbar:
        for batch in batches:
            module.forward_backward(batch)
            module.update()
            stop.check()
            outputs = module.get_outputs()
            # with MixUp the loss saw the soft label, the graph's second output
            metrics.update(outputs[1] if has_mixup else batch.label[0], outputs[0], pad=batch.pad)
            if meter is not None:
                meter.update(outputs)
            size = batch.data[0].shape[0]
            images += size - batch.pad
            pbar.update(size)
    mx.nd.waitall()
    return metrics.get(), images, time.time() - tic


def validate(config, lay, module, network_only=False):
    """Score ``module`` on the validation set: the training graph's inputs, or with
    ``network_only`` the images alone (a --semi run's teacher, the network without
    AdaMixup's eps)."""
    val_iter = iterators.record_iter(
        config.data_dir, config.dataset, "val", lay.val_batch, config.image_shape, train=False,
        threads=decode_threads(gpus=bool(config.gpus)))
    if not network_only:
        val_iter = adaptive.with_eps(config, val_iter)
    return summarize(*predict(module, val_iter), lay.num_classes)


def _all_finite(params):
    """Whether every parameter and auxiliary state is finite (x * 0 sums to NaN otherwise)."""
    arrays = [v for group in params for v in group.values()]
    return math.isfinite(float(mx.nd.add_n(*[(v * 0).sum() for v in arrays]).asscalar()))


def _clock(seconds):
    seconds = int(round(seconds))
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def should_validate(config, epoch, stopping):
    """Whether `epoch` (1-based) is validated: every --val-every epochs, each of the last
    --val-last epochs (the last one always), and the one a run is stopped at (so a stopped
    run's last checkpoint has its scores). "Last" is of --num-epochs as the run has it now (an
    extended run validates the last epochs of its new length)."""
    return (stopping or epoch % config.val_every == 0
            or epoch > config.num_epochs - max(1, config.val_last))


def validate_row(config, lay, module, row, method=None, teacher_params=None):
    """Score the module on the validation set into the epoch's metrics row; a --semi run's
    ``method`` adds its teacher's scores (``teacher_params``: a checkpoint's, else its own)."""
    scores = validate(config, lay, module)
    row.update(val_accuracy=scores["accuracy"], val_loss=scores["cross_entropy"],
               val_count=scores["count"])
    if "top5" in scores:
        row["val_top5"] = scores["top5"]
    if method is not None:
        method.validate_row(lambda scorer: validate(config, lay, scorer, network_only=True),
                            row, teacher_params)


def _draw_curves(config, run_dir, rows):
    plots.curves(rows, os.path.join(run_dir, "curves.png"), title="%s, %s-%d, %s" % (
        config.dataset, config.network, config.num_layers, config.describe_mixup()))


def record_epoch(config, run_dir, module, row, rows, lay, log, stopping=False, method=None):
    """Rank 0's end of an epoch: validate (if due), append metrics, redraw curves, checkpoint.
    ``method``: a --semi run's (its teacher validated and checkpointed too)."""
    epoch = row["epoch"]
    checked = should_validate(config, epoch, stopping)
    if checked:
        validate_row(config, lay, module, row, method)
    row["wall_seconds"] = round(time.time() - row.pop("_started"), 3)
    rows.append(row)
    runs.write_metrics(run_dir, rows)
    _draw_curves(config, run_dir, rows)
    best = runs.best_epoch(run_dir)
    is_best = checked and (best is None or row["val_accuracy"] > best[1])
    # Last: a checkpoint marks the epoch complete. A run killed before it redoes the epoch on
    # --resume and drops this epoch's metrics row, which is written again then.
    if is_best or epoch % config.save_period == 0 or epoch == config.num_epochs or stopping:
        runs.save_checkpoint(run_dir, module, epoch, with_states=lay.local_states,
                             teacher=method and method.teacher)
        runs.point_latest(run_dir, paths.default_runs_root())
    if is_best:
        runs.record_best(run_dir, epoch, row["val_accuracy"])
        best = (epoch, row["val_accuracy"])
    runs.prune(run_dir, config.keep_last, keep_epochs=[best[0]] if best else [],
               validated_epochs=[r["epoch"] for r in runs.validated(rows)])
    elapsed = sum(r.get("wall_seconds", r["seconds"]) for r in rows)
    per_epoch = elapsed / len(rows)
    log("epoch %d/%d  train acc %.4f loss %.4f  %s  lr %.4g  %.1f img/s  "
        "%.1fs  elapsed %s  ETA %s%s%s" % (
            epoch, config.num_epochs, row["train_accuracy"], row["train_loss"],
            "val acc %.4f loss %.4f" % (row["val_accuracy"], row["val_loss"]) if checked
            else "(validated every %d epochs)" % config.val_every, row["lr"],
            row["images_per_sec"] * row["num_workers"], row["seconds"], _clock(elapsed),
            _clock(per_epoch * (config.num_epochs - epoch)),
            adaptive.row_text(row) + ("  (best)" if is_best else ""),
            "" if row["mixup"] or not config.uses_mixup else "  (MixUp off)"))


def validate_where_stopped(config, run_dir, module, rows, lay, log, method=None):
    """A run stopped between validations: score its last checkpoint (the epoch --resume
    continues from), so the stopped run's last recorded epoch has validation figures too."""
    if not rows or "val_accuracy" in rows[-1]:
        return
    epoch = rows[-1]["epoch"]
    if epoch not in runs.checkpoint_epochs(run_dir):
        return
    log("validating epoch %d, the run's last checkpoint ..." % epoch)
    module.set_params(*runs.load_params(run_dir, epoch))
    validate_row(config, lay, module, rows[-1], method,
                 method and runs.load_params(run_dir, epoch, runs.TEACHER))
    runs.write_metrics(run_dir, rows)
    _draw_curves(config, run_dir, rows)
    best = runs.best_epoch(run_dir)
    if best is None or rows[-1]["val_accuracy"] > best[1]:
        runs.record_best(run_dir, epoch, rows[-1]["val_accuracy"])
    log("epoch %d  val acc %.4f loss %.4f" % (epoch, rows[-1]["val_accuracy"],
                                              rows[-1]["val_loss"]))


def fit(config, run_dir, begin_epoch, kv, progress, stop, log):
    """Train epochs begin_epoch+1 .. num_epochs. Returns the metrics rows."""
    lay = layout(config, kv)
    # MXNet's RNG seeds the parameters' initialisation and MixUp's draws (whose ops take
    # their seeds from it when the graph is bound)
    mx.random.seed(derived_seed(config.seed, lay.rank))
    symbol, has_mixup = training_graph(config, lay.num_classes)
    module = bind(config, lay, symbol, kv, run_dir, begin_epoch)
    # None: supervised. Its MixUp node's seed from its own stream: a new run's initialisation
    # has drawn from MXNet's RNG since bind, a resumed run's has not
    method = semi.start(config, lay, module, run_dir, begin_epoch,
                        seed=derived_seed(config.seed, lay.rank, 2), kv=kv)
    if config.labeled and lay.rank == 0:
        semisplit.write_labeled(run_dir, config, lay.train_set)
    per_device, rate = config.batch_size // len(lay.contexts), config.mixing.mix_rate
    if rate > 0 and mixup.mixed_count(rate, per_device) == 0:
        log("note: with %d image(s) per device and --mix-rate %g no sample is ever mixed: this "
            "run trains exactly like ERM" % (per_device, rate))
    # (read again: where it had a cut last line, choosing begin_epoch said so already)
    rows = [r for r in runs.read_metrics(run_dir, warn=lambda *_: None)
            if r["epoch"] <= begin_epoch]
    try:
        _epochs(config, run_dir, begin_epoch, module, has_mixup, lay, rows, progress, stop, log,
                method)
    except KeyboardInterrupt:
        if lay.rank == 0:
            # (a second Ctrl-C during this validation still stops at once)
            validate_where_stopped(config, run_dir, module, rows, lay, log, method)
        raise
    return rows


def _epochs(config, run_dir, begin_epoch, module, has_mixup, lay, rows, progress, stop, log,
            method=None):
    # a private copy to report the lr: MXNet's step schedulers keep state
    report_lr = lr_scheduler(config, lay.batches_per_epoch)
    measure = recalibration(config, lay, method)
    for epoch in range(begin_epoch, config.num_epochs):
        started = time.time()
        mix_this_epoch = has_mixup and epoch < config.num_epochs - config.mixup_off_epochs
        progress_bar = bar(lay.batches_per_epoch * config.batch_size,
                           "epoch %d/%d" % (epoch + 1, config.num_epochs), enabled=progress,
                           lines=True)
        meter = adaptive.meter(config)
        with contextlib.nullcontext() if mix_this_epoch or not has_mixup else mixup.paused():
            if method is None:
                train, images, seconds = train_epoch(module, train_iter(config, lay, epoch),
                                                     has_mixup, progress_bar, stop, meter)
            else:
                train, images, seconds = method.train_epoch(
                    epoch, train_iter(config, lay, epoch),
                    train_iter(config, lay, epoch, unlabeled=True,
                               stored=method.stored_unlabeled), has_mixup, progress_bar, stop,
                    meter)
        params = module.get_params()
        if not (math.isfinite(train.get("cross_entropy", 0.0)) and _all_finite(params)):
            raise Diverged(
                "training diverged in epoch %d: the training loss is %s and the parameters "
                "are %s (try a smaller --lr than %g). Stopped before checkpointing this "
                "epoch; the last good checkpoint is epoch %d."
                % (epoch + 1, train["cross_entropy"],
                   "finite" if _all_finite(params) else "not finite", config.lr,
                   max([0] + [e for e in runs.checkpoint_epochs(run_dir) if e <= epoch])))
        if adaptive.adaptive(config):
            params = recalibrate(config, lay, epoch, params, measure)
        # Each device keeps its own BatchNorm moving statistics and a checkpoint holds their
        # average: put the average back on every device, so validation scores the checkpoint.
        module.set_params(*params)
        if method is not None:
            method.end_epoch()  # its teacher's, likewise
            if method.own_statistics:
                method.teacher.set_params(*recalibrate(
                    config, lay, epoch, method.teacher.get_params(), measure,
                    unlabeled=True))
        row = {"epoch": epoch + 1, "train_accuracy": train["accuracy"],
               "train_loss": train["cross_entropy"], "mixup": bool(mix_this_epoch),
               "lr": report_lr((epoch + 1) * lay.batches_per_epoch),
               "seconds": round(seconds, 3), "images_per_sec": round(images / seconds, 2),
               "num_workers": lay.workers, "rank": lay.rank, "_started": started}
        if meter is not None:
            row.update(meter.get())
        row.update({k: v for k, v in train.items() if k in semi.ROW_FIELDS})
        if lay.rank == 0:
            record_epoch(config, run_dir, module, row, rows, lay, log,
                         stopping=stop.requested, method=method)
        stop.check()
