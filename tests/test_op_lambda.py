"""lambda ~ Beta(alpha, alpha) for every alpha > 0: the right distribution (chi-square against
scipy.stats.beta), fast, and never a hang for tiny alpha."""
import time

import numpy as np
import pytest
from scipy import stats

from conftest import last_json_line, run_python
from mixup.draws import symmetric_beta

# Bin edges fine enough to see the mass that piles up near 0 and 1 for small alpha; values
# within 1e-16 of 1 round to 1.0 in float64, so the upper edges stay away from 1.
EDGES = np.array([0, 1e-300, 1e-100, 1e-30, 1e-10, 1e-4, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9,
                  0.99, 1 - 1e-4, 1])


def chi_square_pvalue(draws, alpha):
    expected = np.diff(stats.beta(alpha, alpha).cdf(EDGES)) * len(draws)
    observed = np.histogram(draws, bins=EDGES)[0]
    keep = expected >= 5  # chi-square needs enough expected counts; the rest are pooled
    observed = np.append(observed[keep], observed[~keep].sum())
    expected = np.append(expected[keep], expected[~keep].sum())
    if expected[-1] < 5:
        observed, expected = observed[:-1], expected[:-1]
        expected *= observed.sum() / expected.sum()
    return stats.chisquare(observed, expected).pvalue


@pytest.mark.parametrize("alpha", [1e-3, 0.05, 0.2, 1.0, 5.0])
def test_draws_follow_beta_alpha_alpha(alpha):
    draws = symmetric_beta(np.random.default_rng(7), alpha, 20000)
    assert chi_square_pvalue(draws, alpha) > 1e-3
    # and a wrong alpha is told apart by the same test
    assert chi_square_pvalue(draws, alpha * 4) < 1e-3
    if alpha >= 0.2:  # where float64 resolves the whole distribution, Kolmogorov-Smirnov too
        assert stats.kstest(draws, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


@pytest.mark.parametrize("alpha", [1e-12, 1e-20, 1e-300])
def test_tiny_alpha_is_fast_and_tends_to_a_fair_coin(alpha):
    start = time.perf_counter()
    draws = symmetric_beta(np.random.default_rng(3), alpha, 20000)
    assert time.perf_counter() - start < 1.0
    # Beta(a, a) -> Bernoulli(1/2) as a -> 0: P(1e-100 < lam < 1 - 1e-4) ~ 2a * 230, nil here
    low, high = draws < 1e-100, draws > 1 - 1e-4
    assert np.all(low | high)
    assert stats.binomtest(int(low.sum()), len(draws)).pvalue > 1e-3


@pytest.mark.slow
def test_the_operator_with_tiny_alpha_does_not_hang():
    """In a fresh interpreter with a deadline: numpy's Beta sampler used to spin forever here
    (signals ignored), which would have taken the test run down."""
    code = """
import json, time, numpy as np, mxnet as mx, mixup
start = time.perf_counter()
eye = mx.nd.array(np.eye(6))
lams = []
for lam_mode in ("batch", "sample"):
    for _ in range(20):
        with mx.autograd.train_mode():
            out = mx.nd.Custom(eye, mx.nd.zeros(6), op_type="MixUp", num_classes=2,
                               alpha=1e-20, lam_mode=lam_mode)
        lams.extend(np.diag(out[0].asnumpy()).tolist())
print(json.dumps({"seconds": time.perf_counter() - start, "lams": lams}))
"""
    proc = run_python(code, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = last_json_line(proc.stdout)
    assert result["seconds"] < 30
    lams = np.array(result["lams"])
    assert np.all((lams == 0) | (lams == 1)), "alpha=1e-20: every lambda is 0 or 1"
    assert 0 < np.mean(lams == 1) < 1
