"""Training and validation metrics that understand soft (mixed) labels.

MXNet's ``Accuracy`` compares label and prediction *shapes*, not argmaxes, when both are
(N, C), so it is wrong for probability labels. These metrics accept labels as (N,) class
indices or (N, C) probabilities, ignore the last ``pad`` rows of a padded batch, and keep their
sums on the device, so updating them costs no host synchronisation; ``get()`` reads them.
"""
import mxnet as mx
import numpy as np

EPS = 1e-12


def _as_probabilities(label, num_classes):
    return label if label.ndim == 2 else mx.nd.one_hot(label, depth=num_classes)


class SoftMetrics:
    """Accumulates, over the samples seen:

    * ``accuracy``: argmax of the prediction == argmax of the label (for a mixed label, its
      dominant class);
    * ``cross_entropy``: -sum_c y_c log p_c, the loss MixUp training minimises;
    * ``top5`` (when there are more than 5 classes): the label's argmax among the 5 best.
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
                -(probs * mx.nd.log(pred + EPS)).sum()]
        if pred.shape[1] > self.top_k:
            best = mx.nd.topk(pred, axis=1, k=self.top_k, ret_typ="indices")
            sums.append((best == target.reshape((-1, 1))).sum())
        # a few scalars to the host, asynchronously: no synchronisation until get()
        sums = mx.nd.concat(*[s.reshape((1,)) for s in sums], dim=0).as_in_context(mx.cpu())
        self._sums = sums if self._sums is None else self._sums + sums
        self.count += keep

    def get(self):
        """{'accuracy', 'cross_entropy'[, 'top5'], 'count'} over the samples seen."""
        if not self.count:
            return {"count": 0}
        sums = self._sums.asnumpy().astype(np.float64)
        result = {"accuracy": sums[0] / self.count, "cross_entropy": sums[1] / self.count,
                  "count": self.count, "correct": int(round(sums[0]))}
        if len(sums) > 2:
            result["top5"] = sums[2] / self.count
        return result
