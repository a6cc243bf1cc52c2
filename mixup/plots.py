"""Pictures of a run: training curves and the confusion matrix, written atomically."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .files import atomic_path  # noqa: E402


def _save(fig, path):
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def curves(rows, path, title=""):
    """Accuracy and loss against epochs from metrics.jsonl rows."""
    epochs = [r["epoch"] for r in rows]
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(11, 4))
    acc.plot(epochs, [r["train_accuracy"] for r in rows], "o-", label="train (argmax of label)")
    acc.plot(epochs, [r["val_accuracy"] for r in rows], "s-", label="validation")
    acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    loss.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train (soft-label CE)")
    loss.plot(epochs, [r["val_loss"] for r in rows], "s-", label="validation CE")
    loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    for ax in (acc, loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    _save(fig, path)


def confusion(matrix, classes, path, title=""):
    """Row-normalised confusion matrix with per-class accuracy in the row labels."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(classes), 0.8 + 0.55 * len(classes)))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if matrix[i, j]:
                ax.text(j, i, "%d" % matrix[i, j], ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)),
                  ["%s (%.1f%%)" % (c, 100 * share[i, i]) for i, c in enumerate(classes)])
    ax.set(xlabel="predicted", ylabel="true (per-class accuracy)", title=title)
    _save(fig, path)


def compare(named_rows, path, title="validation"):
    """Validation accuracy and cross-entropy of several runs against epochs."""
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, rows in named_rows.items():
        epochs = [r["epoch"] for r in rows]
        acc.plot(epochs, [r["val_accuracy"] for r in rows], "o-", label=name)
        loss.plot(epochs, [r["val_loss"] for r in rows], "o-", label=name)
    acc.set(xlabel="epoch", ylabel="validation accuracy", title="accuracy")
    loss.set(xlabel="epoch", ylabel="validation cross-entropy", title="loss")
    for ax in (acc, loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    acc.legend(fontsize=8)
    fig.suptitle(title)
    _save(fig, path)
