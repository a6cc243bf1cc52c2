"""Compare runs: a Markdown table (the results of docs/RESULTS.md) and one plot.

    ./tools.sh report RUN [RUN ...] [--plot FILE] [--by-run]

Each RUN needs config.json and metrics.jsonl (a last line cut off by a kill is left out, and
said). test.json (from ./test.sh, of any version: mixup_app.readers) adds the scored
accuracy, calibration (ECE, and beside it the mean top probability: over- or under-confident)
and the accuracy under each FGSM size it was run with; test-from-*.json (./test.sh
--attack-from) the black-box attacks, in columns of their own naming the run and epoch that
made them; test-teacher.json (./test.sh --model teacher) a --semi run's teacher's accuracy
and ECE; test-train.json (./test.sh --split
train) the accuracy on the run's own (noisy) training labels. Beside the last validation:
the mean over the last 5 epochs, only for runs that validated each of them (./train.sh
--val-last 5, or --val-every 1; empty otherwise), and the mean over the last 3 validations,
whichever epochs they were. Runs that differ only in --seed form one row, each figure given as
mean ± half the range over the seeds (with the number of seeds; a figure that only some of
them have says "(n of m runs)"); --by-run gives one row per run. Rows keep the order in which
their first run is given. Runs of different settings (dataset, image shape, network, depth,
epochs, augmentation, subset draw, label noise, any mixing parameter, ...) are never one row nor
one series of --plot-size; rows or series that would read alike say what keeps them apart.
The plot draws each way of training in one colour, its seeds and
settings in line styles.
"""
import dataclasses
import json
import os
import sys

from mixup_app import adaptive, plots, readers, runs
from mixup_app.cli import ArgumentParser, add
from mixup_app.config import RunConfig
from mixup_app.metrics import mean_confidence


# One validation is noisy; the mean of the last few is what a run converged to. Two figures,
# each named for exactly what it averages:
# "mean val acc, last 5 epochs": the run's last 5 recorded epochs, only when each of them was
# validated (--val-every 1, or --val-last 5); absent otherwise, never a mean of fewer.
LAST_EPOCHS = 5
# "mean val acc, last 3 validations": whatever epochs those were (with --val-every 10 on a
# 100-epoch run: epochs 80, 90 and 100; with --val-last 5: epochs 98, 99 and 100).
LAST_VALIDATIONS = 3
# a --semi run's last epoch (mixup_app.semi.ROW_FIELDS), as they are (not percentages)
SEMI_FIGURES = (("sup loss, last epoch", "sup_loss"), ("unsup loss, last epoch", "unsup_loss"),
                ("unsup weight, last epoch", "ramp_weight"))


def describe(config):
    if config.semi == "mixmatch":  # its own mixing (the supervised graph's options unused)
        return "MixMatch (α=%g, K=%d, T=%g)" % (config.unlabeled_alpha, config.mixmatch_k,
                                                config.sharpen_temperature)
    text = _describe_mixing(config)
    if config.semi != "none":  # the supervised part's mixing in brackets
        text = "%s (%s)" % (config.semi.upper() if config.semi == "ict" else config.semi, text)
    return text


def _describe_mixing(config):
    if adaptive.adaptive(config):
        text = "AdaMixup"
    elif not config.uses_mixup:
        text = "ERM"
    else:
        text = "MixUp α=%g" % config.mixing.alpha
        if config.mixing.mix_rate != 1:
            text += ", rate %g" % config.mixing.mix_rate
        if config.mixing.pairing != "random":
            text += ", %s pairs" % config.mixing.pairing.replace("_", "-")
        if config.mixing.num_mix != 2:
            text += ", %d-way" % config.mixing.num_mix
        if config.mixing.label_mode != "mixed":
            text += ", own labels"
        if config.mixup_at != "input":
            text += ", at %s" % config.mixup_at
        if config.mixup_off_epochs:
            text += ", off last %d" % config.mixup_off_epochs
    return text


