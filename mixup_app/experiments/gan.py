"""mixup in a GAN's discriminator, on 2-D mixtures of Gaussians (the mixup paper's section 3.6
and figure 5), as the authors' demo (gan/example_gan.py of hongyi-zhang/mixup) runs it.

    ./tools.sh gan --shape ring|grid [--alpha A] [--lam-law authors|beta] [--lr LR] [--seed S]
                   [--iterations N] [--hidden H] [--latent Z] --out DIR

Data: ring = 8 Gaussians centred at angle 2*pi*k/8 on the unit circle (x = sin, y = cos);
grid = 25 Gaussians centred on {-1, -0.5, 0, 0.5, 1}^2; standard deviation 0.01, modes drawn
uniformly. G maps Z-dimensional standard normal noise to 2-D points, D a 2-D point to its
logits; both are MLPs of 3 hidden ReLU layers of H units, initialised as PyTorch's Linear
layers (weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))), trained by Adam with the
authors' (PyTorch's default) settings: learning rate 1e-3, betas 0.9 / 0.999, epsilon 1e-8.
One iteration is 5 D steps and one G step; a batch is 128 real points (class real) and 128
points G makes from fresh noise (class fake), its loss the mean cross-entropy over its 256
points.

D's batches with --alpha A > 0, by --lam-law:
  authors (default; the demo's, figure 5): two such batches drawn independently and each
          shuffled, mixed point by point: x = u * x1 + (1 - u) * x2, its label alike, one
          u ~ U(0, A) per point (with A = 0.2 the second batch's point keeps at least 80%).
  beta    the paper's law for classification, not its GAN demo's: one batch through the
          project's MixUp op (mix_rate 1, lam_mode sample: one lambda ~ Beta(A, A) per point,
          its partner any other point of the batch, real or fake).
--alpha 0 is the plain GAN. The G step is the demo's minimax one: G ascends D's mean
cross-entropy on a batch of 128 real and 128 fresh fake points (no mixing); only the fakes
carry G's gradient.

Where this differs from the demo (every difference we know of): D has two logits and a softmax
(the demo: one logit and a sigmoid; the same loss as a function of the logit difference, one
more output unit); the demo runs 20001 iterations (0..20000), this --iterations; the
randomness is numpy's and MXNet's, seeded by --seed (the demo is unseeded); the demo's
alpha = 0 shortcut is the same (no second batch).

Mode coverage, measured on the 2500 points G makes at the end from noise fixed at the start
(and at every snapshot): for each radius r in 0.03 (3 std) and 0.1, a point is of high quality
when its nearest mode is within r; a mode is covered when at least half its share
(0.5 * 2500 / K) of the points lie within r of it. (Counting a mode as found when a single
point lands near it is passed by uniform noise: ./tools.sh gan-report prints the noise
baseline beside every table.)

Writes DIR/samples.npy (the final 2500 points), DIR/metrics.json (the setting, the coverage at
both radii, the same at every snapshot, timings), DIR/snapshots.npz (the fixed noise's points at
iterations 10, 100, 1000, ... and the last, beside a real sample) and DIR/samples.png.
./tools.sh gan-report compares runs and draws the paper's figure-5 layout.
"""
import json
import os
import shutil
import sys
import time

from mixup_app import threads

if __name__ == "__main__":
    threads.configure_or_reexec("mixup_app.experiments.gan")

import mixup  # noqa: E402  (first: sets MXNet switches before MXNet loads)
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

from mixup_app import plots  # noqa: E402
from mixup_app.cli import ArgumentParser, add  # noqa: E402
from mixup_app.console import quiet_native_repeats  # noqa: E402
from mixup_app.files import atomic_path, load_json, write_atomic  # noqa: E402
from mixup_app.interrupts import INTERRUPTED, StopRequest  # noqa: E402
from mixup_app.progress import bar  # noqa: E402

from mixup.mixing import RowMixing  # noqa: E402

