"""Scoring a checkpoint: the scoring graph (no MixUp) with a checkpoint's parameters, its
predictions over a split, and its predictions under an FGSM / I-FGSM attack: white-box (the
attack is made with the scored network itself) or black-box (made with another run's network,
an :class:`AttackSource`, and scored on this one: does an attack transfer?).

The attack works on the raw image (pixel levels 0..255), through the per-channel mean/std
normalisation that the network sees:

    FGSM   x' = clip(x + eps * sign(grad_x loss(x, y)), 0, 255)
    I-FGSM K steps of size 2.5 * eps / K (Madry et al.'s choice for K-step attacks), each
           followed by projection onto the eps-ball around x and onto [0, 255]

where loss is the cross-entropy of the true label and grad_x is exact: the network's input
gradient divided by the channel's std (the chain rule through (x - mean) / std). The
gradient is taken in inference mode (BatchNorm with its moving statistics), the same function
that is scored. A black-box attack is the same computation on the source network, through the
source's own normalisation (the mean/std of the data it was trained on); the adversarial raw
image is then normalised as the scored network expects.
"""
from dataclasses import dataclass

import mxnet as mx
import numpy as np

from mixup_app.data import catalogue, iterators, records, trainset
from mixup_app import batchnorm, interrupts, runs
from mixup_app.metrics import predict
from mixup_app.progress import bar
from mixup_app.threads import decode_threads


@dataclass(frozen=True)
class Checkpoint:
    symbol: mx.sym.Symbol       # the scoring graph, ending in SoftmaxOutput
    arg_params: dict
    aux_params: dict


def load(run_dir, config, epoch, model=runs.PREFIX):
    """The scoring graph of a run with the parameters of `epoch` (``model``: the network's, or
    runs.TEACHER: a --semi run's teacher; CheckpointError if the file does not load)."""
    symbol = graph(config, catalogue.spec(config.dataset, config.data_dir).num_classes)
    args, auxs = runs.load_params(run_dir, epoch, model)
    return Checkpoint(symbol, args, auxs)


def graph(config, num_classes):
    """A run's scoring graph: its network without MixUp, ending in SoftmaxOutput (a training
    checkpoint's parameter names)."""
    import mixup_symbols
    return mixup_symbols.get_symbol(config.network, num_classes=num_classes,
                                    num_layers=config.num_layers, image_shape=config.image_shape,
                                    dtype=config.dtype, train=False)


@dataclass(frozen=True)
class AttackSource:
    """The network that makes the adversarial images: its checkpoint and the per-channel
    normalisation its input went through in training (the mean/std of its data's manifest),
    so that its input gradient is taken on what it was trained to see."""
    checkpoint: Checkpoint
    mean: tuple
    std: tuple


def module_for(checkpoint, batch_size, image_shape, contexts):
    module = mx.mod.Module(checkpoint.symbol, context=contexts)
    module.bind(data_shapes=[("data", (batch_size,) + tuple(image_shape))],
                label_shapes=[("softmax_label", (batch_size,))], for_training=False)
    module.set_params(checkpoint.arg_params, checkpoint.aux_params, allow_missing=False,
                      allow_extra=True)
    return module


def with_frozen_batchnorm(symbol):
    """The same graph with every BatchNorm on its moving statistics (use_global_stats): in
    training mode it computes exactly the inference function, so its backward is the exact
    gradient of what is scored. (MXNet 1.9.1's backward in inference mode,
    ``backward(is_train=False)``, gives the same gradient but runs about 30x slower than a
    forward on the CPU.)"""
    return batchnorm.with_attrs(symbol, use_global_stats=True)


class InputGradient:
    """grad_x of the cross-entropy of the true label, for batches of normalised inputs."""

    def __init__(self, checkpoint, batch_size, image_shape, ctx):
        shapes = {"data": (batch_size,) + tuple(image_shape), "softmax_label": (batch_size,)}
        symbol = with_frozen_batchnorm(checkpoint.symbol)
        req = {name: "null" for name in symbol.list_arguments()}
        req["data"] = "write"
        self.exe = symbol.simple_bind(ctx, grad_req=req, **shapes)
        self.exe.copy_params_from(checkpoint.arg_params, checkpoint.aux_params,
                                  allow_extra_params=True)

    def __call__(self, normalized, labels):
        self.exe.arg_dict["data"][:] = normalized
        self.exe.arg_dict["softmax_label"][:] = labels
        # training mode on the frozen-BatchNorm graph: the inference function (nothing in the
        # scoring graph behaves otherwise in training mode: no MixUp, no dropout in these
        # networks), with MXNet's fast backward; moving statistics are not updated
        self.exe.forward(is_train=True)
        # SoftmaxOutput's backward is p - onehot(y), the cross-entropy's gradient at the logits
        self.exe.backward()
        return self.exe.grad_dict["data"].asnumpy()

    def probabilities(self):
        return self.exe.outputs[0].asnumpy()