def setting(config):
    parts = []
    if config.labeled:  # the others unlabeled (--semi), or not used at all
        parts.append("%d labeled%s" % (config.labeled, (
            " + %s unlabeled" % (config.unlabeled or "all other")) if config.semi != "none"
            else " only"))
    if config.train_subset:
        # the draw is part of the setting: balanced and uniform subsets are other training sets
        parts.append("%d imgs %s" % (config.train_subset, config.subset_draw))
    parts.append("noise %g%%" % (100 * config.label_noise) if config.label_noise else "clean")
    parts.append("aug %s" % config.augment)
    return ", ".join(parts)


def last_epochs_mean(rows, count=LAST_EPOCHS):
    """The mean validation accuracy of the last ``count`` epochs of ``rows`` (metrics rows),
    or None unless those are ``count`` consecutive epochs ending at the last one recorded and
    every one of them was validated."""
    last = sorted(rows, key=lambda r: r["epoch"])[-count:]
    if (len(last) < count or [r["epoch"] for r in last]
            != list(range(last[-1]["epoch"] - count + 1, last[-1]["epoch"] + 1))
            or not all("val_accuracy" in r for r in last)):
        return None
    return sum(r["val_accuracy"] for r in last) / count


def measure(run_dir):
    """The figures of one run: {name: value} (fractions), plus its config."""
    config = RunConfig.load(run_dir)
    metrics = runs.read_metrics(run_dir)
    if not metrics:
        raise ValueError("%s has no finished epoch" % run_dir)
    scored = readers.read_test(run_dir)
    on_train = readers.read_test(run_dir, readers.test_name("train"))
    checked = runs.validated(metrics)
    if not checked:
        raise ValueError("%s has no validated epoch yet" % run_dir)
    last = checked[-LAST_VALIDATIONS:]
    figures = {
        "best val acc": max(m["val_accuracy"] for m in checked),
        "last val acc": checked[-1]["val_accuracy"],
    }
    figures.update(adaptive.report_figures(metrics))  # --policy adaptive: lambda's range
    last_epochs = last_epochs_mean(metrics)
    if last_epochs is not None:
        figures["mean val acc, last %d epochs" % LAST_EPOCHS] = last_epochs
    # (fewer when the run has fewer validations: the label says at most)
    figures["mean val acc, last %d validations" % LAST_VALIDATIONS] = (
        sum(m["val_accuracy"] for m in last) / len(last))
    taught = [m for m in checked if "val_accuracy_teacher" in m]
    if taught:  # a --semi run's teacher, scored with the student
        figures["teacher best val acc"] = max(m["val_accuracy_teacher"] for m in taught)
        figures["teacher last val acc"] = taught[-1]["val_accuracy_teacher"]
    if "unsup_loss" in metrics[-1]:  # a --semi run's last epoch: its two losses, the weight
        for name, key in SEMI_FIGURES:
            figures[name] = metrics[-1][key]
    if on_train:
        figures["train acc (noisy labels)"] = on_train["accuracy"]
    teacher = readers.read_test(run_dir, readers.test_name(teacher=True))
    if teacher:  # ./test.sh --model teacher: a --semi run's teacher
        figures["teacher test acc"] = teacher["accuracy"]
        figures["teacher ECE"] = teacher["ece"]
    if scored:
        figures["test acc"] = scored["accuracy"]
        figures["test CE"] = scored["cross_entropy"]
        figures["ECE"] = scored["ece"]
        # beside ECE: whether the network is over- or under-confident, not only how much
        if scored["reliability"] is not None:  # (test.json files of the first layout)
            figures["mean conf"] = mean_confidence(scored["reliability"])
        figures.update(attack_figures(scored))
    for attacked in readers.read_black_box(run_dir):  # ./test.sh --attack-from, one per source
        figures.update(attack_figures(attacked))
    return config, metrics, figures


