"""./tools.sh gan and gan-report: the mixtures, the quality measures against hand counts and a
second computation, mixing reaching D's batch, the G step's direction, the files, refusals."""
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, Watch, cli, named, refusal
from mixup_app.experiments import gan, gan_report


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


def test_coverage_counts_by_hand_on_the_ring():
    ring = gan.modes("ring")
    right = np.array([1.0, 0.0])  # a direction away from mode 0 = (0, 1)
    # 16 points: a mode's share is 2, so a mode is covered by at least 1 point (half of 2)
    points = np.array([ring[0], ring[0], ring[0],  # exactly at mode 0
                       ring[1] + 0.02 * right, ring[1] - 0.02 * right,  # 0.02 from mode 1
                       ring[2] + [0, 0.05],  # 0.05 from mode 2: within 0.1, not 0.03
                       ring[3] * 1.029,  # 0.029 from mode 3, outward
                       ring[4] * 1.2,  # 0.2 from mode 4: neither
                       ] + [[0.0, 0.0]] * 8)  # the centre, 1 from every mode
    near = gan.quality(points, ring, 0.03)
    assert near["high_quality"] == 6 / 16 and near["mode_counts"] == [3, 2, 0, 1, 0, 0, 0, 0]
    assert near["modes"] == 3  # modes 0, 1 and 3
    wide = gan.quality(points, ring, 0.1)
    assert wide["high_quality"] == 7 / 16 and wide["modes"] == 4
    # with 32 points a share is 4: half of it is 2 points, which only modes 0 and 1 have
    doubled = np.concatenate([points, [[0.0, 0.0]] * 16])
    assert gan.quality(doubled, ring, 0.03)["modes"] == 2
    assert gan.quality(doubled, ring, 0.03, share=0.75)["modes"] == 1  # 3 points: mode 0
    assert [q["radius"] for q in gan.coverage(points, ring)] == [0.03, 0.1]


def test_coverage_agrees_with_a_point_by_point_computation():
    grid = gan.modes("grid")
    rng = np.random.default_rng(7)
    points = np.concatenate([gan.sample_real(rng, "grid", 300, std=0.02),
                             rng.uniform(-1.2, 1.2, (200, 2))])
    for radius in (0.03, 0.1):
        counts = [0] * 25
        good = 0
        for x, y in points:
            distances = [math.hypot(x - cx, y - cy) for cx, cy in grid]
            k = distances.index(min(distances))
            if distances[k] <= radius:
                good += 1
                counts[k] += 1
        measured = gan.quality(points, grid, radius)
        assert measured["mode_counts"] == counts
        assert measured["high_quality"] == good / 500
        assert measured["modes"] == sum(c >= 0.5 * 500 / 25 for c in counts)
    assert gan.quality(np.zeros((0, 2)), grid, 0.03)["modes"] == 0


def test_uniform_noise_covers_no_mode_though_the_one_point_rule_counts_many():
    """The reason for the share: under 'a mode is found when one point lands within 3 std'
    uniform noise over the plotted square finds most of the grid's modes."""
    rng = np.random.default_rng(11)
    for shape, old_rule_at_least in (("grid", 10), ("ring", 3)):
        centres = gan.modes(shape)
        noise = rng.uniform(*gan.VIEW, size=(gan.SAMPLES, 2))
        distances = np.linalg.norm(noise[:, None] - centres[None], axis=2)
        one_point_rule = int((distances.min(axis=0) <= 0.03).sum())
        assert one_point_rule >= old_rule_at_least
        assert all(q["modes"] == 0 for q in gan.coverage(noise, centres))
        # real data covers every mode at both radii
        real = gan.sample_real(rng, shape, gan.SAMPLES)
        assert all(q["modes"] == len(centres) for q in gan.coverage(real, centres))
    baseline = gan.noise_baseline("grid", draws=3)
    # the share of the square within 0.1 of a grid mode: 25 * pi * 0.01 / 2.6^2
    assert baseline[0.1][0] == 0 and abs(baseline[0.1][1] - 25 * math.pi * 0.01 / 6.76) < 0.02


