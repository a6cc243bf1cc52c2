"""A NaN or inf in one sample reaches only the rows that really mix that sample, forward and
backward, on every dtype; unmixed rows are exact copies. The plan is observed: the mixing
matrix M of the same seed, from the op applied to the identity."""
import mxnet as mx
import numpy as np
import pytest

from conftest import mixup_nd, observed_matrix

PARAMS = dict(num_classes=3, alpha=1.0, mix_rate=0.5)
N, FEATURES = 8, 5
DTYPES = [np.float16, np.float32, np.float64]


def nonfinite_rows(a):
    return set(np.flatnonzero(~np.isfinite(a.astype(np.float64)).all(axis=1)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_forward_spreads_a_non_finite_sample_only_to_its_mixes(rng, dtype, bad, lam_mode):
    params = dict(PARAMS, lam_mode=lam_mode)
    for seed in range(12):
        m = observed_matrix(N, seed, **params)
        sick = seed % N
        x = rng.normal(size=(N, FEATURES)).astype(dtype)
        x[sick, 2] = bad
        out, _ = mixup_nd(x, np.arange(N) % 3, seed, **params)
        assert nonfinite_rows(out) == set(np.flatnonzero(m[:, sick] != 0))
        unmixed = [i for i in range(N) if m[i, i] == 1.0]
        assert unmixed, "mix_rate 0.5 leaves rows unmixed"
        np.testing.assert_array_equal(out[unmixed], x[unmixed])  # exact copies
        healthy = sorted(set(range(N)) - nonfinite_rows(out))
        clean = np.where(np.isfinite(x), x, 0).astype(np.float64)
        tol = 2e-3 if dtype == np.float16 else 1e-6
        np.testing.assert_allclose(out[healthy].astype(np.float64), (m @ clean)[healthy],
                                   rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_backward_spreads_a_non_finite_gradient_only_to_the_inputs_it_mixed(rng, dtype,
                                                                            lam_mode):
    params = dict(PARAMS, lam_mode=lam_mode)
    sym = mx.sym.Custom(mx.sym.var("data", dtype=dtype), mx.sym.var("label"), op_type="MixUp",
                        **params)
    for seed in range(12):
        m = observed_matrix(N, seed, **params)
        sick = seed % N
        mx.random.seed(seed)
        exe = sym.simple_bind(mx.cpu(), data=(N, FEATURES), label=(N,),
                              type_dict={"data": dtype}, grad_req={"data": "write",
                                                                   "label": "null"})
        x = rng.normal(size=(N, FEATURES)).astype(dtype)
        head = rng.normal(size=(N, FEATURES)).astype(dtype)
        head[sick, 1] = np.nan
        exe.forward(is_train=True, data=mx.nd.array(x, dtype=dtype),
                    label=mx.nd.array(np.arange(N) % 3))
        exe.backward([mx.nd.array(head, dtype=dtype), mx.nd.zeros((N, 3))])
        grad = exe.grad_dict["data"].asnumpy()
        assert nonfinite_rows(grad) == set(np.flatnonzero(m[sick] != 0))
        untouched = [j for j in range(N) if m[:, j].tolist().count(0) == N - 1
                     and m[j, j] == 1.0]  # inputs that reach only their own, unmixed, row
        np.testing.assert_array_equal(grad[untouched], head[untouched])
