"""num_mix = k > 2: each mixed row combines itself with the next k - 1 samples on the random
partner cycle, weights ~ Dirichlet(alpha, ..., alpha) (one vector per batch, or per row),
labels alike. Observed mixing matrices (identity data in, M out) against the documented
structure, the weights' moments and distribution, the exact backward (finite differences,
M^T, both paths, float16), the refusals, num_mix=2 unchanged, every entry point and resume."""
import mxnet as mx
import numpy as np
import pytest
from scipy import stats

import mixup
from conftest import assert_resume_is_bit_exact, mixup_nd, observed_matrix
from mixup import draws
from mixup import op as mixup_op
from mixup.gluon import MixUp
from mixup_app import runs, train
from mixup_app.config import ConfigError, RunConfig


def _observed(batch, seed, **params):
    """(M, label_out) under `seed`: identity data, labels arange(N) with N classes, so the
    labels' mixing matrix is label_out itself."""
    params.setdefault("num_classes", batch)
    return mixup_nd(np.eye(batch), np.arange(batch), seed, **params)


@pytest.mark.parametrize("k", [3, 4, 6])
@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_each_mixed_row_combines_k_distinct_rows_with_weights_summing_to_one(k, lam_mode):
    n = 10
    for seed in range(5):
        m, labels = _observed(n, seed, num_mix=k, alpha=1.0, mix_rate=0.7, lam_mode=lam_mode)
        np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-12)
        nonzeros = (m != 0).sum(axis=1)
        mixed = nonzeros > 1
        assert mixed.sum() == mixup.mixed_count(0.7, n)
        assert np.all(nonzeros[mixed] == k), "itself and k - 1 distinct others"
        np.testing.assert_array_equal(m[~mixed], np.eye(n)[~mixed])
        assert np.all(np.diag(m)[mixed] > 0)
        np.testing.assert_allclose(labels, m, rtol=1e-6, atol=1e-7)  # labels mixed alike
        if lam_mode == "batch":  # one weight vector for the batch
            rows = np.sort(m[mixed], axis=1)[:, -k:]
            np.testing.assert_array_equal(rows, np.broadcast_to(rows[0], rows.shape))


def test_the_partners_are_the_next_rows_on_one_random_cycle():
    """With one weight vector per batch, weight j names partner j in every row: partner j is
    partner 1 applied j times, partner 1 a single cycle through the batch."""
    n, k = 9, 4
    for seed in range(6):
        m, _ = _observed(n, seed, num_mix=k, alpha=2.0, mix_rate=1.0)
        own = m[0, 0]
        weights = sorted(set(m[0][m[0] != 0]) - {own})
        assert len(weights) == k - 1, "the weights are distinct (continuous draws)"
        after = [np.array([int(np.flatnonzero(row == w)[0]) for row in m]) for w in weights]
        def powers(p):
            out = [p]
            while len(out) < k - 1:
                out.append(p[out[-1]])
            return {tuple(q) for q in out}

        # partner 1 is the one whose powers are the others
        first = [p for p in after if powers(p) == {tuple(q) for q in after}]
        assert first, "the partners are the powers of one of them"
        first = first[0]
        cycle, i = [0], first[0]
        while i != 0:
            cycle.append(i)
            i = first[i]
        assert len(cycle) == n, "one cycle through the whole batch"


