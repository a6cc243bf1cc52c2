"""AdaMixup (Guo, Mao, Zhang, "MixUp as Locally Linear Out-Of-Manifold Regularization", AAAI
2019, arXiv 1809.02499): ``./train.sh --policy adaptive``, lambda's range learned per pair.

The training graph of one device's slice of n rows (n a multiple of 4; docs/TRAINING.md,
"Adaptive mixup (AdaMixup)", says which choices are the paper's and which are this code's):

* the slice is split into halves A and B (the iterator shuffles, so both are random);
* the policy-region generator (a small network of its own, :func:`generator`) sees each pair
  (A_i, A_{h-1-i}) (h = n/2: the MixUp op's ``pairing='flip'``, so the graph builds the partner
  itself, ``mx.sym.reverse``) and gives softmax(3 values) = (alpha, delta, the rest);
  lambda_i = alpha_i + delta_i * eps_i with eps_i ~ U(0, 1), a host-drawn data input keyed by
  (seed, epoch, rank, step) (:class:`EpsIter`), so every draw is reproducible and resume is
  exact;
* the MixUp op mixes A with ``lam_mode='input'`` (lambda from the graph, its exact gradient),
  ``pairing='flip'``, ``mix_rate=1``: h mixed points M with mixed labels;
* the classifier (the ResNet, unchanged parameter names) runs on [A; B; M] (one pass, one set
  of BatchNorm statistics): softmax cross-entropy on the originals A, B (output 0, named
  ``softmax`` as in every graph: validation reads it) and on M against the mixed labels (a
  MakeLoss of -sum(y log p), so lambda's gradient also comes through the mixed label);
* the intrusion discriminator, one logistic unit on the classifier's pooled features, is
  trained to call B real (1) and M mixed (0); the generator minimises the same intrusion
  loss (as in the paper, not adversarially: mixed points that look real are penalised) and the
  classification loss on M, both through lambda.

One joint SGD step on the summed losses updates everything (as the authors' code does). After
each epoch the ResNet's BatchNorm moving statistics are measured again on real training images
(mixup_app.fit.recalibrate): those of [A; B; M] batches are not what inference sees.
``./test.sh`` scores the ResNet alone: the generator's and discriminator's parameters are
extra entries of the checkpoint, which the scoring graph ignores.
"""
import functools

import numpy as np

EPS_NAME = "adamixup_eps"
GENERATOR = "adamixup_gen"
DISCRIMINATOR = "adamixup_disc"
# the losses' weights in the summed objective: the paper sums them with weight 1
MIXED_WEIGHT = 1.0
INTRUSION_WEIGHT = 1.0
# the columns of the graph's policy output (h, 5), one row per mixed point
POLICY_COLUMNS = ("alpha", "upper", "eps", "lam", "p_real")
# what an epoch's metrics row records (means over the epoch's mixed points)
ROW_FIELDS = ("policy_low", "policy_high", "intrusion_accuracy", "mixed_loss")
# ./tools.sh report's columns of lambda's range (numbers in [0, 1], not percentages)
LAMBDA_FIGURES = ("λ low", "λ high")
# a stream of draws of its own: never the same as another consumer's of the same seed
_EPS_STREAM = 0xADA


def adaptive(config):
    return getattr(config, "policy", "fixed") == "adaptive"


def refusal(config):
    """None, or the one line that refuses the options --policy adaptive cannot go with."""
    if not adaptive(config):
        return None
    m = config.mixing
    wrong = [(flag, value) for flag, value, ok in (
        ("--mode", m.mode, m.mode == "mixup"),
        ("--mixup-at", config.mixup_at, config.mixup_at == "input"),
        ("--network", config.network, config.network == "resnet"),
        ("--lam-mode", m.lam_mode, m.lam_mode == "batch"),
        ("--pairing", m.pairing, m.pairing == "random"),
        ("--num-mix", m.num_mix, m.num_mix == 2),
        ("--label-mode", m.label_mode, m.label_mode == "mixed"),
        ("--label-smoothing", m.label_smoothing, m.label_smoothing == 0),
        ("--mix-rate", m.mix_rate, m.mix_rate > 0),
        ("--mixup-off-epochs", config.mixup_off_epochs, config.mixup_off_epochs == 0),
        ("--dtype", config.dtype, config.dtype == "float32")) if not ok]
    if wrong:
        return ("--policy adaptive (AdaMixup: lambda learned, mixup at the input of a resnet, "
                "float32) cannot go with %s" % ", ".join("%s %s" % w for w in wrong))
    devices = len(config.gpus) or config.cpu_devices
    if config.batch_size % (4 * devices):
        return ("--policy adaptive needs --batch-size a multiple of 4 x %d device(s) (each "
                "device's slice is halved, and the mixed half paired row i with row h-1-i), "
                "got %d" % (devices, config.batch_size))
    return None


