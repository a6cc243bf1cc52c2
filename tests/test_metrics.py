"""mixup_app/metrics.py: calibration, reliability bins and one cross-entropy convention."""
import mxnet as mx
import numpy as np
import pytest

from mixup_app import metrics
from mixup_app.metrics import SoftMetrics


def test_expected_calibration_error_on_hand_made_cases():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])
    # bin of 0.9: accuracy 0.5 (|0.5-0.9| = 0.4); bin of 0.6: accuracy 1 (0.4); weights 1/2
    assert metrics.expected_calibration_error(probs, labels) == pytest.approx(0.4)
    assert metrics.expected_calibration_error(np.array([[1.0, 0.0]]), np.array([0])) == 0


def test_reliability_bins_against_a_direct_count(rng):
    probs = rng.dirichlet(np.ones(4) * 0.5, size=500)
    labels = rng.integers(0, 4, size=500)
    bins = metrics.reliability_bins(probs, labels, bins=10)
    confidence, correct = probs.max(1), probs.argmax(1) == labels
    for b, (count, conf, acc) in enumerate(bins):
        # a confidence c falls in bin b when b/10 < c <= (b+1)/10 (the first bin from 0)
        members = (confidence > b / 10) & (confidence <= (b + 1) / 10)
        if b == 0:
            members |= confidence == 0
        assert count == members.sum()
        if count:
            assert conf == pytest.approx(confidence[members].mean())
            assert acc == pytest.approx(correct[members].mean())
    ece = sum(c / 500 * abs(a - f) for c, f, a in bins if c)
    assert metrics.expected_calibration_error(probs, labels, bins=10) == pytest.approx(ece)


def test_one_cross_entropy_convention_on_device_and_host():
    probs = np.array([[1.0, 0.0, 0.0], [0.2, 0.5, 0.3], [0.0, 1.0, 0.0]])
    labels = np.array([0, 2, 0])  # the last one has probability exactly 0
    on_host = metrics.summarize(probs, labels, 3)["cross_entropy"]
    soft = SoftMetrics()
    soft.update(mx.nd.array(labels), mx.nd.array(probs))
    expected = -(np.log(1.0) + np.log(0.3) + np.log(metrics.EPS)) / 3
    assert on_host == pytest.approx(expected)
    assert soft.get()["cross_entropy"] == pytest.approx(expected, rel=1e-5)


def test_summary_confusion_and_per_class_accuracy():
    probs = np.eye(3)[[0, 1, 1, 2, 0]]
    labels = np.array([0, 1, 2, 2, 1])
    s = metrics.summarize(probs, labels, 3)
    assert s["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert s["per_class_accuracy"] == [1.0, 0.5, 0.5]
    assert s["correct"] == 3 and s["count"] == 5 and "top5" not in s
    assert sum(b["count"] for b in s["reliability"]) == 5


def test_mean_confidence_from_the_bins_is_the_mean_top_probability(rng):
    probs = rng.dirichlet(np.ones(10) * 0.3, size=1000)
    labels = rng.integers(0, 10, size=1000)
    bins = metrics.summarize(probs, labels, 10)["reliability"]
    assert metrics.mean_confidence(bins) == pytest.approx(probs.max(axis=1).mean())
