"""Forward semantics of MixUp against a numpy reference built from the observed draws."""
import mxnet as mx
import numpy as np
import pytest
from scipy import stats

from conftest import mixup_nd, observed_matrix


def mixed_rows(m):
    return [i for i in range(m.shape[0]) if not np.isclose(m[i, i], 1.0)]


def assert_valid_mixing_matrix(m, mix_rate, lam_mode):
    n = m.shape[0]
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    rows = mixed_rows(m)
    assert len(rows) == int(np.floor(mix_rate * n + 0.5)) if n > 1 else len(rows) == 0
    lams = []
    for i in range(n):
        off = [j for j in range(n) if j != i and m[i, j] != 0]
        if i in rows:
            assert len(off) == 1, "a mixed row has exactly one partner"
            lams.append(m[i, i])
        else:
            assert off == [] and m[i, i] == 1.0
    if lam_mode == "batch" and lams:
        np.testing.assert_allclose(lams, lams[0], rtol=0, atol=1e-7)
    return rows


@pytest.mark.parametrize("shape", [(8, 5), (6, 3, 4, 4), (5, 2, 3)])
@pytest.mark.parametrize("mix_rate", [1.0, 0.7, 0.25])
@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_forward_is_the_observed_mixing_of_data_and_one_hot_labels(rng, shape, mix_rate,
                                                                   lam_mode):
    n, classes = shape[0], 4
    params = dict(num_classes=classes, alpha=0.4, mix_rate=mix_rate, lam_mode=lam_mode)
    m = observed_matrix(n, seed=7, **params)
    assert_valid_mixing_matrix(m, mix_rate, lam_mode)
    x = rng.normal(size=shape)
    y = rng.integers(0, classes, size=n)
    data, label = mixup_nd(x, y, seed=7, **params)
    expect = (m @ x.reshape(n, -1)).reshape(shape)
    np.testing.assert_allclose(data, expect, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(label, m @ np.eye(classes)[y], rtol=1e-5, atol=1e-6)
    assert label.dtype == np.float32 and data.shape == shape


def test_probability_labels_are_mixed_as_given(rng):
    n, classes = 6, 5
    y = rng.dirichlet(np.ones(classes), size=n)
    m = observed_matrix(n, seed=3, num_classes=classes, alpha=1.0)
    _, label = mixup_nd(rng.normal(size=(n, 2)), y, seed=3, num_classes=classes, alpha=1.0)
    np.testing.assert_allclose(label, m @ y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(label.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("mix_rate", [0.0, 0.1, 0.5, 0.7, 0.95, 1.0])
@pytest.mark.parametrize("n", [1, 2, 7, 32])
def test_exactly_round_mix_rate_times_n_samples_are_mixed(mix_rate, n):
    expect = 0 if n == 1 else int(np.floor(mix_rate * n + 0.5))
    for seed in range(5):
        # alpha=1: lambda is uniform, so a mixed row never looks unmixed in float64.
        m = observed_matrix(n, seed=seed, num_classes=2, alpha=1.0, mix_rate=mix_rate)
        assert len(mixed_rows(m)) == expect


@pytest.mark.slow
def test_mixed_subset_is_uniform_over_the_batch():
    n, draws = 6, 600
    counts = np.zeros(n)
    for seed in range(draws):
        m = observed_matrix(n, seed=seed, num_classes=2, alpha=1.0, mix_rate=0.5)
        counts[mixed_rows(m)] += 1
    assert counts.sum() == 3 * draws
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.slow
def test_partner_is_never_self_and_uniform_over_the_others():
    n, draws = 5, 800
    hits = np.zeros(n)
    for seed in range(draws):
        m = observed_matrix(n, seed=seed, num_classes=2, alpha=1.0)
        partner = [j for j in range(n) if j != 0 and m[0, j] != 0]
        assert len(partner) == 1
        hits[partner[0]] += 1
    assert hits[0] == 0
    assert stats.chisquare(hits[1:]).pvalue > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [0.2, 1.0, 3.0])
def test_lambda_follows_beta_alpha_alpha(alpha):
    # 400 batches of 4, one lambda per batch: Kolmogorov-Smirnov against Beta(alpha, alpha).
    lams = [observed_matrix(4, seed=1000 + s, num_classes=2, alpha=alpha)[0, 0]
            for s in range(400)]
    assert stats.kstest(lams, stats.beta(alpha, alpha).cdf).pvalue > 1e-3
    # and a wrong alpha is told apart by the same test
    assert stats.kstest(lams, stats.beta(alpha * 3, alpha * 3).cdf).pvalue < 1e-3


def test_sample_mode_draws_one_lambda_per_sample():
    m = observed_matrix(64, seed=4, num_classes=2, alpha=1.0, lam_mode="sample")
    lams = np.diag(m)
    assert len(np.unique(np.round(lams, 6))) > 50
    assert stats.kstest(lams, stats.uniform.cdf).pvalue > 1e-3


@pytest.mark.parametrize("label_form", ["index", "probability"])
def test_inference_is_the_identity_with_one_hot_labels(rng, label_form):
    n, classes = 8, 4
    x = rng.normal(size=(n, 3, 2, 2))
    idx = rng.integers(0, classes, size=n)
    y = idx if label_form == "index" else rng.dirichlet(np.ones(classes), size=n)
    data, label = mixup_nd(x, y, seed=0, train=False, num_classes=classes, mix_rate=1.0)
    np.testing.assert_array_equal(data, x)
    expect = np.eye(classes)[idx] if label_form == "index" else y
    np.testing.assert_allclose(label, expect, rtol=1e-6)


def test_mix_rate_zero_is_plain_training(rng):
    x = rng.normal(size=(5, 3))
    data, label = mixup_nd(x, np.arange(5) % 3, seed=0, mix_rate=0.0)
    np.testing.assert_array_equal(data, x)
    np.testing.assert_array_equal(label, np.eye(3)[np.arange(5) % 3])


def test_same_seed_same_draws_other_seed_other_draws(rng):
    x = rng.normal(size=(16, 4))
    y = rng.integers(0, 3, size=16)
    a = mixup_nd(x, y, seed=11, alpha=1.0)
    b = mixup_nd(x, y, seed=11, alpha=1.0)
    c = mixup_nd(x, y, seed=12, alpha=1.0)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])