def describe(config):
    return "AdaMixup (lambda range learned, half of each batch mixed) at input"


# ---------------------------------------------------------------------------- the graph

def generator(pair, name=GENERATOR):
    """The policy-region generator: a pair (x, x') as 2C channels -> (alpha, delta, rest), the
    softmax of 3 values (each row sums to 1, so [alpha, alpha + delta] lies in [0, 1])."""
    import mxnet as mx
    body = mx.sym.BatchNorm(pair, fix_gamma=True, eps=2e-5, momentum=0.9, name=name + "_bn0")
    for k, (filters, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
        body = mx.sym.Convolution(body, num_filter=filters, kernel=(3, 3), stride=(stride,) * 2,
                                  pad=(1, 1), no_bias=True, name="%s_conv%d" % (name, k))
        body = mx.sym.BatchNorm(body, fix_gamma=False, eps=2e-5, momentum=0.9,
                                name="%s_bn%d" % (name, k))
        body = mx.sym.Activation(body, act_type="relu", name="%s_relu%d" % (name, k))
    body = mx.sym.Pooling(body, global_pool=True, kernel=(1, 1), pool_type="avg",
                          name=name + "_pool")
    logits = mx.sym.FullyConnected(mx.sym.flatten(body), num_hidden=3, name=name + "_fc")
    return mx.sym.softmax(logits, axis=1)


def training_graph(config, num_classes):
    """The AdaMixup training graph of ``config`` (a Group; see the module's docstring)."""
    return _graph(config.num_layers, tuple(config.image_shape), num_classes)


@functools.lru_cache(maxsize=1)
def _graph(num_layers, image_shape, num_classes):
    import mxnet as mx
    import mixup
    from mixup_symbols import resnet
    eps = mx.sym.var(EPS_NAME)
    made = {}

    def adaptive_input(data, label, **_):
        """resnet's input hook (mixup_impl): [A; B] -> [A; B; M], M mixed from A."""
        first, _second = mx.sym.split(data, num_outputs=2, axis=0)
        first_label = mx.sym.split(label, num_outputs=2, axis=0)[0]
        first_eps = mx.sym.split(eps, num_outputs=2, axis=0)[0]
        region = generator(mx.sym.concat(first, mx.sym.reverse(first, axis=0), dim=1))
        alpha = mx.sym.reshape(mx.sym.slice_axis(region, axis=1, begin=0, end=1), shape=(-1,))
        delta = mx.sym.reshape(mx.sym.slice_axis(region, axis=1, begin=1, end=2), shape=(-1,))
        # in [alpha, alpha + delta] within [0, 1]; clip only absorbs float32 rounding at 1
        lam = mx.sym.clip(alpha + delta * first_eps, 0.0, 1.0)
        mixed, mixed_label = mixup.symbol(first, first_label, lam=lam, name="mixup",
                                          num_classes=num_classes, lam_mode="input",
                                          pairing="flip", mix_rate=1.0)
        made.update(label=label, alpha=alpha, upper=alpha + delta, eps=first_eps, lam=lam,
                    mixed_label=mixed_label)
        return mx.sym.concat(data, mixed, dim=0), label

    net = resnet.get_symbol(num_classes, num_layers, image_shape, mixup_at="input",
                            mixup_impl=adaptive_input, train=True)
    internals = net.get_internals()
    logits_a, logits_b, logits_m = mx.sym.split(internals["fc_output"], num_outputs=3, axis=0)
    features = mx.sym.flatten(internals["pool_output"])
    _features_a, features_b, features_m = mx.sym.split(features, num_outputs=3, axis=0)
    label = made["label"]  # resnet's own variable (a second one of that name would not bind)
    originals = resnet.loss(mx.sym.concat(logits_a, logits_b, dim=0), label)
    mixed_ce = -mx.sym.sum(made["mixed_label"] * mx.sym.log_softmax(logits_m, axis=1), axis=1)
    mixed_loss = mx.sym.MakeLoss(mixed_ce, grad_scale=MIXED_WEIGHT, name="adamixup_mixed_loss")
    real_or_mixed = mx.sym.FullyConnected(mx.sym.concat(features_b, features_m, dim=0),
                                          num_hidden=1, name=DISCRIMINATOR + "_fc")
    logit_b, logit_m = mx.sym.split(real_or_mixed, num_outputs=2, axis=0)
    target = mx.sym.BlockGrad(mx.sym.concat(mx.sym.ones_like(logit_b),
                                            mx.sym.zeros_like(logit_m), dim=0))
    intrusion = mx.sym.LogisticRegressionOutput(real_or_mixed, label=target,
                                                grad_scale=INTRUSION_WEIGHT,
                                                name="adamixup_intrusion")
    policy = mx.sym.stack(made["alpha"], made["upper"], made["eps"], made["lam"],
                          mx.sym.reshape(mx.sym.sigmoid(logit_m), shape=(-1,)), axis=1)
    # outputs: 0 the originals' probabilities, 1 their one-hot labels (training metrics),
    # 2 the mixed points' cross-entropy, 3 the discriminator's P(real) of [B; M], 4 the policy
    return mx.sym.Group([originals, mx.sym.BlockGrad(mx.sym.one_hot(label, num_classes)),
                         mixed_loss, intrusion, mx.sym.BlockGrad(policy)])


# ---------------------------------------------------------------------------- eps, the data

def extra_data(config):
    """The training graph's data inputs besides ``data``: [(name, shape)]."""
    return [(EPS_NAME, (config.batch_size,))] if adaptive(config) else []


def val_batch(config, batch, devices):
    """The validation batch: with AdaMixup the graph halves each device's slice, so a multiple
    of 2 x devices (the iterator pads the last batch as always)."""
    if not adaptive(config):
        return batch
    rounded = batch - batch % (2 * devices)
    if rounded == 0:
        raise ValueError("--policy adaptive validates in batches of a multiple of 2 x %d "
                         "device(s): the validation set has only %d images" % (devices, batch))
    return rounded


def eps_draws(key, batch, step):
    """eps ~ U(0, 1) of one batch (float32 (batch,)): a pure function of ``key`` (seed,
    epoch, rank) and the step within the epoch."""
    rng = np.random.default_rng([_EPS_STREAM] + [int(k) for k in key] + [int(step)])
    return rng.random(batch).astype(np.float32)


def with_eps(config, batches, key=None):
    """``batches`` with eps as a second data input (``key`` None: zeros, for validation, where
    MixUp does not mix), or ``batches`` as they are without AdaMixup."""
    return EpsIter(batches, key) if adaptive(config) else batches


def _eps_iter_class():
    import mxnet as mx

    class EpsIter(mx.io.DataIter):
        """A data iterator's batches with eps appended to their data (see :func:`eps_draws`)."""

        def __init__(self, inner, key=None):
            super().__init__(inner.batch_size)
            self._inner, self._key, self._step = inner, key, 0
            self.provide_data = list(inner.provide_data) + [
                mx.io.DataDesc(EPS_NAME, (inner.batch_size,), np.float32)]
            self.provide_label = inner.provide_label

        def reset(self):
            self._inner.reset()
            self._step = 0

        def next(self):
            batch = self._inner.next()
            size = batch.data[0].shape[0]
            eps = (np.zeros(size, np.float32) if self._key is None
                   else eps_draws(self._key, size, self._step))
            self._step += 1
            return mx.io.DataBatch(data=list(batch.data) + [mx.nd.array(eps, dtype=np.float32)],
                                   label=batch.label, pad=batch.pad, index=batch.index,
                                   provide_data=self.provide_data,
                                   provide_label=self.provide_label)
    return EpsIter


def EpsIter(inner, key=None):  # noqa: N802  (a class made when MXNet is loaded)
    return _eps_iter_class()(inner, key)


# ---------------------------------------------------------------------------- what is recorded

class PolicyMeter:
    """An epoch's means over its mixed points, summed on the device (read once, by get):
    lambda's range (alpha, alpha + delta), the discriminator's accuracy on the mixed points
    (P(real) < 1/2) and their cross-entropy."""

    def __init__(self):
        self._sums, self._count = None, 0

    def update(self, outputs):
        import mxnet as mx
        policy, mixed_ce = outputs[4], outputs[2]
        sums = mx.nd.concat(policy[:, 0:2].sum(axis=0),
                            (policy[:, 4] < 0.5).sum().reshape((1,)),
                            mixed_ce.sum().reshape((1,)), dim=0).as_in_context(mx.cpu())
        self._sums = sums if self._sums is None else self._sums + sums
        self._count += policy.shape[0]

    def get(self):
        if not self._count:
            return {}
        sums = self._sums.asnumpy().astype(np.float64) / self._count
        return dict(zip(ROW_FIELDS, (round(float(v), 6) for v in sums)))


def meter(config):
    return PolicyMeter() if adaptive(config) else None


def row_text(row):
    """The epoch line's words for the policy ("" without it)."""
    if "policy_low" not in row:
        return ""
    return "  lambda in [%.3f, %.3f] intrusion acc %.3f" % (
        row["policy_low"], row["policy_high"], row["intrusion_accuracy"])


def report_figures(rows):
    """The last epoch's policy figures for ./tools.sh report ({} without AdaMixup)."""
    last = [r for r in rows if "policy_low" in r]
    if not last:
        return {}
    row = last[-1]
    return dict(zip(LAMBDA_FIGURES, (row["policy_low"], row["policy_high"])),
                **{"intrusion acc": row["intrusion_accuracy"]})
