"""./tools.sh gan and gan-report: the mixtures, the quality measures against hand counts and a
second computation, mixing reaching D's batch, the G step's direction, the files, refusals."""
import itertools
import json
import math
import os

import numpy as np
import pytest

from conftest import Watch, cli, named, refusal
from mixup import gan, gan_report


def test_the_mixtures_are_the_papers():
    ring = gan.modes("ring")
    assert ring.shape == (8, 2)
    # k = 0 at the top (x = sin 0, y = cos 0), k = 2 at the right, k = 5 at 225 degrees
    np.testing.assert_allclose(ring[0], [0, 1], atol=1e-12)
    np.testing.assert_allclose(ring[2], [1, 0], atol=1e-12)
    np.testing.assert_allclose(ring[5], [-math.sqrt(0.5), -math.sqrt(0.5)], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1)
    grid = gan.modes("grid")
    axis = (-1, -0.5, 0, 0.5, 1)
    assert sorted(map(tuple, grid.tolist())) == sorted(itertools.product(axis, axis))
    points = gan.sample_real(np.random.default_rng(0), "grid", 5000)
    nearest = np.linalg.norm(points[:, None] - grid[None], axis=2).min(axis=1)
    assert abs(points.std() - 0.7) < 0.05 and np.percentile(nearest, 99) < 0.04


def test_quality_counts_by_hand_on_the_ring():
    ring = gan.modes("ring")
    right = np.array([1.0, 0.0])  # a direction away from mode 0 = (0, 1)
    points = np.array([ring[0], ring[0], ring[0],  # exactly at mode 0
                       ring[1] + 0.02 * right, ring[1] - 0.02 * right,  # 0.02 from mode 1
                       ring[2] + [0, 0.05],  # 0.05 from mode 2: not high quality
                       ring[3] * 1.029,  # 0.029 from mode 3, outward
                       [0.0, 0.0]])  # the centre, 1 from every mode
    measured = gan.quality(points, ring)
    assert measured["high_quality"] == 6 / 8
    assert measured["modes"] == 3  # modes 0, 1 and 3
    assert measured["mode_counts"] == [3, 2, 0, 1, 0, 0, 0, 0]


def test_quality_agrees_with_a_point_by_point_computation():
    grid = gan.modes("grid")
    rng = np.random.default_rng(7)
    points = np.concatenate([gan.sample_real(rng, "grid", 300, std=0.02),
                             rng.uniform(-1.2, 1.2, (200, 2))])
    counts = [0] * 25
    good = 0
    for x, y in points:
        distances = [math.hypot(x - cx, y - cy) for cx, cy in grid]
        k = distances.index(min(distances))
        if distances[k] <= 0.03:
            good += 1
            counts[k] += 1
    measured = gan.quality(points, grid)
    assert measured["mode_counts"] == counts
    assert measured["high_quality"] == good / 500
    assert measured["modes"] == sum(c > 0 for c in counts)
    assert gan.quality(np.zeros((0, 2)), grid)["modes"] == 0


def _one_d_step(alpha):
    """A small GAN's first D step, watching the MixUp node's input, D's first layer's input
    and the loss's label: (real points given, [(name, array)] of the step)."""
    watch = Watch("^(d_mixup_data|d_fc1_data|softmax_label)$")
    net = gan.Gan(alpha=alpha, hidden=8, latent=2, seed=3, monitor=watch)
    rng = np.random.default_rng(1)
    real = gan.sample_real(rng, "ring", gan.BATCH)
    net.d_step(real, rng.normal(size=(gan.BATCH, 2)))
    (step,) = watch.steps
    return real, step


