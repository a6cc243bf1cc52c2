"""mixup in a GAN's discriminator, on 2-D mixtures of Gaussians (the mixup paper's section 3.6
and figure 5, after the authors' demo gan/example_gan.py).

    ./tools.sh gan --shape ring|grid [--alpha A] [--seed S] [--iterations N] [--hidden H]
                   [--latent Z] --out DIR

Data: ring = 8 Gaussians centred at angle 2*pi*k/8 on the unit circle (x = sin, y = cos);
grid = 25 Gaussians centred on {-1, -0.5, 0, 0.5, 1}^2; standard deviation 0.01, modes drawn
uniformly. The generator G maps Z-dimensional standard normal noise to 2-D points, the
discriminator D a 2-D point to two logits (fake, real); both are MLPs of 3 hidden ReLU layers
of H units, trained by Adam with its defaults. One iteration is 5 D steps and one G step. A D
step sees 128 real points (class 1) and 128 points G makes from fresh noise (class 0); with
--alpha A > 0 that batch of 256 goes through the project's MixUp op first (mix_rate 1, one
lambda ~ Beta(A, A) per point, its partner any other point of the batch, real or fake; the
two-class labels mixed alike) and D is trained on the mixed points and probability labels;
--alpha 0 is the plain GAN. The G step is the authors' minimax one: G ascends D's
cross-entropy on 128 fresh fakes labelled fake (no mixing).

Writes DIR/samples.npy (the 2500 points G makes at the end from noise fixed at the start),
DIR/metrics.json (the quality of those points: high_quality, the fraction within 3 standard
deviations (0.03) of their nearest mode; modes, how many modes are the nearest mode of at least
one such point; the same at every snapshot, the setting, timings), DIR/snapshots.npz (the fixed
noise's points at iterations 10, 100, 1000, ... and the last, beside a real sample) and
DIR/samples.png (real and generated points at those iterations). ./tools.sh gan-report compares
runs and draws the paper's figure-5 layout.
"""
import json
import os
import sys
import time

from . import threads

if __name__ == "__main__":
    threads.configure_or_reexec("mixup.gan")

import mixup  # noqa: E402  (first: sets MXNet switches before MXNet loads)
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

from . import plots  # noqa: E402
from .cli import ArgumentParser, add  # noqa: E402
from .console import quiet_native_repeats  # noqa: E402
from .files import atomic_path, write_atomic  # noqa: E402
from .progress import bar  # noqa: E402

SHAPES = ("ring", "grid")
STD = 0.01  # of every Gaussian of the data
HIGH_QUALITY_STDS = 3  # a generated point within 3 std of its nearest mode is of high quality
BATCH = 128  # real points per D step, and as many fakes; fakes per G step
D_STEPS = 5  # D steps per G step
SAMPLES = 2500  # points generated from the fixed noise (100 per mode of the grid)


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


def quality(points, centres, std=STD):
    """The VEEGAN / PacGAN measures of generated ``points`` (M, 2) against the mixture's
    ``centres`` (K, 2): {"high_quality": fraction of points within HIGH_QUALITY_STDS * std of
    their nearest centre, "modes": how many centres are the nearest of at least one such
    point, "mode_counts": high-quality points per centre}."""
    points = np.asarray(points, dtype=np.float64)
    distances = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(points)), nearest] <= HIGH_QUALITY_STDS * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    return {"high_quality": float(good.mean()) if len(points) else 0.0,
            "modes": int((counts > 0).sum()), "mode_counts": counts.tolist()}


def snapshot_iterations(iterations):
    """Where the picture looks: 10, 100, 1000, ... below ``iterations``, and the last."""
    marks = [10 ** k for k in range(1, 9) if 10 ** k < iterations]
    return marks + [iterations]