SHAPES = ("ring", "grid")
LAM_LAWS = ("authors", "beta")
STD = 0.01  # of every Gaussian of the data
BATCH = 128  # real points per batch, and as many fakes
D_STEPS = 5  # D steps per G step
SAMPLES = 2500  # points generated from the fixed noise (100 per mode of the grid)
# Adam as the demo's torch.optim.Adam(params): PyTorch's defaults. Given explicitly: MXNet's
# Module.init_optimizer without optimizer_params uses learning rate 0.01 (ten times this).
LEARNING_RATE = 1e-3
ADAM = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
# mode coverage: radii (3 std, and 0.1), and the share of a mode's expected points that must
# lie within the radius for it to count as covered
RADII = (3 * STD, 0.1)
COVERED_SHARE = 0.5
# the square every picture shows (the modes of either shape lie within [-1, 1]^2, and a
# margin); the noise baseline is uniform over it
VIEW = (-1.3, 1.3)
METRICS_FORMAT = 2  # metrics.json's layout (1: before the coverage at two radii)


def modes(shape):
    """The (K, 2) centres of the mixture."""
    if shape == "ring":
        angles = 2 * np.pi * np.arange(8) / 8
        return np.stack([np.sin(angles), np.cos(angles)], axis=1)
    if shape == "grid":
        axis = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
        return np.array([(x, y) for x in axis for y in axis])
    raise ValueError("shape must be ring or grid, got %r" % (shape,))


def sample_real(rng, shape, count, std=STD):
    centres = modes(shape)
    return centres[rng.integers(len(centres), size=count)] + rng.normal(0, std, (count, 2))


def quality(points, centres, radius, share=COVERED_SHARE):
    """Mode coverage of generated ``points`` (M, 2) against the mixture's ``centres`` (K, 2)
    within ``radius``: {"radius", "high_quality": the fraction of points whose nearest centre
    is within radius, "modes": how many centres have at least share * M / K such points,
    "mode_counts": such points per centre}."""
    points = np.asarray(points, dtype=np.float64)
    distances = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(points)), nearest] <= radius
    counts = np.bincount(nearest[good], minlength=len(centres))
    needed = share * len(points) / len(centres)
    return {"radius": radius, "high_quality": float(good.mean()) if len(points) else 0.0,
            "modes": int(((counts >= needed) & (counts > 0)).sum()),
            "mode_counts": counts.tolist()}


def coverage(points, centres):
    """quality() at every radius of RADII."""
    return [quality(points, centres, radius) for radius in RADII]


def noise_baseline(shape, draws=20, samples=SAMPLES, seed=0):
    """What a 'generator' of uniform noise over the plotted square scores: coverage() of
    ``draws`` independent draws of ``samples`` points, as {radius: (mean modes, mean
    high-quality fraction)}."""
    rng = np.random.default_rng([seed, 7])
    measured = [coverage(rng.uniform(*VIEW, size=(samples, 2)), modes(shape))
                for _ in range(draws)]
    return {radius: (float(np.mean([m[k]["modes"] for m in measured])),
                     float(np.mean([m[k]["high_quality"] for m in measured])))
            for k, radius in enumerate(RADII)}


def snapshot_iterations(iterations):
    """Where the picture looks: 10, 100, 1000, ... below ``iterations``, and the last."""
    marks = [10 ** k for k in range(1, 9) if 10 ** k < iterations]
    return marks + [iterations]


def two_batch_mix(first, first_labels, second, second_labels, weight):
    """The demo's mixing of two batches of equal size: row i is weight[i] * first[i] +
    (1 - weight[i]) * second[i], its label alike (labels as probability rows). Carried out by
    the op's own row map (RowMixing over the two batches stacked, each row of the first
    partnered with its row of the second)."""
    count = len(first)
    partner = np.r_[np.arange(count, 2 * count), np.arange(count)]
    plan = RowMixing(np.r_[weight, np.ones(count)], np.r_[1 - weight, np.zeros(count)],
                     partner)
    return (plan.apply_numpy(np.concatenate([first, second]))[:count],
            plan.apply_numpy(np.concatenate([first_labels, second_labels]))[:count])


