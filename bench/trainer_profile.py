"""7a. Where ./train.sh's step goes: the training loop taken apart, ms per step.

One process running the trainer's own functions (``mixup_app.fit``: bind, train_iter,
train_epoch) on a synthetic set of 3x32x32 images: ResNet-20 at 3x28x28 with MixUp at the
input, batch 128, the threads ./train.sh would use (``python -m bench.trainer --profile``
chooses them as the commands do; ``--threads N`` as theirs). Each candidate runs `steps`
steps per sample; the candidates run in turn within a round, in rotating order, and a round in
which other processes kept more than 0.25 cores busy is dropped (and counted).

The ladder (each row adds one part of the loop to the row above):

- bound step: a Module of its own with MXNet's one-device update, one preloaded batch,
  forward + backward + update and a wait every step;
- the trainer's Module: the same with the Module ``fit.bind`` makes (its update path);
- + the trainer's loop: ``fit.train_epoch`` over preloaded batches (no wait between steps,
  the outputs, ``SoftMetrics.update``, the progress bar (off), the stop check);
- + the record iterator: ``fit.train_epoch`` over the iterator ``fit.train_iter`` makes.

The parts alone: the record iterator without training (a new epoch's iterator through all its
batches, ms per batch); SoftMetrics.update
(ms per call, waited for); a new epoch's iterator from creation to its first batch (the
trainer makes one per epoch: ms per epoch, and per step over an epoch). MXNet's profiler
counts, over one sample of the whole loop, the calls into MXNet per step.
"""
import json
import os
import statistics
import tempfile
import time

import mxnet as mx
import numpy as np

from mixup_app import fit
from mixup_app.data import preparation
from mixup_app.interrupts import StopRequest
from mixup_app.metrics import SoftMetrics
from mixup_app.progress import bar

from .common import table, with_foreign_load
from .trainer_parts import BATCH, RESNET, own_module, run_config
from .trainer_parts import preloaded as preloaded_batches

BUSY = 0.25  # cores kept busy by other processes above which a round is dropped


def _profiled_counts(loop, steps):
    """Calls per step into MXNet's C API (by name) over one run of `loop`, and the MixUp
    op's Python time per step, from MXNet's aggregate profiler."""
    mx.nd.waitall()
    with tempfile.TemporaryDirectory() as tmp:
        mx.profiler.set_config(profile_api=True, profile_imperative=True,
                               profile_symbolic=True, aggregate_stats=True,
                               filename=os.path.join(tmp, "profile.json"))
        mx.profiler.set_state("run")
        loop()
        mx.nd.waitall()
        mx.profiler.set_state("stop")
        stats = json.loads(mx.profiler.dumps(reset=True, format="json"))
    found = {}
    for domain in stats.get("Time", {}).values():
        for name, entry in domain.items():
            found[name] = entry
    calls = {name: round(found[name]["Count"] / steps, 1) for name in (
        "MXImperativeInvokeEx", "MXKVStorePushPullEx", "MXKVStorePushEx", "MXKVStorePullEx",
        "MXDataIterNext") if name in found}
    mixup_python = found.get("MixUp::pure_python", {}).get("Total", 0.0) / steps
    return calls, round(mixup_python, 2)


def run(rounds=8, steps=5, size=(2560, 500)):
    with tempfile.TemporaryDirectory() as tmp:
        preparation.prepare("synthetic", tmp, log=lambda *_: None, synthetic_counts=size)
        return _run(run_config(tmp, size, RESNET), rounds, steps)