def test_seed_reproduces_a_bound_executor_over_several_steps(rng):
    sym = mx.sym.Custom(mx.sym.var("data"), mx.sym.var("label"), op_type="MixUp",
                        num_classes=3, alpha=1.0, mix_rate=0.5)
    x = mx.nd.array(rng.normal(size=(8, 4)))
    y = mx.nd.array(rng.integers(0, 3, size=8))

    def run():
        mx.random.seed(5)
        exe = sym.simple_bind(mx.cpu(), data=(8, 4), label=(8,), grad_req="null")
        steps = []
        for _ in range(3):
            exe.forward(is_train=True, data=x, label=y)
            steps.append(exe.outputs[0].asnumpy())
        return steps

    first, second = run(), run()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1]), "each step draws anew"


def test_float16_data_stay_float16_and_match_the_reference(rng):
    n = 8
    m = observed_matrix(n, seed=9, dtype=np.float32, num_classes=3, alpha=1.0)
    x = rng.normal(size=(n, 3, 4)).astype(np.float16)
    data, label = mixup_nd(x, np.arange(n) % 3, seed=9, num_classes=3, alpha=1.0)
    assert data.dtype == np.float16 and label.dtype == np.float32
    expect = (m @ x.astype(np.float64).reshape(n, -1)).reshape(x.shape)
    np.testing.assert_allclose(data.astype(np.float64), expect, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(label, m @ np.eye(3)[np.arange(n) % 3], atol=1e-3)
