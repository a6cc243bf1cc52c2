"""--policy adaptive (AdaMixup, mixup_app/adaptive.py) and the op's pairing='flip' it needs."""
import json
import os
import types

import mxnet as mx
import numpy as np
import pytest

import mixup
from conftest import TINY, cli
from mixup_app import adaptive, plots, report, runs, train
from mixup_app.config import ConfigError, RunConfig


# ---------------------------------------------------------------------- pairing='flip'

def _flip_op(x, labels, lam, mix_rate=1.0, seed=0):
    mx.random.seed(seed)
    with mx.autograd.train_mode():
        out = mx.nd.Custom(mx.nd.array(x), mx.nd.array(labels), mx.nd.array(lam),
                           op_type="MixUp", num_classes=3, lam_mode="input", pairing="flip",
                           mix_rate=mix_rate)
    return out[0].asnumpy(), out[1].asnumpy()


@pytest.mark.parametrize("batch", [6, 7])
def test_flip_pairs_row_i_with_row_n_minus_1_minus_i(rng, batch):
    x = rng.normal(size=(batch, 4))
    labels = rng.integers(0, 3, batch)
    lam = rng.random(batch)
    data, label = _flip_op(x, labels, lam)
    onehot = np.eye(3)[labels]
    keep = lam.copy()
    if batch % 2:
        keep[batch // 2] = 1.0  # the middle row is its own partner: unmixed
    np.testing.assert_allclose(data, keep[:, None] * x + (1 - keep[:, None]) * x[::-1],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(label, keep[:, None] * onehot + (1 - keep[:, None]) * onehot[::-1],
                               rtol=1e-5, atol=1e-6)


def test_flip_with_mix_rate_mixes_a_drawn_subset_with_the_same_partners(rng):
    batch = 10
    x = rng.normal(size=(batch, 3))
    lam = np.full(batch, 0.25)
    data, _ = _flip_op(x, np.zeros(batch), lam, mix_rate=0.5, seed=3)
    mixed = ~np.isclose(data, x).all(axis=1)
    assert mixed.sum() == 5
    expected = 0.25 * x + 0.75 * x[::-1]
    np.testing.assert_allclose(data[mixed], expected[mixed], rtol=1e-5, atol=1e-6)
    # the draws of the subset are the op's own, as for the other pairings
    np.testing.assert_array_equal(data, _flip_op(x, np.zeros(batch), lam, 0.5, seed=3)[0])


def test_flip_is_a_pairing_like_the_others():
    partner = mixup.draws.flip_partners(5)
    np.testing.assert_array_equal(partner, [4, 3, 2, 1, 0])
    assert mixup.parse(num_classes=3, pairing="flip").pairing == "flip"
    with pytest.raises(ValueError, match="num_mix=3"):
        mixup.parse(num_classes=3, pairing="flip", num_mix=3)


# ---------------------------------------------------------------------- the graph

SMALL = types.SimpleNamespace(num_layers=8, image_shape=(3, 8, 8), policy="adaptive",
                              batch_size=8)


def _executor(seed=0):
    """The AdaMixup graph of a batch of 8 (3x8x8, 3 classes) bound on the CPU, initialised."""
    symbol = adaptive.training_graph(SMALL, 3)
    internals = symbol.get_internals()
    mixed_name = [n for n in internals.list_outputs() if n.startswith("mixup")][0]
    group = mx.sym.Group([symbol, mx.sym.BlockGrad(internals[mixed_name])])
    mx.random.seed(seed)
    ex = group.simple_bind(mx.cpu(), data=(8, 3, 8, 8), adamixup_eps=(8,), softmax_label=(8,))
    init = mx.init.Xavier(rnd_type="gaussian", magnitude=2)
    for name, array in ex.arg_dict.items():
        if name not in ("data", "adamixup_eps", "softmax_label"):
            init(mx.init.InitDesc(name), array)
    for name, array in ex.aux_dict.items():
        array[:] = 1.0 if name.endswith("moving_var") else 0.0
    rng = np.random.default_rng(seed)
    ex.arg_dict["data"][:] = rng.normal(size=(8, 3, 8, 8))
    ex.arg_dict["softmax_label"][:] = rng.integers(0, 3, 8)
    ex.arg_dict["adamixup_eps"][:] = rng.random(8)
    return ex


def _objective(outputs, labels):
    """The summed losses the graph's gradients are of: cross-entropy of the originals, of the
    mixed points (their MakeLoss values) and the intrusion loss (B real, M mixed)."""
    probs, _, mixed_ce, p_real = (o.asnumpy().astype(np.float64) for o in outputs[:4])
    ce = -np.log(probs[np.arange(len(labels)), labels.astype(int)]).sum()
    half = len(p_real) // 2
    target = np.r_[np.ones(half), np.zeros(half)]
    p_real = p_real[:, 0]
    bce = -(target * np.log(p_real) + (1 - target) * np.log(1 - p_real)).sum()
    return ce + mixed_ce.sum() + bce


def test_lambda_is_alpha_plus_delta_eps_and_mixes_the_flipped_pair():
    ex = _executor()
    outputs = ex.forward(is_train=True)
    policy = outputs[4].asnumpy().astype(np.float64)
    alpha, upper, eps, lam = policy[:, :4].T
    np.testing.assert_allclose(eps, ex.arg_dict["adamixup_eps"].asnumpy()[:4])
    assert (0 <= alpha).all() and (alpha <= lam).all() and (lam <= upper).all()
    assert (upper <= 1 + 1e-6).all() and (upper > alpha).all()
    np.testing.assert_allclose(lam, alpha + (upper - alpha) * eps, rtol=1e-6, atol=1e-7)
    first = ex.arg_dict["data"].asnumpy()[:4].astype(np.float64)
    expected = lam[:, None, None, None] * first + (1 - lam[:, None, None, None]) * first[::-1]
    np.testing.assert_allclose(outputs[5].asnumpy(), expected, rtol=1e-5, atol=1e-5)
    # shapes: originals (8, 3), their one-hot labels, 4 mixed losses, P(real) of [B; M]
    assert [o.shape for o in outputs[:5]] == [(8, 3), (8, 3), (4,), (8, 1), (4, 5)]


def test_the_generator_learns_through_lambda_finite_differences():
    ex = _executor(seed=1)
    labels = ex.arg_dict["softmax_label"].asnumpy()
    ex.forward(is_train=True)
    ex.backward()
    grad = ex.grad_dict["adamixup_gen_fc_bias"].asnumpy().astype(np.float64)
    assert np.abs(grad).max() > 1e-3
    bias = ex.arg_dict["adamixup_gen_fc_bias"]
    step = 1e-3  # the objective curves: central differences converge to the gradient as step -> 0
    for k in range(3):
        values = []
        for sign in (1, -1):
            shifted = bias.asnumpy()
            shifted[k] += sign * step
            bias[:] = shifted
            values.append(_objective(ex.forward(is_train=True), labels))
            shifted[k] -= sign * step
            bias[:] = shifted
        numeric = (values[0] - values[1]) / (2 * step)
        assert abs(numeric - grad[k]) <= 5e-3 + 0.05 * abs(grad[k]), (k, numeric, grad[k])


def test_eps_is_a_pure_function_of_seed_epoch_rank_and_step():
    a = adaptive.eps_draws((0, 1, 0), 16, 3)
    np.testing.assert_array_equal(a, adaptive.eps_draws((0, 1, 0), 16, 3))
    assert a.dtype == np.float32 and ((0 <= a) & (a < 1)).all()
    for other in (((1, 1, 0), 3), ((0, 2, 0), 3), ((0, 1, 1), 3), ((0, 1, 0), 4)):
        assert not np.array_equal(a, adaptive.eps_draws(other[0], 16, other[1]))


# ---------------------------------------------------------------------- the command line

@pytest.mark.parametrize("options, words", [
    (dict(mode="cutmix"), ["--policy adaptive", "--mode cutmix"]),
    (dict(mixup_at="stage1"), ["--mixup-at stage1"]),
    (dict(mixup_at="input,stage2", pairing="same_class"),
     ["--mixup-at input,stage2", "--pairing same_class"]),
    (dict(network="gluoncv:cifar_resnet20_v1"), ["--network gluoncv:cifar_resnet20_v1"]),
    (dict(mixup_off_epochs=1), ["--mixup-off-epochs 1"]),
    (dict(batch_size=18), ["--batch-size", "multiple of 4", "18"]),
    (dict(batch_size=20, cpu_devices=2), ["--batch-size", "4 x 2 device(s)", "20"]),
])
def test_refusals_name_the_options(options, words):
    with pytest.raises(ConfigError) as refused:
        RunConfig.from_options(policy="adaptive", **options)
    message = str(refused.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_the_fixed_policy_is_the_default_and_unchanged():
    config = RunConfig.from_options()
    assert config.policy == "fixed" and not adaptive.adaptive(config)
    assert adaptive.extra_data(config) == [] and adaptive.meter(config) is None
    batches = object()
    assert adaptive.with_eps(config, batches, key=(0, 0, 0)) is batches
    assert adaptive.val_batch(config, 45, 2) == 45


def test_refused_on_the_command_line_in_one_line(capsys):
    assert train.main(["--policy", "adaptive", "--mode", "cutmix"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--mode cutmix" in err[0], err


# ---------------------------------------------------------------------- training

def _two_epochs(data_dir):
    return TINY + ["--data-dir", data_dir, "--policy", "adaptive", "--batch-size", "16",
                   "--cpu-devices", "2", "--num-epochs", "2"]


@pytest.fixture(scope="module")
def adaptive_runs(tmp_path_factory, data_dir):
    """Two epochs straight, and one + one resumed, on two CPU contexts."""
    root = tmp_path_factory.mktemp("ada")
    common = _two_epochs(data_dir)
    whole, parts = str(root / "whole"), str(root / "parts")
    assert train.main(common + ["--out-dir", whole]) == 0
    assert train.main(common[:-1] + ["1", "--out-dir", parts]) == 0
    assert train.main(["--resume", "--num-epochs", "2", "--out-dir", parts]) == 0
    return whole, parts


@pytest.mark.slow
def test_resume_is_bit_exact(adaptive_runs):
    whole, parts = adaptive_runs
    args_w, auxs_w = runs.load_params(whole, 2)
    args_p, auxs_p = runs.load_params(parts, 2)
    assert set(args_w) == set(args_p) and any(k.startswith("adamixup_gen") for k in args_w)
    for name in args_w:
        np.testing.assert_array_equal(args_w[name].asnumpy(), args_p[name].asnumpy(), name)
    for name in auxs_w:
        np.testing.assert_array_equal(auxs_w[name].asnumpy(), auxs_p[name].asnumpy(), name)
    assert runs.read_metrics(parts)[1] == dict(runs.read_metrics(whole)[1], **{
        k: runs.read_metrics(parts)[1][k] for k in ("seconds", "images_per_sec",
                                                   "wall_seconds")})


@pytest.mark.slow
def test_batchnorm_recalibration_changes_the_moving_statistics_and_nothing_else(
        adaptive_runs, tmp_path, data_dir, monkeypatch):
    """The same run without the epoch's end recalibration: the same parameters bit for bit
    (training never reads the moving statistics), the generator's statistics too; the
    network's are those measured on real images (tests/test_batchnorm.py checks the measure)."""
    whole, _ = adaptive_runs
    from mixup_app import fit
    monkeypatch.setattr(fit, "recalibrate", lambda config, lay, epoch, params, *_: params)
    plain = str(tmp_path / "plain")
    assert train.main(_two_epochs(data_dir) + ["--out-dir", plain]) == 0
    args_w, auxs_w = runs.load_params(whole, 2)
    args_p, auxs_p = runs.load_params(plain, 2)
    for name in args_w:
        np.testing.assert_array_equal(args_w[name].asnumpy(), args_p[name].asnumpy(), name)
    changed = [name for name in auxs_w
               if not np.array_equal(auxs_w[name].asnumpy(), auxs_p[name].asnumpy())]
    assert changed and not any(name.startswith(adaptive.GENERATOR) for name in changed)
    assert {n for n in auxs_w if not n.startswith(adaptive.GENERATOR)} == set(changed)


@pytest.mark.slow
def test_metrics_rows_report_and_curves_show_the_policy(adaptive_runs, tmp_path):
    whole, _ = adaptive_runs
    rows = runs.read_metrics(whole)
    for row in rows:
        assert 0 <= row["policy_low"] <= row["policy_high"] <= 1
        assert 0 <= row["intrusion_accuracy"] <= 1 and np.isfinite(row["mixed_loss"])
    config = json.load(open(os.path.join(whole, "config.json")))
    assert config["policy"] == "adaptive"
    _, _, figures = report.measure(whole)
    assert figures["λ low"] == rows[-1]["policy_low"]
    assert figures["intrusion acc"] == rows[-1]["intrusion_accuracy"]
    assert report.describe(RunConfig.load(whole)) == "AdaMixup"
    plots.curves(rows, str(tmp_path / "c.png"))
    assert open(str(tmp_path / "c.png"), "rb").read(4) == b"\x89PNG"


@pytest.mark.slow
def test_test_sh_scores_the_classifier_alone(adaptive_runs):
    whole, _ = adaptive_runs
    proc = cli("mixup_app.score", "--out-dir", whole)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.load(open(os.path.join(whole, "test.json")))
    assert result["count"] == 45
    assert result["accuracy"] == pytest.approx(runs.read_metrics(whole)[-1]["val_accuracy"])


@pytest.mark.slow
def test_two_worker_dist_sync_run(tmp_path, data_dir):
    out = str(tmp_path / "dist")
    proc = cli("mixup_app.train", *TINY, "--data-dir", data_dir, "--num-epochs", "1",
               "--out-dir", out, "--kv-store", "dist_sync", "--num-workers", "2",
               "--policy", "adaptive")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    rows = runs.read_metrics(out)
    assert len(rows) == 1 and rows[0]["num_workers"] == 2 and rows[0]["val_count"] == 45
    assert 0 <= rows[0]["policy_low"] <= rows[0]["policy_high"] <= 1
    assert runs.checkpoint_epochs(out) == [1]