def _interleaved_rounds(candidates, rounds, per_sample):
    """{name: [seconds per unit, one per kept round]}, the rounds kept and the load of each:
    `candidates` (name -> fn) run in turn, in rotating order, after one warm-up call each;
    per_sample(name) is the number of units (steps, images) one call does."""
    for fn in candidates.values():
        fn()
    samples = {name: [] for name in candidates}
    loads = []
    names = list(candidates)
    for r in range(rounds):
        def one_round():
            for name in names[r % len(names):] + names[:r % len(names)]:
                start = time.perf_counter()
                candidates[name]()
                samples[name].append((time.perf_counter() - start) / per_sample(name))
        loads.append(with_foreign_load(one_round)[1])
    clean = [r for r in range(rounds) if loads[r] <= BUSY] or list(range(rounds))
    return {name: [v[r] for r in clean] for name, v in samples.items()}, clean, loads


def _scoring(config, lay, trained, rounds, batch=100):
    """./test.sh's loops (mixup_app.scoring) against their own bound: ms per image of scoring
    and of FGSM, on the validation images, and of the same work on one preloaded batch."""
    from mixup_app import metrics, runs, scoring
    from mixup_app.data import iterators, records
    with tempfile.TemporaryDirectory() as run_dir:
        runs.save_checkpoint(run_dir, trained, 1)
        checkpoint = scoring.load(run_dir, config, 1)
    shape, contexts = tuple(config.image_shape), list(lay.contexts)
    manifest = records.load_manifest(config.data_dir, config.dataset)
    count = manifest["splits"]["val"]["count"]
    scorer = scoring.module_for(checkpoint, batch, shape, contexts)
    gradient = scoring.InputGradient(checkpoint, batch, shape, contexts[0])

    def val_batches(normalize=True):
        return iterators.record_iter(config.data_dir, config.dataset, "val", batch, shape,
                                     train=False, normalize=normalize)
    first = next(iter(val_batches()))
    one = mx.io.DataBatch([first.data[0].copy()], [first.label[0].copy()])
    normalized, labels = one.data[0].asnumpy(), one.label[0].asnumpy()

    def bound_scoring():
        scorer.forward(one, is_train=False)
        scorer.get_outputs()[0].asnumpy()

    def bound_fgsm():  # one gradient, the sign step on the host, one scoring forward
        gradient(normalized, labels)
        bound_scoring()

    def fgsm_pass():
        scoring._attacked_pass(val_batches(normalize=False), gradient, scorer, 8.0, 1,
                               manifest["mean"], manifest["std"],
                               *[np.asarray(manifest[k]).reshape((1, -1, 1, 1))
                                 for k in ("mean", "std")], bar(count, "", enabled=False))
    candidates = {"scoring, bound (one preloaded batch)": bound_scoring,
                  "scoring, ./test.sh's loop (metrics.predict)":
                      lambda: metrics.predict(scorer, val_batches()),
                  "FGSM, bound (one preloaded batch)": bound_fgsm,
                  "FGSM, ./test.sh's loop (scoring._attacked_pass)": fgsm_pass}
    samples, clean, _ = _interleaved_rounds(
        candidates, rounds, lambda name: batch if "bound" in name else count)
    rows = []
    for name, kept in samples.items():
        bound = samples[name.split(",")[0] + ", bound (one preloaded batch)"]
        rows.append({"part": name, "ms_per_image": round(1e3 * statistics.median(kept), 2),
                     "bound_over_this": "%.2f" % statistics.median(
                         [b / k for b, k in zip(bound, kept)])})
    table("7b. ./test.sh's loops against their bound (%d validation images, batch %d, %d of "
          "%d rounds kept)" % (count, batch, len(clean), rounds), rows,
          ["part", "ms_per_image", "bound_over_this"])
    return rows