class Gan:
    """G and D as bound MXNet modules (symbols/mlp.py).

    ``d_train`` is D's training graph, with the MixUp node on its input when alpha > 0;
    ``d_score`` is D without it, sharing d_train's parameters, through which the G step takes
    the gradient of D's loss with respect to G's points."""

    def __init__(self, *, alpha, hidden, latent, seed, monitor=None):
        import symbols.mlp
        widths = [hidden] * 3
        self.latent = latent
        mx.random.seed(seed)  # initial weights and the MixUp node's draws
        self.g = mx.mod.Module(symbols.mlp.body(mx.sym.var("noise"), widths, 2, prefix="g_"),
                               data_names=["noise"], label_names=None)
        self.g.bind(data_shapes=[("noise", (BATCH, latent))])
        self.g.init_params(symbols.mlp.initializer())
        self.g.init_optimizer(optimizer="adam")
        self.d_train = mx.mod.Module(
            symbols.mlp.get_symbol(2, widths, alpha=alpha or None, lam_mode="sample",
                                   prefix="d_"),
            data_names=["data"], label_names=["softmax_label"])
        self.d_train.bind(data_shapes=[("data", (2 * BATCH, 2))],
                          label_shapes=[("softmax_label", (2 * BATCH,))])
        self.d_train.init_params(symbols.mlp.initializer())
        # Module sets rescale_grad = 1/256: the loss's normalization is 'null'
        self.d_train.init_optimizer(optimizer="adam")
        if monitor is not None:
            self.d_train.install_monitor(monitor)
        self.monitor = monitor
        scoring = symbols.mlp.get_symbol(2, widths, train=False, prefix="d_")
        self.d_score = mx.mod.Module(
            scoring, data_names=["data"], label_names=["softmax_label"],
            fixed_param_names=[n for n in scoring.list_arguments()
                               if n not in ("data", "softmax_label")])
        self.d_score.bind(data_shapes=[("data", (BATCH, 2))],
                          label_shapes=[("softmax_label", (BATCH,))], inputs_need_grad=True,
                          shared_module=self.d_train)
        self.labels = mx.nd.array(np.r_[np.ones(BATCH), np.zeros(BATCH)])  # real 1, fake 0
        self.fake_labels = mx.nd.zeros(BATCH)

    def _generate(self, noise):
        self.g.forward(mx.io.DataBatch([mx.nd.array(noise)]), is_train=False)
        return self.g.get_outputs()[0]

    def d_step(self, real, noise):
        batch = mx.nd.concat(mx.nd.array(real), self._generate(noise), dim=0)
        if self.monitor is not None:
            self.monitor.tic()
        self.d_train.forward_backward(mx.io.DataBatch([batch], [self.labels]))
        self.d_train.update()
        if self.monitor is not None:
            self.monitor.toc()

    def g_step(self, noise):
        self.g.forward(mx.io.DataBatch([mx.nd.array(noise)]), is_train=True)
        self.d_score.forward(mx.io.DataBatch([self.g.get_outputs()[0]], [self.fake_labels]),
                             is_train=True)
        self.d_score.backward()
        # d_score's input gradient is that of D's cross-entropy on fakes labelled fake: G
        # ascends it (the authors' minimax loss); Module's rescale_grad divides by the batch
        self.g.backward([-self.d_score.get_input_grads()[0]])
        self.g.update()

    def generate(self, noise):
        """G's points for ``noise`` (M, latent) of any M, as numpy."""
        module = mx.mod.Module(self.g.symbol, data_names=["noise"], label_names=None)
        module.bind(data_shapes=[("noise", noise.shape)], for_training=False)
        module.set_params(*self.g.get_params())
        module.forward(mx.io.DataBatch([mx.nd.array(noise)]), is_train=False)
        return module.get_outputs()[0].asnumpy()


def train(shape, *, alpha, seed, iterations, hidden, latent, progress=None, monitor=None):
    """Train one GAN; returns {"snapshots": [(iteration, points)], "real": a real sample of
    SAMPLES points, "seconds": training time, "cpu_seconds": the process's CPU time in it (on
    a shared machine the better measure of cost)}. The fixed noise, the data and the noise of
    every step are drawn from numpy generators seeded with ``seed``."""
    gan = Gan(alpha=alpha, hidden=hidden, latent=latent, seed=seed, monitor=monitor)
    fixed = np.random.default_rng([seed, 1])
    fixed_noise = fixed.normal(size=(SAMPLES, latent))
    real_sample = sample_real(fixed, shape, SAMPLES)
    rng = np.random.default_rng([seed, 0])
    marks = set(snapshot_iterations(iterations))
    snapshots, tic, cpu_tic = [], time.time(), time.process_time()
    for iteration in range(1, iterations + 1):
        for _ in range(D_STEPS):
            gan.d_step(sample_real(rng, shape, BATCH), rng.normal(size=(BATCH, latent)))
        gan.g_step(rng.normal(size=(BATCH, latent)))
        if iteration in marks:
            snapshots.append((iteration, gan.generate(fixed_noise)))
        if progress is not None:
            progress.update(1)
    return {"snapshots": snapshots, "real": real_sample, "seconds": time.time() - tic,
            "cpu_seconds": time.process_time() - cpu_tic}