def attack_figures(scored):
    """{column: accuracy} of a test.json's attacks. A black-box attack's figures are columns
    of their own, named for the run that made them: never averaged with, nor read as,
    white-box figures."""
    source = scored["attack_source"]
    made_by = (" (black-box from %s, epoch %d)" % (os.path.basename(os.path.normpath(
        source["run"])), source["epoch"]) if source else "")
    figures = {}
    for attack in scored["attacks"].values():
        label = "FGSM" if attack["steps"] == 1 else "I-FGSM"
        for eps, acc in attack["accuracy"].items():
            figures["%s ε=%s%s" % (label, eps, made_by)] = acc
    return figures


def _group_key(config, **also):
    """Runs that differ only in their seed (and what follows from it, where and with which
    version they ran, or how often they validated and kept checkpoints) form one group;
    ``also`` resets further fields. The subset draw (balanced or uniform) keeps runs apart; it
    means nothing without a subset (a run on all images recorded before --subset-draw loads
    as uniform), so there it is the default."""
    draw = config.subset_draw if config.train_subset else RunConfig.subset_draw
    # num_classes: recorded as the dataset's count since round 4, 0 ("the dataset's") before;
    # the dataset (and a rec run's files) say which classes a run has
    return json.dumps(dataclasses.asdict(dataclasses.replace(
        config, seed=0, train_labels_changed=0.0, train_class_counts=(), data_dir="",
        num_classes=0,
        dataset_reason="", mixup_version="", mxnet_version="", val_every=1, val_last=1,
        save_period=1, keep_last=0, subset_draw=draw, **also)), sort_keys=True)


def _fields(key):
    """The flat {field: value} of a :func:`_group_key` (the mixing parameters by their own
    names, as their options have them)."""
    flat = {}
    for name, value in json.loads(key).items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[name] = value
    return flat


def _value(value):
    if value is None:  # (an option left to its default, e.g. the dataset's image shape)
        return "default"
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def distinguish(labelled):
    """{key: text} for ``labelled`` ({_group_key: label}): where several keys share a label,
    the fields in which they differ, as "[dataset cifar10, image-shape 3,28,28]" (each key
    its own values); "" for a key whose label is its own. Labels name only what usually
    tells settings apart (the way of training, noise, augmentation): runs of other datasets,
    image shapes, networks, depths, ... are kept apart by their keys, and this names how, so
    two rows or series never read as one."""
    by_label = {}
    for key, label in labelled.items():
        by_label.setdefault(label, []).append(key)
    extra = {}
    for keys in by_label.values():
        fields = [_fields(key) for key in keys]
        names = sorted(set().union(*fields))
        differ = [n for n in names
                  if len({json.dumps(f.get(n), sort_keys=True) for f in fields}) > 1]
        for key, flat in zip(keys, fields):
            extra[key] = "[%s]" % ", ".join("%s %s" % (n.replace("_", "-"), _value(flat.get(n)))
                                            for n in differ) if len(keys) > 1 else ""
    return extra


def _labelled(label, extra):
    return "%s %s" % (label, extra) if extra else label


def _accuracy(figures):
    """The run's test accuracy (./test.sh), else its last validation: the same checkpoint."""
    return figures.get("test acc", figures["last val acc"])


def size_series(measured):
    """{series label: [(training images, accuracy, seed, epochs)]}: the runs of one way of
    training whatever their training-set size and schedule length, one point per run (the
    picture keeps schedule lengths apart). Everything else that defines the setting (dataset,
    image shape, network and depth, augmentation, label noise, subset draw, every mixing
    parameter, ...) makes another series, named apart where the label would not say it
    (:func:`distinguish`). Balanced and uniform subsets are other series; a run on all images
    joins the balanced one."""
    keys, labels = [], {}
    for _, config, _, _ in measured:
        key = _group_key(config, train_subset=0, train_count=0, num_epochs=1)
        keys.append(key)
        if key not in labels:
            # the size is the x axis; a uniform draw is named (balanced, the default, is not)
            extra = [part for part in setting(config).split(", ")
                     if " imgs " not in part and part not in ("clean", "aug standard")]
            if config.train_subset and config.subset_draw != RunConfig.subset_draw:
                extra.insert(0, "%s draw" % config.subset_draw)
            labels[key] = ", ".join([describe(config)] + extra)
    apart = distinguish(labels)
    series = {}
    for key, (_, config, _, figures) in zip(keys, measured):
        series.setdefault(_labelled(labels[key], apart[key]), []).append(
            (config.train_count or config.train_subset, _accuracy(figures), config.seed,
             config.num_epochs))
    return series