def test_mixup_reaches_the_discriminators_batch():
    real, step = _one_d_step(1.0)
    (batch,) = named(step, "d_mixup_data")  # what enters the MixUp node: real, then G's
    (seen,) = named(step, "d_fc1_data")  # what D's first layer trains on
    label = named(step, "softmax_label")[-1]  # what the loss trains against
    assert batch.shape == seen.shape == (256, 2) and label.shape == (256, 2)
    np.testing.assert_allclose(batch[:128], real, atol=1e-6)
    truth = np.eye(2)[np.r_[np.ones(128), np.zeros(128)].astype(int)]  # fake 0, real 1
    # every pair (i, j) of the batch at once
    i, j = (index.ravel() for index in np.meshgrid(np.arange(256), np.arange(256)))
    i, j = i[i != j], j[i != j]
    step = batch[i] - batch[j]
    for x, y in zip(seen, label):
        # x = lam * batch[i] + (1 - lam) * batch[j] and y = lam * truth[i] + (1 - lam) *
        # truth[j] for one pair: lam of each pair is where its line passes closest to x (in
        # 2-D many lines pass near x: the label must agree too)
        lam = ((x - batch[j]) * step).sum(axis=1) / np.maximum((step * step).sum(axis=1), 1e-12)
        on_line = np.abs(lam[:, None] * step + batch[j] - x).max(axis=1) < 1e-4
        labelled = np.abs(lam[:, None] * (truth[i] - truth[j]) + truth[j] - y).max(axis=1)
        assert np.any(on_line & (labelled < 1e-3) & (lam > -1e-4) & (lam < 1 + 1e-4))
    # real mixed with fake (partners are any other point), one lambda per point: the weights
    # of the real class in those labels take as many values as there are such points
    mixed = label[:, 1][(label[:, 1] > 1e-3) & (label[:, 1] < 1 - 1e-3)]
    assert len(mixed) > 60 and len(np.unique(np.round(mixed, 4))) > 0.9 * len(mixed)


def test_the_plain_gan_trains_d_on_the_batch_itself():
    real, step = _one_d_step(0.0)
    assert named(step, "d_mixup_data") == []  # no MixUp node at all
    (seen,) = named(step, "d_fc1_data")
    label = named(step, "softmax_label")[-1]
    np.testing.assert_allclose(seen[:128], real, atol=1e-6)
    np.testing.assert_array_equal(label, np.r_[np.ones(128), np.zeros(128)])


def _d_real_probability(params, points):
    """D's probability of 'real' in numpy, from its parameters."""
    args = {k: v.asnumpy() for k, v in params[0].items()}
    h = points.astype(np.float64)
    for depth in (1, 2, 3):
        h = np.maximum(h @ args["d_fc%d_weight" % depth].T + args["d_fc%d_bias" % depth], 0)
    logits = h @ args["d_fc_out_weight"].T + args["d_fc_out_bias"]
    return 1 / (1 + np.exp(logits[:, 0] - logits[:, 1]))


def test_g_steps_raise_ds_belief_in_gs_points_and_d_steps_reach_the_g_step():
    net = gan.Gan(alpha=0.0, hidden=16, latent=2, seed=0)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(500, 2))
    for _ in range(20):
        net.d_step(gan.sample_real(rng, "ring", gan.BATCH), rng.normal(size=(gan.BATCH, 2)))
    d_params = net.d_train.get_params()
    # the G step's D (d_score) is the D just trained: same outputs as numpy with its weights
    net.d_score.forward(mx_batch(net.generate(noise[:128])), is_train=False)
    np.testing.assert_allclose(net.d_score.get_outputs()[0].asnumpy()[:, 1],
                               _d_real_probability(d_params, net.generate(noise[:128])),
                               rtol=1e-4, atol=1e-5)
    before = _d_real_probability(d_params, net.generate(noise)).mean()
    for _ in range(10):
        net.g_step(rng.normal(size=(gan.BATCH, 2)))
    after = _d_real_probability(net.d_train.get_params(), net.generate(noise)).mean()
    # G moved its points to where the (unchanged) D believes more in them
    assert after > before + 0.01


def mx_batch(points):
    import mxnet as mx
    return mx.io.DataBatch([mx.nd.array(points)], [mx.nd.zeros(len(points))])