class Gan:
    """G and D as bound MXNet modules (mixup_symbols/mlp.py).

    ``d_train`` is D's training graph: with the MixUp node on its input for lam_law 'beta'
    (class-index labels), else without it (probability labels: the authors' law mixes on the
    host); ``d_score`` is D without it, sharing d_train's parameters, through which the G step
    takes the gradient of D's loss with respect to G's points."""

    def __init__(self, *, alpha, hidden, latent, seed, lam_law="authors", lr=LEARNING_RATE,
                 monitor=None):
        import mixup_symbols.mlp
        widths = [hidden] * 3
        self.latent, self.alpha, self.lam_law = latent, alpha, lam_law
        mx.random.seed(seed)  # initial weights and the MixUp node's draws
        # every loss is a mean over the 2 * BATCH points of a batch (the demo's bce): the
        # loss's normalization is 'null', so the optimizers divide
        optimizer_params = dict(ADAM, learning_rate=lr, rescale_grad=1.0 / (2 * BATCH))
        self.g = mx.mod.Module(mixup_symbols.mlp.body(mx.sym.var("noise"), widths, 2, prefix="g_"),
                               data_names=["noise"], label_names=None)
        self.g.bind(data_shapes=[("noise", (BATCH, latent))])
        mixup_symbols.mlp.init_like_pytorch(self.g)
        self.g.init_optimizer(optimizer="adam", optimizer_params=optimizer_params)
        through_op = bool(alpha) and lam_law == "beta"
        self.d_train = mx.mod.Module(
            mixup_symbols.mlp.get_symbol(2, widths, alpha=alpha if through_op else None,
                                   lam_mode="sample", prefix="d_"),
            data_names=["data"], label_names=["softmax_label"])
        label_shape = (2 * BATCH,) if through_op or not alpha else (2 * BATCH, 2)
        self.d_train.bind(data_shapes=[("data", (2 * BATCH, 2))],
                          label_shapes=[("softmax_label", label_shape)])
        mixup_symbols.mlp.init_like_pytorch(self.d_train)
        self.d_train.init_optimizer(optimizer="adam", optimizer_params=optimizer_params)
        if monitor is not None:
            self.d_train.install_monitor(monitor)
        self.monitor = monitor
        scoring = mixup_symbols.mlp.get_symbol(2, widths, train=False, prefix="d_")
        self.d_score = mx.mod.Module(
            scoring, data_names=["data"], label_names=["softmax_label"],
            fixed_param_names=[n for n in scoring.list_arguments()
                               if n not in ("data", "softmax_label")])
        self.d_score.bind(data_shapes=[("data", (2 * BATCH, 2))],
                          label_shapes=[("softmax_label", (2 * BATCH,))], inputs_need_grad=True,
                          shared_module=self.d_train)
        self.classes = np.r_[np.ones(BATCH), np.zeros(BATCH)]  # real 1, fake 0

    def _generate(self, noise):
        self.g.forward(mx.io.DataBatch([mx.nd.array(noise)]), is_train=False)
        return self.g.get_outputs()[0]

    def real_and_fake(self, rng, shape):
        """One batch as the demo draws it: 128 real points, then 128 of G's from fresh noise,
        and their classes (numpy)."""
        real = sample_real(rng, shape, BATCH)
        fake = self._generate(rng.normal(size=(BATCH, self.latent))).asnumpy()
        return np.concatenate([real, fake]), self.classes

    def d_batch(self, rng, shape):
        """D's training batch and its labels, as --alpha and --lam-law say."""
        points, classes = self.real_and_fake(rng, shape)
        if not self.alpha or self.lam_law == "beta":  # the op (if any) mixes in the graph
            return points, classes
        order = rng.permutation(2 * BATCH)
        first, first_classes = points[order], np.eye(2)[classes[order].astype(int)]
        points, classes = self.real_and_fake(rng, shape)
        order = rng.permutation(2 * BATCH)
        second, second_classes = points[order], np.eye(2)[classes[order].astype(int)]
        return two_batch_mix(first, first_classes, second, second_classes,
                             rng.uniform(0, self.alpha, 2 * BATCH))

    def d_step(self, points, labels):
        if self.monitor is not None:
            self.monitor.tic()
        self.d_train.forward_backward(mx.io.DataBatch([mx.nd.array(points)],
                                                      [mx.nd.array(labels)]))
        self.d_train.update()
        if self.monitor is not None:
            self.monitor.toc()

    def g_step(self, rng, shape):
        """The demo's G step: D's mean cross-entropy on 128 real and 128 fresh fake points,
        ascended by G (only the fakes depend on it)."""
        real = sample_real(rng, shape, BATCH)
        self.g.forward(mx.io.DataBatch([mx.nd.array(rng.normal(size=(BATCH, self.latent)))]),
                       is_train=True)
        points = mx.nd.concat(mx.nd.array(real), self.g.get_outputs()[0], dim=0)
        self.d_score.forward(mx.io.DataBatch([points], [mx.nd.array(self.classes)]),
                             is_train=True)
        self.d_score.backward()
        # the loss's gradient at the fakes; G's optimizer divides by the 2 * BATCH points
        self.g.backward([-self.d_score.get_input_grads()[0][BATCH:]])
        self.g.update()

    def state(self):
        """{"arrays": {"g"|"d": {name: NDArray}} (parameters, Adam's two moments), "counts":
        {"g"|"d": {index: Adam's steps}}}: what a resumed run needs of the networks."""
        arrays, counts = {}, {}
        for net, module in (("g", self.g), ("d", self.d_train)):
            params = dict(module.get_params()[0])
            updater, optimizer = module._updater, module._optimizer  # no public accessor
            for index, (mean, var) in updater.states.items():
                name = optimizer.idx2name[index]
                params["adam_mean:" + name], params["adam_var:" + name] = mean, var
            arrays[net] = {k: v.copy() for k, v in params.items()}
            counts[net] = dict(optimizer._index_update_count)
        return {"arrays": arrays, "counts": counts}

    def load_state(self, state):
        for net, module in (("g", self.g), ("d", self.d_train)):
            arrays = state["arrays"][net]
            names = list(module.get_params()[0])
            missing = [n for n in names if n not in arrays]
            if missing:
                raise ValueError("%s.params lacks %s" % (net, ", ".join(missing)))
            module.set_params({n: arrays[n] for n in names}, {})
            updater, optimizer = module._updater, module._optimizer
            for index, name in optimizer.idx2name.items():
                updater.states[index] = (arrays["adam_mean:" + name].copy(),
                                         arrays["adam_var:" + name].copy())
                updater.states_synced[index] = True
            optimizer._index_update_count.update(state["counts"][net])
            optimizer.num_update = max(state["counts"][net].values(), default=0)

    def generate(self, noise):
        """G's points for ``noise`` (M, latent) of any M, as numpy."""
        module = mx.mod.Module(self.g.symbol, data_names=["noise"], label_names=None)
        module.bind(data_shapes=[("noise", noise.shape)], for_training=False)
        module.set_params(*self.g.get_params())
        module.forward(mx.io.DataBatch([mx.nd.array(noise)]), is_train=False)
        return module.get_outputs()[0].asnumpy()


