"""Metrics: soft-label training metrics kept on the device, prediction over an iterator, and the
scores of a validation pass (accuracy, top-5, cross-entropy, expected calibration error,
reliability bins, confusion matrix).

MXNet's ``Accuracy`` compares label and prediction *shapes*, not argmaxes, when both are
(N, C), so it is wrong for probability labels: :class:`SoftMetrics` accepts labels as (N,) class
indices or (N, C) probabilities.

Cross-entropy everywhere is ``-sum_c y_c log(max(p_c, EPS))``: a probability that underflowed
to 0 costs -log(EPS) ~ 27.6 instead of infinity, the same on the device and on the host.
"""
import mxnet as mx
import numpy as np

EPS = 1e-12
ECE_BINS = 15


def _as_probabilities(label, num_classes):
    return label if label.ndim == 2 else mx.nd.one_hot(label, depth=num_classes)


class SoftMetrics:
    """Accumulates, over the samples seen:

    * ``accuracy``: argmax of the prediction == argmax of the label (for a mixed label, its
      dominant class);
    * ``cross_entropy``: -sum_c y_c log p_c, the loss MixUp training minimises;
    * ``top5`` (when there are more than 5 classes): the label's argmax among the 5 best.

    The sums stay on the device, so updating costs no host synchronisation; ``get()`` reads
    them.
    """

    def __init__(self, top_k=5):
        self.top_k = top_k
        self.reset()

    def reset(self):
        self._sums = None
        self.count = 0

    def update(self, label, pred, pad=0):
        """Add a batch: label (N,) or (N, C), pred (N, C) probabilities; the last `pad` rows
        are padding and are not counted."""
        keep = pred.shape[0] - pad
        if keep <= 0:
            return
        pred = pred[:keep].astype("float32")
        probs = _as_probabilities(label[:keep].astype("float32"), pred.shape[1])
        target = mx.nd.argmax(probs, axis=1)
        sums = [(mx.nd.argmax(pred, axis=1) == target).sum(),
                -(probs * mx.nd.log(mx.nd.maximum(pred, EPS))).sum()]
        if pred.shape[1] > self.top_k:
            best = mx.nd.topk(pred, axis=1, k=self.top_k, ret_typ="indices")
            sums.append((best == target.reshape((-1, 1))).sum())
        # a few scalars to the host, asynchronously: no synchronisation until get()
        sums = mx.nd.concat(*[s.reshape((1,)) for s in sums], dim=0).as_in_context(mx.cpu())
        self._sums = sums if self._sums is None else self._sums + sums
        self.count += keep

    def get(self):
        """{'accuracy', 'cross_entropy'[, 'top5'], 'count', 'correct'} over the samples seen."""
        if not self.count:
            return {"count": 0}
        sums = self._sums.asnumpy().astype(np.float64)
        result = {"accuracy": sums[0] / self.count, "cross_entropy": sums[1] / self.count,
                  "count": self.count, "correct": int(round(sums[0]))}
        if len(sums) > 2:
            result["top5"] = sums[2] / self.count
        return result


def predict(module, batches, check=None):
    """(probabilities (N, C), labels (N,)) over an iterator, in order, padding dropped.
    ``check``: called before each batch (a command's held Ctrl-C raises there).

    The module runs in inference mode, where MixUp is the identity."""
    mx.nd.waitall()  # BatchNorm's moving statistics must be final before they are read
    probs, labels = [], []
    for batch in batches:
        if check is not None:
            check()
        module.forward(batch, is_train=False)
        keep = batch.data[0].shape[0] - batch.pad
        probs.append(module.get_outputs()[0][:keep].asnumpy())
        labels.append(batch.label[0][:keep].asnumpy())
    return np.concatenate(probs).astype(np.float64), np.concatenate(labels).astype(np.int64)


def reliability_bins(probs, labels, bins=ECE_BINS):
    """Per equal-width confidence bin: (count, mean confidence, accuracy); empty bins have
    count 0 and NaN means."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        rows.append((count, float(confidence[members].mean()) if count else float("nan"),
                     float(correct[members].mean()) if count else float("nan")))
    return rows


def expected_calibration_error(probs, labels, bins=ECE_BINS):
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    n = len(labels)
    return float(sum(count / n * abs(acc - conf)
                     for count, conf, acc in reliability_bins(probs, labels, bins) if count))


def mean_confidence(bins):
    """The mean top probability over all images, from a summary's reliability bins (each bin's
    confidence is the mean over its images, so the count-weighted mean is exact)."""
    filled = [b for b in bins if b["count"]]
    return sum(b["count"] * b["confidence"] for b in filled) / sum(b["count"] for b in filled)


def cross_entropy(probs, labels):
    """Mean -log(max(p_label, EPS)) over samples (the convention of SoftMetrics)."""
    return float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], EPS)).mean())


def summarize(probs, labels, num_classes):
    """The scores of a pass: accuracy, cross-entropy, ECE, reliability bins, per-class accuracy,
    confusion matrix (rows: true class), and top-5 when there are more than 5 classes."""
    predicted = probs.argmax(axis=1)
    n = len(labels)
    correct = int((predicted == labels).sum())
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    totals = matrix.sum(axis=1)
    result = {
        "count": n, "correct": correct, "accuracy": correct / n,
        "cross_entropy": cross_entropy(probs, labels),
        "ece": expected_calibration_error(probs, labels),
        "reliability": [{"count": c, "confidence": None if c == 0 else conf,
                         "accuracy": None if c == 0 else acc}
                        for c, conf, acc in reliability_bins(probs, labels)],
        "per_class_accuracy": [float(matrix[c, c] / totals[c]) if totals[c] else None
                               for c in range(num_classes)],
        "confusion": matrix.tolist(),
    }
    if num_classes > 5:
        top5 = np.argsort(-probs, axis=1)[:, :5]
        result["top5"] = float((top5 == labels[:, None]).any(axis=1).mean())
    return result