def test_two_batch_mix_is_the_demos_formula():
    rng = np.random.default_rng(5)
    first, second = rng.normal(size=(2, 9, 2))
    first_labels, second_labels = np.eye(2)[rng.integers(2, size=(2, 9))]
    weight = rng.uniform(0, 0.2, 9)
    points, labels = gan.two_batch_mix(first, first_labels, second, second_labels, weight)
    np.testing.assert_allclose(points, weight[:, None] * first + (1 - weight[:, None]) * second,
                               rtol=1e-12)
    np.testing.assert_allclose(labels, weight[:, None] * first_labels
                               + (1 - weight[:, None]) * second_labels, rtol=1e-12)


def _steps_moves(net, step):
    """How far one step moves every parameter of D and G (max absolute change each)."""
    before = {k: v.asnumpy() for m in (net.d_train, net.g)
              for k, v in m.get_params()[0].items()}
    step()
    after = {k: v.asnumpy() for m in (net.d_train, net.g) for k, v in m.get_params()[0].items()}
    return {k: np.abs(after[k] - before[k]).max() for k in before}


@pytest.mark.parametrize("lr", [gan.LEARNING_RATE, 4e-4])
def test_adam_runs_at_the_demos_learning_rate(lr):
    """Adam's first step moves each parameter that has a gradient by lr (m/sqrt(v) = sign(g)
    after one step, up to epsilon): the learning rate is observed, not read from a
    constant."""
    net = gan.Gan(alpha=0.2, hidden=8, latent=2, seed=2, lr=lr)
    rng = np.random.default_rng(0)
    d_moves = _steps_moves(net, lambda: net.d_step(*net.d_batch(rng, "grid")))
    g_moves = _steps_moves(net, lambda: net.g_step(rng, "grid"))
    for name, moved in d_moves.items():
        assert moved == pytest.approx(lr if name.startswith("d_") else 0, rel=0.02, abs=1e-9)
    for name, moved in g_moves.items():
        assert moved == pytest.approx(lr if name.startswith("g_") else 0, rel=0.02, abs=1e-9)


def test_the_first_weights_are_pytorchs_linear_init():
    net = gan.Gan(alpha=0.0, hidden=64, latent=2, seed=4)
    params = net.d_train.get_params()[0]
    for layer, fan_in in (("d_fc1", 2), ("d_fc2", 64), ("d_fc_out", 64)):
        bound = fan_in ** -0.5
        for kind in ("weight", "bias"):
            values = params["%s_%s" % (layer, kind)].asnumpy().ravel()
            assert np.abs(values).max() <= bound
            if values.size >= 64:  # uniform on [-bound, bound]: reaches near both ends
                assert values.max() > 0.8 * bound and values.min() < -0.8 * bound
            assert np.abs(values).min() > 0 or values.size > 100  # biases drawn, not zero


def _labels_seen(lam_law, steps=6, alpha=0.2):
    watch = Watch("^softmax_label$")
    net = gan.Gan(alpha=alpha, hidden=8, latent=2, seed=3, lam_law=lam_law, monitor=watch)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        net.d_step(*net.d_batch(rng, "ring"))
    return np.concatenate([named(step, "softmax_label")[-1] for step in watch.steps])


def test_the_authors_law_mixes_with_at_most_alpha_of_the_first_batch():
    import scipy.stats
    label = _labels_seen("authors")
    assert label.shape == (6 * 256, 2)
    real = label[:, 1]
    # a point's label is u * l1 + (1 - u) * l2: its own class (l1 = l2) or u, 1 - u
    mixed = real[(real > 1e-9) & (real < 1 - 1e-9)]
    share = np.minimum(mixed, 1 - mixed)
    assert share.max() <= 0.2 + 1e-6
    # about half the pairs are real with fake; their u is uniform on [0, 0.2]
    assert 0.4 < len(mixed) / len(real) < 0.6
    assert scipy.stats.kstest(share / 0.2, "uniform").pvalue > 1e-3