def _fmt(name, values):
    scale = 1 if name in ("test CE", "ECE", "teacher ECE", "mean conf") + tuple(
        n for n, _ in SEMI_FIGURES) + adaptive.LAMBDA_FIGURES else 100
    digits = "%.4f" if scale == 1 else "%.2f"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return digits % (scale * mean)
    half_range = (max(values) - min(values)) / 2
    return (digits + " ± " + digits) % (scale * mean, scale * half_range)


def table(measured, by_run=False):
    """Markdown rows: one per group of seeds (or per run). ``measured``: (run_dir, config,
    metrics, figures) per run, as :func:`measure` gives them."""
    groups, order = {}, []
    labels = {}
    for position, (run_dir, config, _, figures) in enumerate(measured):
        setting_key = _group_key(config)
        labels[setting_key] = " | ".join([describe(config), setting(config),
                                          str(config.num_epochs)])
        key = position if by_run else setting_key
        if key not in groups:
            groups[key] = {"config": config, "setting": setting_key, "runs": [],
                           "figures": []}
            order.append(key)
        groups[key]["runs"].append(os.path.basename(os.path.normpath(run_dir)))
        groups[key]["figures"].append(figures)
    names = []
    for key in order:
        for figures in groups[key]["figures"]:
            names += [n for n in figures if n not in names]
    apart = distinguish(labels)
    columns = ["training", "setting", "epochs", "seeds"] + names
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for key in order:
        group = groups[key]
        config = group["config"]
        # rows that would read alike say what keeps them apart (dataset, network, ...)
        cells = [describe(config), _labelled(setting(config), apart[group["setting"]]),
                 str(config.num_epochs), str(len(group["runs"]))]
        for name in names:
            values = [f[name] for f in group["figures"] if name in f]
            cell = _fmt(name, values) if values else ""
            if values and len(values) < len(group["runs"]):
                # a figure some seeds lack (not scored, not validated at their last epochs):
                # say over how many runs it is taken
                cell += " (%d of %d runs)" % (len(values), len(group["runs"]))
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = ArgumentParser(prog="./tools.sh report", description=__doc__)
    parser.add_argument("runs", nargs="+", help="run directories")
    add(parser, "--plot", "", "write the comparison plot (PNG) here")
    add(parser, "--plot-size", "", "write test accuracy against training-set size (PNG) here: "
        "one point per run, the mean per size joined within a schedule length (a line and marker "
        "per number of epochs), one colour per way of training")
    parser.add_argument("--by-run", action="store_true", help="one row per run, not per group "
                        "of seeds")
    args = parser.parse_args(argv)
    for flag, path in (("--plot", args.plot), ("--plot-size", args.plot_size)):
        if path:
            parser.output_file(flag, path)
    try:
        measured = [(run_dir,) + measure(run_dir) for run_dir in args.runs]
        print(table(measured, by_run=args.by_run))
        if args.plot:
            named, groups, settings = {}, {}, []
            for run_dir, config, metrics, _ in measured:
                name = "%s: %s (seed %d)" % (os.path.basename(os.path.normpath(run_dir)),
                                             describe(config), config.seed)
                named[name] = metrics
                # one colour per way of training; seeds and settings differ in line style
                groups[name] = describe(config)
                settings.append(setting(config).split(", "))
            shared = [part for part in settings[0] if all(part in s for s in settings)]
            plots.compare(named, args.plot, groups=groups,
                          title="validation" + (": " + ", ".join(shared) if shared else ""))
        if args.plot_size:
            plots.accuracy_against_size(size_series(measured), args.plot_size,
                                        title="test accuracy against training-set size")
    except (FileNotFoundError, ValueError) as error:
        return parser.report(error)
    return 0


if __name__ == "__main__":
    from mixup_app.interrupts import run_main
    sys.exit(run_main(main))