def train(shape, *, alpha, seed, iterations, hidden, latent, lam_law="authors",
          lr=LEARNING_RATE, progress=None, monitor=None, resume=None, stop=None,
          save=None, save_every=0):
    """Train one GAN; returns {"snapshots": [(iteration, points)], "real": a real sample of
    SAMPLES points, "seconds": training time, "cpu_seconds": the process's CPU time in it (on
    a shared machine the better measure of cost)}. The fixed noise, the data, the noise of
    every step and the host's mixing weights are drawn from numpy generators seeded with
    ``seed``.

    ``resume``: a checkpoint's state (:func:`read_checkpoint`) to continue from, so that the
    run goes on exactly as if it had not stopped (parameters, Adam's moments and step counts,
    the generator's state, the MixUp node's step). ``save(state)`` is called with the state
    every ``save_every`` iterations and when ``stop.check()`` (called after each iteration)
    raises KeyboardInterrupt, which then propagates."""
    done = resume["iteration"] if resume else 0
    mixup.seek(done * D_STEPS)  # the MixUp node (lam_law beta) continues at its step
    gan = Gan(alpha=alpha, hidden=hidden, latent=latent, seed=seed, lam_law=lam_law, lr=lr,
              monitor=monitor)
    fixed = np.random.default_rng([seed, 1])
    fixed_noise = fixed.normal(size=(SAMPLES, latent))
    real_sample = sample_real(fixed, shape, SAMPLES)
    rng = np.random.default_rng([seed, 0])
    snapshots, seconds, cpu_seconds = [], 0.0, 0.0
    if resume:
        gan.load_state(resume)
        rng.bit_generator.state = resume["rng"]
        snapshots = list(resume["snapshots"])
        seconds, cpu_seconds = resume["seconds"], resume["cpu_seconds"]
    if progress is not None:
        progress.update(done)
    marks = set(snapshot_iterations(iterations))
    tic, cpu_tic = time.time(), time.process_time()

    def state(iteration):
        return dict(gan.state(), iteration=iteration, rng=rng.bit_generator.state,
                    snapshots=snapshots, seconds=seconds + time.time() - tic,
                    cpu_seconds=cpu_seconds + time.process_time() - cpu_tic)

    for iteration in range(done + 1, iterations + 1):
        for _ in range(D_STEPS):
            gan.d_step(*gan.d_batch(rng, shape))
        gan.g_step(rng, shape)
        if iteration in marks:
            snapshots.append((iteration, gan.generate(fixed_noise)))
        if progress is not None:
            progress.update(1)
        try:
            if stop is not None:
                stop.check()
        except KeyboardInterrupt:
            if save is not None and iteration < iterations:
                save(state(iteration))
            raise
        if save is not None and save_every and iteration % save_every == 0 \
                and iteration < iterations:
            save(state(iteration))
    final = state(iterations)
    return {"snapshots": snapshots, "real": real_sample, "seconds": final["seconds"],
            "cpu_seconds": final["cpu_seconds"]}