def write_run(out, shape, result, setting):
    """samples.npy, snapshots.npz, metrics.json and samples.png of a finished run."""
    centres = modes(shape)
    final = result["snapshots"][-1][1]
    with atomic_path(os.path.join(out, "samples.npy")) as tmp:
        np.save(tmp, final)
    with atomic_path(os.path.join(out, "snapshots.npz")) as tmp:
        np.savez(tmp, iterations=np.array([i for i, _ in result["snapshots"]]),
                 fake=np.stack([p for _, p in result["snapshots"]]), real=result["real"])
    metrics = dict(setting, num_modes=len(centres), **quality(final, centres))
    metrics["history"] = [dict(iteration=i, **quality(p, centres))
                          for i, p in result["snapshots"]]
    for entry in metrics["history"]:
        del entry["mode_counts"]
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
    return "ERM" if not setting["alpha"] else "mixup α=%g" % setting["alpha"]


# the square every picture shows: the modes of either shape (within [-1, 1]^2) and a margin
VIEW = (-1.3, 1.3)


def main(argv=None):
    parser = ArgumentParser(prog="./tools.sh gan", description=__doc__)
    parser.add_argument("--shape", required=True, choices=SHAPES, help="ring (8 modes) or "
                        "grid (25 modes)")
    add(parser, "--alpha", 0.0, "0: plain GAN; > 0: D's batches mixed, lambda ~ "
        "Beta(alpha, alpha) per point", type=float)
    add(parser, "--seed", 0, "initial weights, data, noise and MixUp's draws", type=int)
    add(parser, "--iterations", 20000, "iterations of 5 D steps and one G step (the paper: "
        "20000)", type=int)
    add(parser, "--hidden", 512, "units of each of the 3 hidden layers of G and D (the "
        "paper: 512)", type=int)
    add(parser, "--latent", 2, "dimensions of G's noise (the authors' demo: 2, 5 or 10)",
        type=int)
    threads.add_option(parser)
    parser.add_argument("--out", required=True, help="the run's directory")
    args = parser.parse_args(argv)
    if not args.alpha >= 0 or not np.isfinite(args.alpha):
        parser.fail("--alpha must be >= 0 (0: the plain GAN), got %g" % args.alpha)
    if args.alpha:
        try:
            mixup.parse(num_classes=2, alpha=args.alpha, lam_mode="sample")
        except ValueError as error:
            parser.fail("--alpha: %s" % error)
    parser.at_least(("--seed", args.seed, 0), ("--iterations", args.iterations, 1),
                    ("--hidden", args.hidden, 1), ("--latent", args.latent, 1))
    parser.directory("--out", args.out)
    setting = {"shape": args.shape, "alpha": args.alpha, "seed": args.seed,
               "iterations": args.iterations, "hidden": args.hidden, "latent": args.latent,
               "batch": BATCH, "d_steps": D_STEPS, "std": STD, "samples": SAMPLES,
               "mixing": ("MixUp op: mix_rate 1, lam_mode sample, lambda ~ Beta(%g, %g)"
                          % (args.alpha, args.alpha)) if args.alpha else "none"}
    with bar(args.iterations, "gan %s, %s" % (args.shape, describe(setting)),
             unit="it") as progress:
        result = train(args.shape, alpha=args.alpha, seed=args.seed,
                       iterations=args.iterations, hidden=args.hidden, latent=args.latent,
                       progress=progress)
    metrics = write_run(args.out, args.shape, result, setting)
    print("%s %s seed %d: %d of %d modes, %.1f%% high-quality points (%.1f ms per iteration, "
          "%.1f ms of CPU)" % (args.shape, describe(setting), args.seed, metrics["modes"],
                               metrics["num_modes"], 100 * metrics["high_quality"],
                               metrics["ms_per_iteration"], metrics["cpu_ms_per_iteration"]))
    print("wrote %s" % args.out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    quiet_native_repeats()
    sys.exit(main())