def test_the_beta_law_reaches_past_alpha():
    import scipy.stats
    real = _labels_seen("beta")[:, 1]
    mixed = real[(real > 1e-9) & (real < 1 - 1e-9)]
    share = np.minimum(mixed, 1 - mixed)
    assert (share > 0.2).mean() > 0.1
    # min(lambda, 1 - lambda) of Beta(0.2, 0.2), checked by its CDF
    law = scipy.stats.beta(0.2, 0.2)
    assert scipy.stats.kstest(share, lambda s: 2 * law.cdf(s)).pvalue > 1e-3


def _one_d_step(alpha):
    """A small GAN's first D step through the MixUp op (--lam-law beta), watching the MixUp
    node's input, D's first layer's input and the loss's label: (real points given, [(name,
    array)] of the step)."""
    watch = Watch("^(d_mixup_data|d_fc1_data|softmax_label)$")
    net = gan.Gan(alpha=alpha, hidden=8, latent=2, seed=3, lam_law="beta", monitor=watch)
    points, labels = net.d_batch(np.random.default_rng(1), "ring")
    net.d_step(points, labels)
    (step,) = watch.steps
    return points[:gan.BATCH], step


@pytest.mark.slow
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
    net = gan.Gan(alpha=0.0, hidden=16, latent=2, seed=0, lr=1e-2)  # a visible move in 10
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(500, 2))
    for _ in range(20):
        net.d_step(*net.d_batch(rng, "ring"))
    d_params = net.d_train.get_params()
    # the G step's D (d_score) is the D just trained: same outputs as numpy with its weights
    net.d_score.forward(mx_batch(net.generate(noise[:256])), is_train=False)
    np.testing.assert_allclose(net.d_score.get_outputs()[0].asnumpy()[:, 1],
                               _d_real_probability(d_params, net.generate(noise[:256])),
                               rtol=1e-4, atol=1e-5)
    before = _d_real_probability(d_params, net.generate(noise)).mean()
    for _ in range(10):
        net.g_step(rng, "ring")
    after = _d_real_probability(net.d_train.get_params(), net.generate(noise)).mean()
    # G moved its points to where the (unchanged) D believes more in them
    assert after > before + 0.01


def mx_batch(points):
    import mxnet as mx
    return mx.io.DataBatch([mx.nd.array(points)], [mx.nd.zeros(len(points))])


@pytest.mark.slow
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
            proc = cli("mixup_app.experiments.gan", *args)
            assert proc.returncode == 0, proc.stderr[-2000:]
            stdout = proc.stdout
        assert "of 25 modes" in stdout
        runs.append(out)
        samples = np.load(os.path.join(out, "samples.npy"))
        metrics = json.load(open(os.path.join(out, "metrics.json")))
        assert samples.shape == (2500, 2) and np.isfinite(samples).all()
        nearest = np.linalg.norm(samples[:, None] - gan.modes("grid")[None], axis=2).min(axis=1)
        for measured, radius in zip(metrics["coverage"], (0.03, 0.1)):
            assert measured["radius"] == radius
            assert measured["high_quality"] == np.mean(nearest <= radius)
        assert metrics["num_modes"] == 25 and metrics["alpha"] == float(alpha)
        assert metrics["lr"] == 1e-3 and metrics["lam_law"] == "authors"
        assert [h["iteration"] for h in metrics["history"]] == [10, 12]
        with np.load(os.path.join(out, "snapshots.npz")) as saved:
            np.testing.assert_array_equal(saved["fake"][-1], samples)
            assert saved["real"].shape == (2500, 2)
        assert open(os.path.join(out, "samples.png"), "rb").read(4) == b"\x89PNG"
    figure = str(tmp_path / "figure.png")
    assert gan_report.main(runs + ["--plot", figure]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("| grid | ERM | 0.001 | 12 | 8 | 1 |") for line in lines)
    assert any(line.startswith("| grid | mixup u~U(0, 0.5), 2 batches | 0.001 | 12 | 8 | 1 |")
               for line in lines)
    # the noise baseline, computed: no mode at either radius
    (noise,) = [line for line in lines if "uniform noise" in line]
    assert noise.startswith("| grid |") and noise.split("|")[7].strip() == "0.0"
    assert open(figure, "rb").read(4) == b"\x89PNG"
    assert gan_report.main([str(tmp_path)]) == 2
    assert "metrics.json" in capsys.readouterr().err