def _run(config, rounds, steps):
    kv = mx.kv.create(config.kv_store)
    lay = fit.layout(config, kv)
    mx.random.seed(0)
    symbol, has_mixup = fit.training_graph(config, lay.num_classes)
    trainers = fit.bind(config, lay, symbol, kv, None, 0)
    own = own_module(symbol, lay.contexts, (config.batch_size,) + tuple(config.image_shape),
                     config.lr, config.mom, config.wd)
    preloaded = preloaded_batches(config, lay, steps)
    stream = iter(mx.io.ResizeIter(fit.train_iter(config, lay, 0), 10 ** 9,
                                   reset_internal=True))
    stop = StopRequest()
    epochs = [1]

    def waited(module):
        for _ in range(steps):
            module.forward_backward(preloaded[0])
            module.update()
            mx.nd.waitall()

    def loop(batches):
        fit.train_epoch(trainers, batches, has_mixup, bar(steps * BATCH, "", enabled=False), stop)

    def iterator_alone():  # a whole epoch from a new iterator: no batch decoded beforehand
        epochs[0] += 1
        for batch in fit.train_iter(config, lay, epochs[0]):
            batch.data[0].wait_to_read()

    metrics = SoftMetrics()
    trainers.forward_backward(preloaded[0])
    outputs = trainers.get_outputs()

    def metrics_alone():
        for _ in range(steps):
            metrics.update(outputs[1] if has_mixup else preloaded[0].label[0], outputs[0])
            mx.nd.waitall()

    def first_batch():
        epochs[0] += 1
        next(iter(fit.train_iter(config, lay, epochs[0]))).data[0].wait_to_read()

    ladder = {
        "bound step (own Module, one preloaded batch, wait each step)": lambda: waited(own),
        "the trainer's Module (fit.bind), wait each step": lambda: waited(trainers),
        "+ the trainer's loop (fit.train_epoch, preloaded batches)": lambda: loop(preloaded),
        "+ the record iterator (fit.train_iter)": lambda: loop(
            (next(stream) for _ in range(steps))),
    }
    parts = {"record iterator alone (a new epoch's, per batch)": iterator_alone,
             "SoftMetrics.update alone (per call, waited)": metrics_alone}
    candidates = dict(ladder, **parts, **{"a new epoch's iterator": first_batch})
    samples, clean, loads = _interleaved_rounds(candidates, rounds, lambda name: (
        lay.batches_per_epoch if candidates[name] is iterator_alone else
        1 if candidates[name] is first_batch else steps))
    names = list(ladder) + list(parts)
    base = names[0]
    rows = []
    for name in names:
        kept = samples[name]
        row = {"part": name, "ms_per_step": round(1e3 * statistics.median(kept), 1),
               "range": "%.0f-%.0f" % (1e3 * min(kept), 1e3 * max(kept))}
        if name in ladder:
            ratios = [b / k for b, k in zip(samples[base], kept)]
            row["bound_over_this"] = "%.2f" % statistics.median(ratios)
        rows.append(row)
    start_ms = 1e3 * statistics.median(samples["a new epoch's iterator"])
    rows.append({"part": "a new epoch's iterator to its first batch (per epoch; per step "
                 "over %d)" % lay.batches_per_epoch, "ms_per_step": round(
                     start_ms / lay.batches_per_epoch, 1), "range": "%.0f ms per epoch"
                 % start_ms})
    calls, mixup_python = _profiled_counts(lambda: loop(preloaded), steps)
    threads = os.environ.get("OMP_NUM_THREADS", "MXNet's default")
    table("7a. The training loop taken apart (ResNet-20 3x28x28, MixUp, batch 128, %s "
          "OpenMP threads; %d of %d rounds kept, %d steps per sample; bound_over_this: the "
          "bound step's time over this row's, per round)" % (threads, len(clean), rounds, steps),
          rows, ["part", "ms_per_step", "range", "bound_over_this"])
    print("calls into MXNet per step of the loop: %s; MixUp's Python per step: %.2f ms"
          % (", ".join("%s %s" % kv_ for kv_ in calls.items()), mixup_python))
    return {"rows": rows, "calls_per_step": calls, "mixup_python_ms_per_step": mixup_python,
            "omp_threads": threads, "rounds_kept": len(clean), "rounds": rounds,
            "foreign_load_per_round": [round(x, 2) for x in loads], "steps": steps,
            "scoring": _scoring(config, lay, trainers, rounds)}