# ------------------------------------------------------------------ checkpoints (resume)

CHECKPOINT = "checkpoint"  # the run directory's folder of the last saved state
CHECKPOINT_FORMAT = 1


def write_checkpoint(out, setting, state):
    """The state of an unfinished run into OUT/checkpoint/: the networks' parameters and Adam's
    moments (MXNet's own .params format, which holds only arrays), the snapshots so far, and
    state.json (the setting, the iteration, Adam's step counts, the generator's state, the
    timings) written last, so a state.json always describes complete arrays."""
    folder = os.path.join(out, CHECKPOINT)
    os.makedirs(folder, exist_ok=True)
    for net in ("g", "d"):
        with atomic_path(os.path.join(folder, net + ".params")) as tmp:
            mx.nd.save(tmp, state["arrays"][net])
    with atomic_path(os.path.join(folder, "snapshots.npz")) as tmp:
        np.savez(tmp, iterations=np.array([i for i, _ in state["snapshots"]], dtype=np.int64),
                 fake=np.array([p for _, p in state["snapshots"]]).reshape(-1, SAMPLES, 2))
    described = {k: state[k] for k in ("iteration", "rng", "seconds", "cpu_seconds", "counts")}
    write_atomic(os.path.join(folder, "state.json"), json.dumps(
        dict(described, format=CHECKPOINT_FORMAT, setting=setting), indent=1) + "\n")


def read_checkpoint(out, setting):
    """The saved state of OUT (None if it has none), checked: ValueError naming the file when
    it is not one of ours, or when it was saved with another setting."""
    folder = os.path.join(out, CHECKPOINT)
    path = os.path.join(folder, "state.json")
    if not os.path.exists(path):
        return None
    try:
        saved = load_json(path)
        if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a checkpoint of this version of ./tools.sh gan")
        differing = sorted(k for k in set(setting) | set(saved["setting"])
                           if saved["setting"].get(k) != setting.get(k))
        if differing:
            raise ValueError("saved with another setting (%s): give another --out, or the "
                             "same options to continue it" % ", ".join(
                                 "--%s %s there" % (k.replace("_", "-"), saved["setting"].get(k))
                                 for k in differing))
        iteration = saved["iteration"]
        if not (type(iteration) is int and 0 < iteration < setting["iterations"]):
            raise ValueError("iteration %r is not within the run" % (iteration,))
        arrays = {net: mx.nd.load(os.path.join(folder, net + ".params")) for net in ("g", "d")}
        with np.load(os.path.join(folder, "snapshots.npz"), allow_pickle=False) as shots:
            snapshots = list(zip(shots["iterations"].tolist(), shots["fake"]))
        if any(i > iteration for i, _ in snapshots):
            raise ValueError("holds snapshots after its iteration")
        counts = {net: {int(k): int(v) for k, v in saved["counts"][net].items()}
                  for net in ("g", "d")}
        return {"iteration": iteration, "rng": saved["rng"], "arrays": arrays,
                "snapshots": snapshots, "counts": counts,
                "seconds": float(saved["seconds"]), "cpu_seconds": float(saved["cpu_seconds"])}
    except ValueError as error:
        if "another setting" in str(error):
            raise ValueError("%s: %s" % (path, error)) from None
        raise ValueError("%s cannot be resumed from (%s); delete %s to start over"
                         % (path, error, folder)) from None
    except (OSError, KeyError, TypeError, AttributeError, mx.base.MXNetError) as error:
        raise ValueError("%s cannot be resumed from (%s: %s); delete %s to start over"
                         % (path, type(error).__name__, str(error).splitlines()[0][:200],
                            folder)) from None