def test_the_commands_write_a_run_and_compare_runs(tmp_path, capsys):
    runs = []
    for alpha in ("0", "0.5"):
        out = str(tmp_path / ("a" + alpha))
        args = ["--shape", "grid", "--alpha", alpha, "--iterations", "12", "--hidden", "8",
                "--seed", "1", "--out", out]
        if alpha == "0":  # in this process (fast); the real command line once
            assert gan.main(args) == 0
            stdout = capsys.readouterr().out
        else:
            proc = cli("mixup.gan", *args)
            assert proc.returncode == 0, proc.stderr[-2000:]
            stdout = proc.stdout
        assert "of 25 modes" in stdout
        runs.append(out)
        samples = np.load(os.path.join(out, "samples.npy"))
        metrics = json.load(open(os.path.join(out, "metrics.json")))
        assert samples.shape == (2500, 2) and np.isfinite(samples).all()
        nearest = np.linalg.norm(samples[:, None] - gan.modes("grid")[None], axis=2).min(axis=1)
        assert metrics["high_quality"] == np.mean(nearest <= 0.03)
        assert metrics["num_modes"] == 25 and metrics["alpha"] == float(alpha)
        assert [h["iteration"] for h in metrics["history"]] == [10, 12]
        with np.load(os.path.join(out, "snapshots.npz")) as saved:
            np.testing.assert_array_equal(saved["fake"][-1], samples)
            assert saved["real"].shape == (2500, 2)
        assert open(os.path.join(out, "samples.png"), "rb").read(4) == b"\x89PNG"
    figure = str(tmp_path / "figure.png")
    assert gan_report.main(runs + ["--plot", figure]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("| grid | ERM | 12 | 8 | 1 |") for line in lines)
    assert any(line.startswith("| grid | mixup α=0.5 | 12 | 8 | 1 |") for line in lines)
    assert open(figure, "rb").read(4) == b"\x89PNG"
    assert gan_report.main([str(tmp_path)]) == 2
    assert "metrics.json" in capsys.readouterr().err


def test_gan_report_spreads_over_seeds(tmp_path, capsys):
    runs = []
    for seed, (found, good) in enumerate([(6, 0.5), (8, 0.7)]):
        run = tmp_path / str(seed)
        run.mkdir()
        run.joinpath("metrics.json").write_text(json.dumps(dict(
            shape="ring", alpha=1.0, iterations=100, hidden=32, latent=2, seed=seed,
            modes=found, num_modes=8, high_quality=good)))
        runs.append(str(run))
    assert gan_report.main(runs) == 0
    assert "| ring | mixup α=1 | 100 | 32 | 2 | 7.0 ± 1.0 of 8 | 60.0 ± 10.0 |" in \
        capsys.readouterr().out


def test_gan_report_refuses_a_plot_path_without_a_folder_before_any_work(tmp_path, capsys):
    target = str(tmp_path / "missing" / "figure.png")
    message = refusal(gan_report.main, [str(tmp_path), "--plot", target], capsys)
    assert "--plot" in message and target in message and "metrics.json" not in message
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("args, flag", [
    (["--shape", "star"], "--shape"),
    (["--shape", "ring", "--alpha", "-0.5"], "--alpha"),
    (["--shape", "ring", "--alpha", "inf"], "--alpha"),
    (["--shape", "ring", "--iterations", "0"], "--iterations"),
    (["--shape", "ring", "--hidden", "0"], "--hidden"),
    (["--shape", "ring", "--latent", "0"], "--latent"),
    (["--shape", "ring", "--seed", "-1"], "--seed"),
    (["--shape", "grid", "--threads", "two"], "--threads"),
])
def test_bad_options_are_refused_in_one_line(args, flag, tmp_path, capsys):
    assert flag in refusal(gan.main, args + ["--out", str(tmp_path / "out")], capsys)
    assert not os.path.exists(tmp_path / "out")


def test_an_out_path_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "run"
    path.write_text("")
    assert str(path) in refusal(gan.main, ["--shape", "ring", "--out", str(path)], capsys)
