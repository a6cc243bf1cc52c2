"""**ICT**, Interpolation Consistency Training (Verma et al., IJCAI 2019, arXiv 1903.03825; the
authors' code: github.com/vikasverma1077/ICT), on the shared machinery of mixup_app.semi.common:

* supervised loss: the run's training graph on the labeled batch (with MixUp as the run's
  options say: the paper mixes, ``--alpha 1``), cross-entropy;
* the teacher predicts softmax probabilities of the unlabeled batch, in training mode
  (BatchNorm with the batch's statistics, as the authors' teacher);
* the unlabeled batch goes through a MixUp node (mixup, one lambda ~ Beta(--unlabeled-alpha)
  per batch, every row mixed with its partner on the op's cycle) with the teacher's
  probabilities as its label input: the op's mixed data is what the student sees, the op's
  mixed soft label the target (no gradient);
* consistency loss: per image, sum_k (p_k - target_k)^2 / K (the authors' softmax_mse_loss),
  averaged over the batch, its weight ramped up by exp(-5 (1 - t/T)^2).

The consistency graph is a second Module bound on the student's parameters (shared arrays,
``shared_module``): its gradient is added (grad_req 'add') to the one the student's backward
wrote, and the student's optimizer makes one update from the sum.
"""
import mxnet as mx

import mixup

from mixup_app.semi.common import SemiMethod, batch_statistics_forward


def consistency_symbol(logits, num_classes, alpha, with_mixed=False):
    """The consistency graph: ``data`` (unlabeled images) and ``ulabel`` (the teacher's
    probabilities) through a MixUp node, the student's probabilities on the mixed images
    against the mixed probabilities. Outputs: the weighted loss (``cons_weight`` (N,) per
    row), the unweighted per-row loss, the target; with ``with_mixed`` the mixed images too."""
    mixed, target = mixup.symbol(mx.sym.var("data"), mx.sym.var("ulabel"),
                                 num_classes=num_classes, alpha=alpha, mix_rate=1.0,
                                 name="mixup_unlabeled")
    target = mx.sym.BlockGrad(target)
    probs = mx.sym.softmax(logits(data=mixed), axis=1)
    per_row = mx.sym.sum(mx.sym.square(probs - target), axis=1) / num_classes
    loss = mx.sym.MakeLoss(per_row * mx.sym.var("cons_weight"), name="consistency")
    outputs = [loss, mx.sym.BlockGrad(per_row), target]
    return mx.sym.Group(outputs + ([mx.sym.BlockGrad(mixed)] if with_mixed else []))



class ICT(SemiMethod):
    """A --semi ict run: the teacher's targets and the consistency graph."""

    # The authors' EMA averages the weights only; their teacher's BatchNorm statistics come
    # from its own training-mode forwards on the unlabeled batches (PyTorch moves them there).
    # Here they are measured with the teacher's weights on unlabeled images at each epoch's end
    # (the student's average scored the teacher under-confident: ECE 0.28 at 1000 labels)
    own_statistics = True

    def __init__(self, config, lay, student, step, logits=None):
        super().__init__(config, lay, student, step, logits)
        size, classes = config.batch_size, lay.num_classes
        self.consistency = mx.mod.Module(
            consistency_symbol(self.logits, classes, config.unlabeled_alpha),
            context=self.contexts, data_names=["data"], label_names=["ulabel", "cons_weight"])
        self.consistency.bind(data_shapes=[("data", self.shape(size))],
                              label_shapes=[("ulabel", (size, classes)),
                                            ("cons_weight", (size,))],
                              shared_module=student, grad_req="add")

    def targets(self, images):
        """The teacher's probabilities of a batch of unlabeled images, in training mode:
        BatchNorm normalises with the batch's own statistics, as the authors' teacher does (its
        ``ema_model.train()`` holds for the whole of training; their EMA averages the
        parameters only). The teacher's moving statistics, the EMA of the student's that its
        validation and ``./test.sh --model teacher`` use, are left as they were."""
        return batch_statistics_forward(self.teacher, images)

    def train_step(self, batch, ubatch, weight, metrics, has_mixup, meter=None):
        probs = self.targets(ubatch.data[0])
        mx.nd.waitall()
        self.student.forward_backward(batch)  # writes the gradient
        # read before the consistency graph runs: it reuses the student's memory
        outputs = self.student.get_outputs()
        metrics.update(outputs[1] if has_mixup else batch.label[0], outputs[0], pad=batch.pad)
        if meter is not None:
            meter.update(outputs)
        # The two graphs share a memory pool (shared_module), which MXNet 1.9.1's threaded
        # engine does not order between executors with a CustomOp in them: without these
        # waits the results vary from run to run (tests/test_semi.py).
        mx.nd.waitall()
        self.consistency.forward_backward(mx.io.DataBatch(  # adds its own
            [ubatch.data[0]], [probs, mx.nd.full((self.config.batch_size,), weight)]))
        mx.nd.waitall()
        unsup = self.consistency.get_outputs()[1].sum().as_in_context(mx.cpu())
        self.student.update()
        return unsup
