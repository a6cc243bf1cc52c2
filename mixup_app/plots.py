"""Pictures of a run, written atomically: training curves, the confusion matrix, the
reliability diagram, and validation curves of several runs side by side."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mixup_app.files import atomic_path  # noqa: E402


def _save(fig, path):
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def _epoch_axis(ax, epochs):
    """Whole-number epoch ticks, from the first epoch on."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if epochs:
        ax.set_xlim(min(epochs) - 0.3, max(epochs) + 0.3)
    ax.grid(alpha=0.3)


def curves(rows, path, title=""):
    """Accuracy and loss against epochs from metrics.jsonl rows (validation where it was
    measured: see --val-every). A --semi run's rows add its teacher's validation and a third
    panel: the supervised and (unweighted) unsupervised losses, and the mean weight of the
    unsupervised one on an axis of its own."""
    epochs = [r["epoch"] for r in rows]
    checked = [r for r in rows if "val_accuracy" in r]
    taught = [r for r in checked if "val_accuracy_teacher" in r]
    semi = [r for r in rows if "unsup_loss" in r]
    marker = "o-" if len(rows) <= 60 else "-"  # long runs: a line, not a row of dots
    policy = [r for r in rows if "policy_low" in r]  # --policy adaptive (AdaMixup)
    panels = 2 + bool(semi) + bool(policy)
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4))
    acc, loss = axes[:2]
    acc.plot(epochs, [r["train_accuracy"] for r in rows], marker, label="train (argmax of label)")
    acc.plot([r["epoch"] for r in checked], [r["val_accuracy"] for r in checked], "s-",
             label="validation")
    acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    loss.plot(epochs, [r["train_loss"] for r in rows], marker, label="train (soft-label CE)")
    loss.plot([r["epoch"] for r in checked], [r["val_loss"] for r in checked], "s-",
              label="validation CE")
    loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    if taught:
        for ax, key in ((acc, "val_accuracy_teacher"), (loss, "val_loss_teacher")):
            ax.plot([r["epoch"] for r in taught], [r[key] for r in taught], "^--",
                    label="teacher, validation" + (" CE" if ax is loss else ""))
    extra = iter(axes[2:])
    if semi:
        _semi_panel(next(extra), semi, marker)
    if policy:
        _policy_panel(next(extra), policy, marker)
    for ax in axes:
        _epoch_axis(ax, epochs)
        # outside the axes: a legend never hides a point
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    fig.suptitle(title)
    _save(fig, path)


def _semi_panel(ax, rows, marker):
    """sup_loss and unsup_loss (log scale: the unsupervised loss is orders smaller) and, on a
    right-hand axis, ramp_weight; one legend for both axes."""
    epochs = [r["epoch"] for r in rows]
    ax.plot(epochs, [r["sup_loss"] for r in rows], marker, color="C0",
            label="supervised loss (CE)")
    ax.plot(epochs, [r["unsup_loss"] for r in rows], marker, color="C1",
            label="unsupervised loss (unweighted)")
    if all(r["sup_loss"] > 0 and r["unsup_loss"] > 0 for r in rows):
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="loss", title="semi-supervised")
    weight = ax.twinx()
    weight.plot(epochs, [r["ramp_weight"] for r in rows], "d:", color="C2")
    weight.set_ylabel("unsupervised weight (epoch mean)")
    # the weight's line in the panel's own legend (a twin axis has a legend of its own)
    ax.plot([], [], "d:", color="C2", label="unsupervised weight (right)")


def _policy_panel(ax, rows, marker):
    """AdaMixup: the epoch's mean learned range of lambda and the intrusion discriminator's
    accuracy on the mixed points."""
    epochs = [r["epoch"] for r in rows]
    low, high = [r["policy_low"] for r in rows], [r["policy_high"] for r in rows]
    ax.fill_between(epochs, low, high, alpha=0.2, label="lambda range (mean)")
    ax.plot(epochs, low, marker, label="alpha (lower end)")
    ax.plot(epochs, high, marker, label="alpha + delta (upper end)")
    ax.plot(epochs, [r["intrusion_accuracy"] for r in rows], "s--",
            label="intrusion acc. on mixed")
    ax.set(xlabel="epoch", ylim=(-0.02, 1.02), title="AdaMixup policy")