def _metrics(seed, found, good, **setting):
    entry = dict(shape="ring", alpha=1.0, lam_law="beta", lr=1e-3, iterations=100, hidden=32,
                 latent=2, batch=128, d_steps=5, seed=seed, num_modes=8, format=2,
                 coverage=[dict(radius=r, modes=f, high_quality=g)
                           for r, f, g in zip((0.03, 0.1), found, good)])
    entry.update(setting)
    return entry


def _runs(tmp_path, *entries):
    runs = []
    for k, entry in enumerate(entries):
        run = tmp_path / ("run%d" % k)
        run.mkdir()
        run.joinpath("metrics.json").write_text(json.dumps(entry))
        runs.append(str(run))
    return runs


def test_gan_report_spreads_over_seeds_and_keeps_settings_apart(tmp_path, capsys):
    runs = _runs(tmp_path, _metrics(0, (6, 7), (0.5, 0.8)), _metrics(1, (8, 8), (0.7, 0.9)),
                 _metrics(2, (1, 2), (0.1, 0.2), lr=1e-2))
    assert gan_report.main(runs) == 0
    out = capsys.readouterr().out
    assert ("| ring | mixup λ~Beta(1, 1) | 0.001 | 100 | 32 | 2 | 7.0 ± 1.0 of 8 | 60.0 ± 10.0 "
            "| 7.5 ± 0.5 of 8 | 85.0 ± 5.0 |") in out
    assert "| ring | mixup λ~Beta(1, 1) | 0.01 | 100 | 32 | 1 | 1.0 of 8 | 10.0 |" in out