@pytest.mark.parametrize("k,alpha", [(3, 0.5), (4, 1.0), (5, 0.2)])
def test_the_weights_follow_dirichlet_alpha(k, alpha):
    """Over many rows (one vector per row): each weight has the Dirichlet's marginal,
    Beta(alpha, (k - 1) alpha), mean 1/k and variance (k-1) / (k^2 (k alpha + 1)); the own
    weight and a partner's covary by -1 / (k^2 (k alpha + 1))."""
    n = 50
    own, partner = [], []
    for seed in range(60):
        m, _ = _observed(n, seed, num_mix=k, alpha=alpha, mix_rate=1.0, lam_mode="sample")
        off = m - np.diag(np.diag(m))
        own.append(np.diag(m))
        partner.append(off[np.arange(n), np.argmax(off > 0, axis=1)])  # one of the others
    own, partner = np.concatenate(own), np.concatenate(partner)
    count = len(own)
    mean, var = 1 / k, (k - 1) / (k ** 2 * (k * alpha + 1))
    cov = -1 / (k ** 2 * (k * alpha + 1))
    for w in (own, partner):
        assert abs(w.mean() - mean) < 5 * np.sqrt(var / count)
        assert abs(w.var() - var) < 0.1 * var
        assert stats.kstest(w, stats.beta(alpha, (k - 1) * alpha).cdf).pvalue > 1e-3
    assert abs(np.cov(own, partner)[0, 1] - cov) < 0.15 * abs(cov) + 3 * var / np.sqrt(count)