def confusion(matrix, classes, path, title=""):
    """Row-normalised confusion matrix in percent, with a colour bar and per-class accuracy."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    share = 100 * np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(2.0 + 0.65 * n, 0.8 + 0.55 * n))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, "%.0f" % share[i, j] if share[i, j] >= 1 else "<1", ha="center",
                        va="center", fontsize=7, color="white" if share[i, j] > 50 else "black")
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), ["%s (%.1f%%)" % (c, share[i, i]) for i, c in enumerate(classes)])
    ax.set(xlabel="predicted", ylabel="true class (its accuracy)", title=title)
    fig.colorbar(image, ax=ax, label="% of the true class", fraction=0.046, pad=0.04)
    _save(fig, path)


def ece_text(ece):
    """ECE as every output writes it (both pictures' titles, the scorer's line): 4 decimals,
    so the confusion matrix and the reliability diagram of one run show the same number."""
    return "ECE %.4f" % ece


def reliability(bins, ece, path, title=""):
    """Reliability diagram: accuracy against mean confidence per confidence bin (bars), the
    diagonal of perfect calibration, and how many images fall in each bin."""
    count = len(bins)
    edges = np.linspace(0, 1, count + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    # empty bins draw nothing (no accuracy, no gap)
    accuracy = [b["accuracy"] if b["count"] else 0 for b in bins]
    confidence = [b["confidence"] if b["count"] else 0 for b in bins]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.bar(centers, accuracy, width=1 / count, edgecolor="black", color="tab:blue",
            alpha=0.8, label="accuracy")
    # hatched, not tinted: the gap reads the same above the bar (over-confident) and over it
    # (under-confident), where a translucent fill would blend into the bar's colour
    top.bar(centers, np.array(confidence) - np.array(accuracy), bottom=accuracy,
            width=1 / count, edgecolor="tab:red", color="none", hatch="////", linewidth=0.8,
            label="gap to mean confidence")
    top.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    top.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
            title="%s\n%s" % (title, ece_text(ece)) if title else ece_text(ece))
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centers, [b["count"] for b in bins], width=1 / count, color="gray")
    bottom.set(xlabel="confidence (max probability)", ylabel="images", yscale="log")
    _save(fig, path)


def compare(named_rows, path, title="validation", groups=None):
    """Validation accuracy and cross-entropy of several runs against epochs.

    ``groups`` maps a run's name to its group (e.g. the runs of one setting over seeds): runs
    of a group share a colour and differ in line style, so settings read apart at a glance."""
    groups = groups or {name: name for name in named_rows}
    colours, styles, seen = {}, ["-", "--", ":", "-."], {}
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(12, 4.6))
    epochs = []
    for name, rows in named_rows.items():
        group = groups[name]
        colour = colours.setdefault(group, "C%d" % (len(colours) % 10))
        index = seen[group] = seen.get(group, 0)  # the run's place within its group
        seen[group] += 1
        style = styles[index % len(styles)]
        rows = [r for r in rows if "val_accuracy" in r]  # the validated epochs
        e = [r["epoch"] for r in rows]
        epochs += e
        for ax, key in ((acc, "val_accuracy"), (loss, "val_loss")):
            ax.plot(e, [r[key] for r in rows], marker="o", ms=3, color=colour, linestyle=style,
                    label=name)
    acc.set(xlabel="epoch", ylabel="validation accuracy", title="accuracy")
    loss.set(xlabel="epoch", ylabel="validation cross-entropy", title="loss")
    for ax in (acc, loss):
        _epoch_axis(ax, epochs)
    acc.legend(fontsize=7, loc="upper center", bbox_to_anchor=(1.1, -0.14), ncol=2)
    fig.suptitle(title)
    _save(fig, path)


def size_lines(series):
    """{(series label, epochs): [(training images, mean accuracy)]} in order of size: what the
    size picture joins. Runs of different schedule lengths are never averaged together or
    joined (30 epochs on 10 000 images is not the next point of a 100-epoch curve)."""
    lines = {}
    for label, points in series.items():
        for epochs in sorted({p[3] for p in points}, reverse=True):
            sizes = sorted({p[0] for p in points if p[3] == epochs})
            lines[(label, epochs)] = [
                (x, float(np.mean([p[1] for p in points if p[0] == x and p[3] == epochs])))
                for x in sizes]
    return lines


def accuracy_against_size(series, path, title=""):
    """Test accuracy against the number of training images (log scale): each series (a way of
    training) in one colour, one dot per run (seed), its mean per size joined by a line, one
    line style and marker per schedule length. Returns what it joined (``size_lines``)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    lines = size_lines(series)
    schedules = sorted({epochs for _, epochs in lines}, reverse=True)
    styles = ["-o", "--s", ":^", "-.D"]
    colours = {label: "C%d" % (k % 10) for k, label in enumerate(series)}
    for label, points in series.items():
        ax.scatter([p[0] for p in points], [100 * p[1] for p in points], s=18, alpha=0.55,
                   color=colours[label])
    for (label, epochs), means in lines.items():
        runs = sum(1 for p in series[label] if p[3] == epochs)
        ax.plot([m[0] for m in means], [100 * m[1] for m in means],
                styles[schedules.index(epochs) % len(styles)], ms=5, color=colours[label],
                label="%s, %d epochs (%d runs)" % (label, epochs, runs))
    sizes = sorted({p[0] for points in series.values() for p in points})
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.minorticks_off()
    ax.set(xlabel="training images", ylabel="test accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)
    return lines


def batch_grid(before, after, captions, path, title=""):
    """Two rows of tiles: images as loaded (top) and as mixed (bottom, captioned)."""
    count = len(before)
    fig, axes = plt.subplots(2, count, figsize=(1.45 * count, 3.6), squeeze=False)
    for row, images in enumerate((before, after)):
        for i in range(count):
            ax = axes[row][i]
            image = np.clip(np.rint(images[i]), 0, 255).astype(np.uint8).transpose(1, 2, 0)
            gray = image.shape[2] == 1
            ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None,
                      vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 1:
                ax.set_xlabel(captions[i], fontsize=7)
        axes[row][0].set_ylabel("mixed" if row else "loaded", fontsize=9)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def point_clouds(grid, path, column_titles, row_titles, limits, title=""):
    """2-D point clouds in a grid of panels (the mixup paper's figure 5): ``grid[r][c]`` is
    (real points, generated points), each (M, 2), or None for an empty panel. Every panel
    shows the same square ``limits`` = (low, high) on both axes, so panels compare; points
    outside it are not drawn."""
    rows, columns = len(grid), max(len(r) for r in grid)
    fig, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, 2.1 * rows + 0.4),
                             squeeze=False)
    for r, panels in enumerate(grid):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlim(*limits)
            ax.set_ylim(*limits)
            ax.set_aspect("equal")
            if c >= len(panels) or panels[c] is None:
                for spine in ax.spines.values():  # no snapshot there (the row's title stays)
                    spine.set_visible(False)
            else:
                real, fake = panels[c]
                ax.plot(real[:, 0], real[:, 1], ".", ms=2, color="tab:blue")
                ax.plot(fake[:, 0], fake[:, 1], ".", ms=2, alpha=0.3, color="tab:orange")
            if r == 0 and c < len(column_titles):
                ax.set_title(column_titles[c], fontsize=9)
        axes[r][0].set_ylabel(row_titles[r], fontsize=9)
    # below the panels: a legend never hides a point
    fig.legend([Line2D([], [], ls="", marker="o", color=c) for c in ("tab:blue", "tab:orange")],
               ["real", "generated"], loc="upper center", ncol=2, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, axes[-1][0].get_position().y0 - 0.01))
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