@pytest.mark.parametrize("change, words", [
    (dict(format=None), "earlier version"),
    (dict(coverage="many"), "'coverage' has the wrong type"),
    (dict(hidden="32"), "'hidden' has the wrong type"),
    (dict(coverage=[dict(radius=0.03, modes=1, high_quality=0.1)]), "radii"),
    (dict(coverage=[dict(radius=0.03, modes="x", high_quality=0.1)] * 2), "not a radius"),
])
def test_gan_report_refuses_metrics_it_cannot_read_naming_the_file(tmp_path, capsys, change,
                                                                   words):
    entry = _metrics(0, (1, 1), (0.1, 0.1))
    entry.update(change)
    entry = {k: v for k, v in entry.items() if v is not None}
    (run,) = _runs(tmp_path, entry)
    assert gan_report.main([run]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and os.path.join(run, "metrics.json") in err
    assert words in err


def test_gan_report_refuses_a_cut_snapshot_file_by_name(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert gan.main(["--shape", "ring", "--iterations", "3", "--hidden", "4", "--out", out]) == 0
    path = os.path.join(out, "snapshots.npz")
    content = open(path, "rb").read()
    open(path, "wb").write(content[:len(content) // 2])
    capsys.readouterr()
    figure = str(tmp_path / "f.png")
    assert gan_report.main([out, "--plot", figure]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and path in err and not os.path.exists(figure)
    np.savez(path, iterations=np.array([3]), fake=np.zeros((1, 5, 3)), real=np.zeros((5, 2)))
    assert gan_report.main([out, "--plot", figure]) == 2
    assert "wrong shapes" in capsys.readouterr().err


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
    (["--shape", "ring", "--lr", "inf"], "--lr"),
    (["--shape", "ring", "--lr", "0"], "--lr"),
    (["--shape", "ring", "--lr", "nan"], "--lr"),
    (["--shape", "ring", "--alpha", "1.5"], "--alpha"),
    (["--shape", "ring", "--alpha", "1.5", "--lam-law", "beta", "--lr", "-1"], "--lr"),
    (["--shape", "ring", "--lam-law", "gamma"], "--lam-law"),
])
def test_bad_options_are_refused_in_one_line(args, flag, tmp_path, capsys):
    assert flag in refusal(gan.main, args + ["--out", str(tmp_path / "out")], capsys)
    assert not os.path.exists(tmp_path / "out")


def test_an_out_path_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "run"
    path.write_text("")
    assert str(path) in refusal(gan.main, ["--shape", "ring", "--out", str(path)], capsys)


class _StopAt:
    """A StopRequest whose stop is asked for after ``iteration`` checks."""

    def __init__(self, iteration):
        self.left = iteration

    def check(self):
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


@pytest.mark.parametrize("law", ["authors", "beta"])
def test_an_interrupted_run_resumes_bit_for_bit(tmp_path, law):
    kwargs = dict(alpha=0.5, seed=3, iterations=12, hidden=8, latent=2, lam_law=law)
    setting = dict(kwargs, shape="grid")
    straight = gan.train("grid", **kwargs)
    out = str(tmp_path)
    with pytest.raises(KeyboardInterrupt):  # stopped after iteration 4, saved at 3 and 4
        gan.train("grid", stop=_StopAt(4), save_every=3,
                  save=lambda state: gan.write_checkpoint(out, setting, state), **kwargs)
    state = gan.read_checkpoint(out, setting)
    assert state["iteration"] == 4 and [i for i, _ in state["snapshots"]] == []
    resumed = gan.train("grid", resume=state, **kwargs)
    assert [i for i, _ in resumed["snapshots"]] == [10, 12]
    for (_, a), (_, b) in zip(straight["snapshots"], resumed["snapshots"]):
        np.testing.assert_array_equal(a, b)
    # another setting is refused, naming the file and the option
    with pytest.raises(ValueError, match="state.json.*--seed 3 there"):
        gan.read_checkpoint(out, dict(setting, seed=4))


@pytest.mark.slow
def test_the_command_continues_an_interrupted_run_and_refuses_another_setting(tmp_path, capsys):
    out = str(tmp_path / "run")
    args = ["--shape", "ring", "--iterations", "300", "--hidden", "8", "--seed", "2",
            "--save-every", "10", "--out", out]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    assert gan.main(args) == 0
    capsys.readouterr()
    straight = np.load(os.path.join(out, "samples.npy"))
    # the same again: a finished run is said again, not overwritten
    before = open(os.path.join(out, "metrics.json")).read()
    again = cli("mixup_app.experiments.gan", *args)
    assert again.returncode == 0 and "is complete" in again.stderr
    assert open(os.path.join(out, "metrics.json")).read() == before
    # another setting over it is refused in one line naming metrics.json
    other = cli("mixup_app.experiments.gan", *(args[:-2] + ["--seed", "5", "--out", out]))
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1
    assert "metrics.json" in other.stderr and "--seed 2 there" in other.stderr
    # Ctrl-C: the state is saved, one line says how to go on, the same command finishes
    out2 = str(tmp_path / "run2")
    slow = args[:-1] + [out2]
    proc = subprocess.Popen([sys.executable, "-m", "mixup_app.experiments.gan"] + slow, env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = os.path.join(out2, "checkpoint", "state.json")
    deadline = time.time() + 120
    while not os.path.exists(state) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if line.strip() and "Subgraph" not in line]
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr[-2000:]
    assert lines[-1].startswith("interrupted: iterations 1-") and "same command" in lines[-1]
    resumed = cli("mixup_app.experiments.gan", *slow)
    assert resumed.returncode == 0 and "continuing" in resumed.stderr
    np.testing.assert_array_equal(np.load(os.path.join(out2, "samples.npy")), straight)
    assert not os.path.exists(os.path.join(out2, "checkpoint"))