def write_run(out, shape, result, setting):
    """samples.npy, snapshots.npz, metrics.json and samples.png of a finished run."""
    centres = modes(shape)
    final = result["snapshots"][-1][1]
    with atomic_path(os.path.join(out, "samples.npy")) as tmp:
        np.save(tmp, final)
    with atomic_path(os.path.join(out, "snapshots.npz")) as tmp:
        np.savez(tmp, iterations=np.array([i for i, _ in result["snapshots"]]),
                 fake=np.stack([p for _, p in result["snapshots"]]), real=result["real"])
    metrics = dict(setting, format=METRICS_FORMAT, num_modes=len(centres),
                   covered_share=COVERED_SHARE, coverage=coverage(final, centres))
    metrics["history"] = [
        {"iteration": i, "coverage": [{k: v for k, v in q.items() if k != "mode_counts"}
                                      for q in coverage(p, centres)]}
        for i, p in result["snapshots"]]
    for clock in ("seconds", "cpu_seconds"):
        metrics[clock] = round(result[clock], 2)
    metrics["ms_per_iteration"] = round(1000 * result["seconds"] / setting["iterations"], 3)
    metrics["cpu_ms_per_iteration"] = round(
        1000 * result["cpu_seconds"] / setting["iterations"], 3)
    write_atomic(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=1) + "\n")
    plots.point_clouds(
        [[(result["real"], points) for _, points in result["snapshots"]]],
        os.path.join(out, "samples.png"),
        column_titles=["iteration %d" % i for i, _ in result["snapshots"]],
        row_titles=[describe(setting)], limits=VIEW)
    return metrics


def describe(setting):
    if not setting["alpha"]:
        return "ERM"
    if setting.get("lam_law", "beta") == "beta":
        return "mixup λ~Beta(%g, %g)" % (setting["alpha"], setting["alpha"])
    return "mixup u~U(0, %g), 2 batches" % setting["alpha"]


def summary(metrics):
    """One line of a run's coverage at both radii."""
    return ", ".join("%d of %d modes and %.1f%% of points within %g" % (
        q["modes"], metrics["num_modes"], 100 * q["high_quality"], q["radius"])
        for q in metrics["coverage"])


