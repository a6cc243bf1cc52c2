"""label_smoothing: class-index labels become (1 - eps) one_hot + eps / C before mixing, in
training mode, mixed rows and unmixed rows alike; probability labels are taken as given;
inference gives plain one-hot rows."""
import numpy as np
import pytest

import mixup
from conftest import mixup_nd, observed_matrix

N, CLASSES, EPS = 8, 5, 0.2


def smoothed(labels):
    return (1 - EPS) * np.eye(CLASSES)[labels] + EPS / CLASSES


@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_smoothed_rows_are_mixed_and_unmixed_rows_smoothed_too(rng, lam_mode):
    params = dict(num_classes=CLASSES, alpha=1.0, mix_rate=0.5, lam_mode=lam_mode,
                  label_smoothing=EPS)
    labels = rng.integers(0, CLASSES, size=N)
    m = observed_matrix(N, 3, **params)
    _, soft = mixup_nd(rng.normal(size=(N, 2)), labels, 3, **params)
    np.testing.assert_allclose(soft, m @ smoothed(labels), rtol=1e-6, atol=1e-7)
    unmixed = np.isclose(np.diag(m), 1.0)
    assert unmixed.sum() == N // 2
    np.testing.assert_allclose(soft[unmixed], smoothed(labels)[unmixed], rtol=1e-6)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)


def test_cutmix_mixes_smoothed_rows_by_the_kept_area(rng):
    x = np.zeros((N, 1, 6, 6))
    x[:, 0] = np.arange(N)[:, None, None]  # a pixel says which sample it came from
    labels = rng.integers(0, CLASSES, size=N)
    out, soft = mixup_nd(x, labels, 8, num_classes=CLASSES, mode="cutmix",
                         label_smoothing=EPS, lam_mode="sample")
    for i in range(N):
        partners = set(np.unique(out[i])) - {i}
        area = np.mean(out[i] != i)
        expect = (1 - area) * smoothed(labels)[i]
        if partners:
            expect = expect + area * smoothed(labels)[int(partners.pop())]
        np.testing.assert_allclose(soft[i], expect, rtol=1e-6, atol=1e-7)


def test_paused_smooths_without_mixing_and_inference_gives_plain_one_hot(rng):
    labels = rng.integers(0, CLASSES, size=N)
    x = rng.normal(size=(N, 3))
    params = dict(num_classes=CLASSES, label_smoothing=EPS)
    with mixup.paused():
        data, soft = mixup_nd(x, labels, 0, **params)
    np.testing.assert_array_equal(data, x)
    np.testing.assert_allclose(soft, smoothed(labels), rtol=1e-6)
    data, soft = mixup_nd(x, labels, 0, train=False, **params)
    np.testing.assert_array_equal(data, x)
    np.testing.assert_array_equal(soft, np.eye(CLASSES)[labels])


def test_probability_labels_are_taken_as_given(rng):
    probs = rng.dirichlet(np.ones(CLASSES), size=N)
    params = dict(num_classes=CLASSES, alpha=1.0, label_smoothing=EPS)
    m = observed_matrix(N, 6, **params)
    _, soft = mixup_nd(rng.normal(size=(N, 2)), probs, 6, **params)
    np.testing.assert_allclose(soft, m @ probs, rtol=1e-5, atol=1e-6)