def attack(gradient, raw, labels, eps, steps, mean, std):
    """FGSM (steps=1) or I-FGSM images for a batch of raw images (N, C, H, W) in 0..255."""
    mean = np.asarray(mean, dtype=np.float64).reshape(1, -1, 1, 1)
    std = np.asarray(std, dtype=np.float64).reshape(1, -1, 1, 1)
    raw = raw.astype(np.float64)
    x = raw.copy()
    step = eps if steps == 1 else 2.5 * eps / steps
    for _ in range(steps):
        grad = gradient((x - mean) / std, labels) / std
        x = x + step * np.sign(grad)
        x = np.clip(np.clip(x, raw - eps, raw + eps), 0, 255)
    return x


def attacked_accuracy(checkpoint, config, data_dir, batch_size, ctx, eps_list, steps,
                      source=None):
    """{eps: (correct, count)} of the checkpoint on every validation image, attacked."""
    return {eps: _count(probs, labels) for eps, (probs, labels) in attacked_probabilities(
        checkpoint, config, data_dir, batch_size, ctx, eps_list, steps, source).items()}


def _count(probs, labels):
    return int((probs.argmax(axis=1) == labels).sum()), len(labels)


def attacked_probabilities(checkpoint, config, data_dir, batch_size, ctx, eps_list, steps,
                           source=None):
    """{eps: (probabilities (N, classes), labels)} of the checkpoint (config's run) on every
    validation image in order, each attacked with `steps` steps of size eps. The attack is made by
    `source` (an AttackSource: black-box), by default the checkpoint itself through this run's
    normalisation (white-box): one code path, so a black-box attack from the scored checkpoint
    is the white-box attack exactly."""
    manifest = records.load_manifest(data_dir, config.dataset)
    mean, std = manifest["mean"], manifest["std"]
    source = source or AttackSource(checkpoint, tuple(mean), tuple(std))
    gradient = InputGradient(source.checkpoint, batch_size, config.image_shape, ctx)
    scorer = module_for(checkpoint, batch_size, config.image_shape, [ctx])
    results = {}
    total = manifest["splits"]["val"]["count"]
    for eps in eps_list:
        batches = iterators.record_iter(data_dir, config.dataset, "val", batch_size,
                                   config.image_shape, train=False, normalize=False,
                                   threads=decode_threads(gpus=ctx.device_type == "gpu"))
        with bar(total, "%s eps %g" % ("FGSM" if steps == 1 else "I-FGSM", eps)) as pbar:
            results[eps] = _attacked_pass(batches, gradient, scorer, eps, steps, source,
                                          mean, std, pbar)
    return results


def _attacked_pass(batches, gradient, scorer, eps, steps, source, mean, std, pbar):
    """(probabilities, labels) over one pass of attacked images (padding dropped): made with
    `source`'s gradient through its normalisation, scored through this run's (mean, std)."""
    mean_b = np.asarray(mean).reshape(1, -1, 1, 1)
    std_b = np.asarray(std).reshape(1, -1, 1, 1)
    probs, truth = [], []
    for batch in batches:
        interrupts.check()
        raw = batch.data[0].asnumpy()
        labels = batch.label[0].asnumpy()
        adversarial = (attack(gradient, raw, labels, eps, steps, source.mean, source.std)
                       if eps else raw)
        scorer.forward(mx.io.DataBatch([mx.nd.array((adversarial - mean_b) / std_b)],
                                       [batch.label[0]]), is_train=False)
        keep = raw.shape[0] - batch.pad
        probs.append(scorer.get_outputs()[0].asnumpy()[:keep])
        truth.append(labels[:keep])
        pbar.update(keep)
    return np.concatenate(probs), np.concatenate(truth)


def predictions(checkpoint, config, data_dir, batch_size, contexts, split="val"):
    """(probabilities, labels) of every image of a split once, in order. split='train' scores
    the run's own training set (its subset and noisy labels), unaugmented."""
    records_path = None
    if split == "train":
        train_set = trainset.of_run(config)
        records_path = (train_set.rec, train_set.idx)
    batches = iterators.record_iter(data_dir, config.dataset, split, batch_size,
                               config.image_shape, train=False, records_path=records_path,
                               threads=decode_threads(gpus=any(c.device_type == "gpu"
                                                               for c in contexts)))
    module = module_for(checkpoint, batch_size, config.image_shape, contexts)
    return predict(module, batches, check=interrupts.check)