def main(argv=None):
    parser = ArgumentParser(prog="./tools.sh gan", description=__doc__)
    parser.add_argument("--shape", required=True, choices=SHAPES, help="ring (8 modes) or "
                        "grid (25 modes)")
    add(parser, "--alpha", 0.0, "0: plain GAN; > 0: D's batches mixed as --lam-law says "
        "(the demo's figure 5: 0.2)", type=float)
    parser.add_argument("--lam-law", default="authors", choices=LAM_LAWS,
                        help="authors: two shuffled batches mixed with u ~ U(0, alpha) on the "
                        "first (the demo's); beta: one batch through the MixUp op, lambda ~ "
                        "Beta(alpha, alpha) per point (default: authors)")
    add(parser, "--lr", LEARNING_RATE, "Adam's learning rate of G and D (the demo: PyTorch's "
        "default 1e-3)", type=float)
    add(parser, "--seed", 0, "initial weights, data, noise and the mixing draws", type=int)
    add(parser, "--iterations", 20000, "iterations of 5 D steps and one G step (the paper: "
        "20000)", type=int)
    add(parser, "--hidden", 512, "units of each of the 3 hidden layers of G and D (the "
        "paper: 512)", type=int)
    add(parser, "--latent", 2, "dimensions of G's noise (the authors' demo: 2, 5 or 10)",
        type=int)
    add(parser, "--save-every", 500, "save the run's state every N iterations (and when "
        "stopped by Ctrl-C): the same command continues it", type=int)
    threads.add_option(parser)
    parser.add_argument("--out", required=True, help="the run's directory (the same options "
                        "again continue an unfinished run)")
    args = parser.parse_args(argv)
    if not args.alpha >= 0 or not np.isfinite(args.alpha):
        parser.fail("--alpha must be >= 0 (0: the plain GAN), got %g" % args.alpha)
    if args.alpha and args.lam_law == "beta":
        try:
            mixup.parse(num_classes=2, alpha=args.alpha, lam_mode="sample")
        except ValueError as error:
            parser.fail("--alpha: %s" % error)
    if args.alpha > 1 and args.lam_law == "authors":
        parser.fail("--alpha must be in [0, 1] with --lam-law authors (u ~ U(0, alpha) is a "
                    "weight), got %g" % args.alpha)
    if not (np.isfinite(args.lr) and args.lr > 0):
        parser.fail("--lr must be a finite number > 0, got %g" % args.lr)
    parser.at_least(("--seed", args.seed, 0), ("--iterations", args.iterations, 1),
                    ("--hidden", args.hidden, 1), ("--latent", args.latent, 1),
                    ("--save-every", args.save_every, 1))
    parser.directory("--out", args.out)
    setting = {"shape": args.shape, "alpha": args.alpha, "lam_law": args.lam_law,
               "lr": args.lr, "adam": ADAM, "seed": args.seed,
               "iterations": args.iterations, "hidden": args.hidden, "latent": args.latent,
               "batch": BATCH, "d_steps": D_STEPS, "std": STD, "samples": SAMPLES,
               "mixing": describe({"alpha": args.alpha, "lam_law": args.lam_law})}
    finished = _finished_run(args.out, setting)
    if finished is not None:
        if isinstance(finished, str):
            parser.fail(finished)
        print(_said(args, setting, finished))
        print("%s is complete: nothing to do (another --out for a new run)" % args.out,
              file=sys.stderr)
        return 0
    try:
        resume = read_checkpoint(args.out, setting)
    except ValueError as error:
        parser.fail(error)
    if resume:
        print("continuing %s from iteration %d" % (args.out, resume["iteration"]),
              file=sys.stderr)
    with StopRequest("stopping after this iteration") as stop, \
            bar(args.iterations, "gan %s, %s" % (args.shape, setting["mixing"]),
                unit="it") as progress:
        try:
            result = train(args.shape, alpha=args.alpha, seed=args.seed,
                           iterations=args.iterations, hidden=args.hidden, latent=args.latent,
                           lam_law=args.lam_law, lr=args.lr, progress=progress, resume=resume,
                           stop=stop, save_every=args.save_every,
                           save=lambda state: write_checkpoint(args.out, setting, state))
        except KeyboardInterrupt:
            saved = read_checkpoint(args.out, setting)
            print("interrupted: %s; run the same command again to continue" % (
                "iterations 1-%d kept in %s" % (saved["iteration"], os.path.join(
                    args.out, CHECKPOINT)) if saved else "nothing was saved"), file=sys.stderr)
            return INTERRUPTED
    metrics = write_run(args.out, args.shape, result, setting)
    shutil.rmtree(os.path.join(args.out, CHECKPOINT), ignore_errors=True)
    print(_said(args, setting, metrics))
    print("wrote %s" % args.out, file=sys.stderr)
    return 0


def _said(args, setting, metrics):
    return "%s %s seed %d: %s (%.1f ms per iteration, %.1f ms of CPU)" % (
        args.shape, setting["mixing"], args.seed, summary(metrics),
        metrics["ms_per_iteration"], metrics["cpu_ms_per_iteration"])


def _finished_run(out, setting):
    """OUT's metrics.json if OUT holds a finished run of this setting; a refusal (str) if it
    holds another one or a file that is not a run's; None if it holds no finished run."""
    path = os.path.join(out, "metrics.json")
    if not os.path.exists(path):
        return None
    try:
        metrics = load_json(path)
    except (OSError, ValueError) as error:
        return "%s cannot be read (%s): give another --out" % (path, error)
    if not isinstance(metrics, dict) or metrics.get("format") != METRICS_FORMAT:
        return ("%s is not a finished run of this version of ./tools.sh gan: give another --out"
                % path)
    differing = sorted(k for k in setting if metrics.get(k) != setting[k])
    if differing:
        return ("%s holds a finished run of another setting (%s): give another --out" % (
            path, ", ".join("--%s %s there" % (k.replace("_", "-"), metrics.get(k))
                            for k in differing)))
    if not all(isinstance(metrics.get(k), (int, float)) for k in (
            "ms_per_iteration", "cpu_ms_per_iteration")) or not isinstance(
                metrics.get("coverage"), list):
        return "%s is damaged: give another --out" % path
    return metrics


if __name__ == "__main__":
    quiet_native_repeats()
    sys.exit(main())