def test_the_draws_of_num_mix_2_are_mixups():
    """k = 2 is the same plan, draw for draw: Dirichlet(alpha, alpha) is Beta(alpha, alpha)."""
    for seed in range(4):
        plain = observed_matrix(8, seed, alpha=0.3, mix_rate=0.7, lam_mode="sample")
        np.testing.assert_array_equal(observed_matrix(8, seed, alpha=0.3, mix_rate=0.7,
                                                      lam_mode="sample", num_mix=2), plain)
    a = draws.draw_plan(np.random.default_rng(1), 8, 0.5, 0.4, "sample")
    b = draws.draw_plan(np.random.default_rng(1), 8, 0.5, 0.4, "sample", num_mix=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a.give.shape == (8,)


# ---------------------------------------------------------------------- backward

PARAMS = dict(num_classes=3, alpha=0.5, mix_rate=0.8, num_mix=3, lam_mode="sample")


def bind(shape, seed, dtype=np.float64, grad_req="write"):
    mx.random.seed(seed)
    sym = mx.sym.Custom(mx.sym.var("data"), mx.sym.var("label"), op_type="MixUp", **PARAMS)
    return sym.simple_bind(mx.cpu(), data=shape, label=(shape[0],), type_dict={"data": dtype},
                           grad_req={"data": grad_req, "label": "null"})


def forward(exe, x, y):
    exe.forward(is_train=True, data=mx.nd.array(x, dtype=x.dtype), label=mx.nd.array(y))
    return exe.outputs[0].asnumpy()


@pytest.mark.parametrize("on_host", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 2, 3)])
def test_gradient_matches_central_finite_differences(monkeypatch, rng, on_host, shape):
    monkeypatch.setattr(mixup_op, "mixes_on_host", lambda *_: on_host)
    x, head = rng.normal(size=shape), rng.normal(size=shape)
    y = rng.integers(0, 3, size=shape[0])
    exe = bind(shape, 21)
    forward(exe, x, y)
    exe.backward([mx.nd.array(head, dtype=np.float64), mx.nd.zeros((shape[0], 3))])
    analytic = exe.grad_dict["data"].asnumpy()

    def loss(at):
        return float((forward(bind(shape, 21, grad_req="null"), at, y) * head).sum())

    eps = 1e-4
    numeric = np.zeros_like(x)
    for idx in np.ndindex(*shape):
        step = np.zeros_like(x)
        step[idx] = eps
        numeric[idx] = (loss(x + step) - loss(x - step)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    m = observed_matrix(shape[0], 21, **PARAMS)
    assert np.all((m != 0).sum(axis=1)[np.diag(m) != 1] == 3)
    np.testing.assert_allclose(analytic.reshape(shape[0], -1),
                               m.T @ head.reshape(shape[0], -1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,tolerance", [(np.float16, 5e-3), (np.float32, 1e-5)])
@pytest.mark.parametrize("on_host", [True, False])
def test_every_dtype_and_path_is_the_observed_map_and_its_transpose(monkeypatch, rng, dtype,
                                                                    tolerance, on_host):
    monkeypatch.setattr(mixup_op, "mixes_on_host", lambda *_: on_host)
    n = 8
    m = observed_matrix(n, 4, **PARAMS)
    x, head = rng.normal(size=(n, 5)).astype(dtype), rng.normal(size=(n, 5)).astype(dtype)
    exe = bind((n, 5), 4, dtype)
    out = forward(exe, x, np.zeros(n))
    exe.backward([mx.nd.array(head, dtype=dtype), mx.nd.zeros((n, 3))])
    grad = exe.grad_dict["data"].asnumpy()
    assert out.dtype == grad.dtype == dtype
    np.testing.assert_allclose(out, m @ x.astype(np.float64), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(grad, m.T @ head.astype(np.float64), rtol=tolerance,
                               atol=tolerance)


def test_the_row_map_with_several_partners_selects_zero_weights_away():
    from mixup.mixing import RowMixing
    keep = np.array([0.5, 1.0, 0.25, 0.0])
    give = np.array([[0.25, 0.0, 0.5, 0.5], [0.25, 0.0, 0.25, 0.5]])
    index = np.array([[1, 2, 3, 0], [2, 3, 0, 1]])
    dense = np.diag(keep) + sum(np.diag(g) @ np.eye(4)[i] for g, i in zip(give, index))
    x = np.arange(12.0).reshape(4, 3)
    x[3, 0] = np.nan  # row 3 reaches rows 0 and 2 only (row 1 keeps itself, weight 0 to it)
    m = RowMixing(keep, give, index)
    for transpose in (False, True):
        matrix = dense.T if transpose else dense
        host = m.apply_numpy(x, transpose=transpose)
        for dtype in (np.float64, np.float16):
            device = m.apply(mx.nd.array(x, dtype=dtype), transpose=transpose).asnumpy()
            np.testing.assert_allclose(device, host, rtol=1e-3)
        reached = set(np.flatnonzero(matrix[:, 3] != 0))
        assert set(np.flatnonzero(np.isnan(host).any(axis=1))) == reached
        clean = sorted(set(range(4)) - reached)
        np.testing.assert_allclose(host[clean], (matrix @ np.nan_to_num(x))[clean])


# ---------------------------------------------------------------------- refusals, entry points

@pytest.mark.parametrize("other", [dict(mode="cutmix"), dict(mode="switch"),
                                   dict(lam_mode="input"), dict(pairing="other_class"),
                                   dict(pairing="same_class")])
def test_several_partners_are_refused_where_one_is_meant_in_one_line(other):
    with pytest.raises(ValueError) as refused:
        mixup.parse(num_classes=3, num_mix=3, **other)
    message = str(refused.value)
    assert "num_mix=3" in message and repr(next(iter(other.values()))) in message
    assert "\n" not in message
    with pytest.raises(ValueError, match="num_mix=4"):
        MixUp(num_classes=3, num_mix=4, **other)
    assert mixup.parse(num_classes=3, num_mix=2, **other).num_mix == 2


def test_num_mix_in_every_entry_point():
    node = mixup.symbol(mx.sym.var("d"), mx.sym.var("l"), num_classes=3, num_mix=3)[0]
    assert node.list_arguments() == ["d", "l"]
    assert mixup.parse(num_classes=3, num_mix="4").num_mix == 4  # MXNet's strings
    # the trainer: the option is parsed once, into the run's config (which checks it)
    def config(value):
        args = train.build_parser().parse_args(["--num-mix", value])
        return RunConfig.from_options(**train.config_options(args, None))
    assert config("3").mixing.num_mix == 3
    with pytest.raises(ConfigError, match="--num-mix"):  # a whole number
        config("2.5")


def test_k_way_runs_resume_bit_exactly(tmp_path, data_dir):
    whole = assert_resume_is_bit_exact(tmp_path, data_dir, [
        "--alpha", "1", "--mix-rate", "1", "--seed", "4", "--num-mix", "3", "--lam-mode",
        "sample"])
    assert runs.load_config(whole).mixing.num_mix == 3
