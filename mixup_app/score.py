"""Score a run's checkpoint on its validation set.

    ./test.sh [--out-dir RUN] [--epoch N|best] [--data-dir DIR] [--fgsm EPS[,EPS...]]
              [--ifgsm-steps K] [--attack-from OTHER_RUN [--attack-epoch N|best]]
              [--split val|train]

Defaults: runs/latest, its last checkpoint, the dataset and data directory it was trained on.
Every image is counted exactly once (the wrapped-around samples of the last batch are
dropped). Prints one line on stdout,

    accuracy: A (k/N)

and the rest on stderr; writes RUN/test.json (accuracy, top-5, cross-entropy, expected
calibration error, reliability bins, per-class accuracy, confusion matrix, attacked
accuracies and which run's checkpoint made the attack), RUN/confusion.png and
RUN/reliability.png. With --split train it scores the run's
own training set (with its subset and noisy labels, unaugmented) into RUN/test-train.json.

With --attack-from OTHER_RUN the attack is black-box: the adversarial images are made with
OTHER_RUN's network (its checkpoint, its normalisation) and scored with this run's; the clean
accuracy is still this run's own. The two runs must share dataset, image shape and classes.
Its scores go to RUN/test-from-OTHER-eN.json (N: OTHER_RUN's epoch), beside test.json, which
keeps the run's own (white-box) scores; ./tools.sh report reads both.
"""
import dataclasses
import json
import os
import sys

from mixup_app import threads

if __name__ == "__main__":
    threads.configure_or_reexec("mixup_app.score")

import mixup  # noqa: E402,F401  (first: sets MXNet switches before MXNet loads)

from mixup_app.data import catalogue, records  # noqa: E402
from mixup_app import paths, plots, readers, runs, scoring  # noqa: E402
from mixup_app.cli import ArgumentParser, add  # noqa: E402
from mixup_app.config import ConfigError, RunConfig  # noqa: E402
from mixup_app.devices import DeviceError, contexts, parse_gpus  # noqa: E402
from mixup_app.files import write_atomic  # noqa: E402
from mixup_app.interrupts import INTERRUPTED, StopRequest  # noqa: E402
from mixup_app.metrics import summarize  # noqa: E402
from mixup_app.data.records import DataError  # noqa: E402


def build_parser():
    p = ArgumentParser(prog="./test.sh", description=__doc__)
    add(p, "--out-dir", os.path.join(paths.default_runs_root(), "latest"), "the run to score")
    add(p, "--epoch", "last", "the checkpoint to score: an epoch number, 'last' or 'best' "
        "(the best validation accuracy, from RUN/best.json)")
    add(p, "--data-dir", None, "where the dataset's .rec files are", shown="the run's")
    add(p, "--split", "val", "val, or train: the run's own training set (subset, noisy "
        "labels), to see what it memorised", choices=["val", "train"])
    add(p, "--batch-size", 100, "images per forward pass", type=int)
    add(p, "--gpus", "", "GPU indices; empty: the CPU")
    add(p, "--fgsm", "", "EPS[,EPS...]: also score every image under an FGSM attack of each "
        "size, in pixel levels of 0..255 (white-box unless --attack-from)")
    add(p, "--ifgsm-steps", 1, "with --fgsm: K > 1 adds the iterative attack (I-FGSM, K "
        "steps) at the same sizes",
        type=int)
    add(p, "--attack-from", "", "with --fgsm: a black-box attack, made with this other run's "
        "network (same dataset, image shape and classes) and scored on this run's",
        shown="none: white-box")
    add(p, "--attack-epoch", None, "with --attack-from: its checkpoint that makes the attack, "
        "an epoch number, 'last' or 'best' (as --epoch)", shown="last")
    add(p, "--model", "student", "student: the trained network; teacher: a --semi run's "
        "teacher (the student's moving average), into RUN/test-teacher.json",
        choices=["student", "teacher"])
    threads.add_option(p)
    return p


def _epsilons(text):
    if not text:
        return []
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError("--fgsm must be comma-separated pixel levels like 1,2,4, got %r"
                          % text) from None
    if not values or any(not 0 <= v <= 255 for v in values):
        raise ConfigError("--fgsm values must be in [0, 255] (pixel levels), got %r" % text)
    return values


def _epoch(text, run_dir, option="--epoch"):
    have = runs.checkpoint_epochs(run_dir)
    if not have:
        raise FileNotFoundError("%s has no checkpoint yet" % run_dir)
    if text == "last":
        return have[-1]
    if text == "best":
        best = runs.best_epoch(run_dir)
        if best is None:
            raise FileNotFoundError("%s has no best.json (made by runs that validate every "
                                    "epoch); give %s N" % (run_dir, option))
        return best[0]
    try:
        return int(text)
    except ValueError:
        raise ConfigError("%s must be a number, 'last' or 'best', got %r"
                          % (option, text)) from None


def _classes(config, data_dir):
    return config.num_classes or catalogue.spec(config.dataset, data_dir).num_classes


def _attack_source(args, run_dir, config, epoch):
    """(scoring.AttackSource, {"run", "epoch"}) of --attack-from, or (None, None) for the
    white-box attack, which --attack-from naming this run's scored checkpoint also is.
    Refuses, naming --attack-from and both values, a source whose adversarial images would
    not be images of this run's task (another dataset, image shape or class count), and a
    source that is no run directory or has no such checkpoint: said before anything is
    computed, rather than an attack that means nothing or a failure after the clean pass."""
    other = args.attack_from
    other_dir = os.path.realpath(other)
    try:
        source = RunConfig.load(other_dir)
        source_epoch = _epoch("last" if args.attack_epoch is None else args.attack_epoch,
                              other_dir, option="--attack-epoch")
    except (FileNotFoundError, ConfigError) as error:
        raise ConfigError("--attack-from %s: %s" % (other, error)) from None
    # the source's normalisation is that of the data it was trained on; where that
    # directory is gone, the same dataset's manifest in this run's data directory
    source_data = (source.data_dir if os.path.exists(records.manifest_path(
        source.data_dir, source.dataset)) else config.data_dir)
    source = dataclasses.replace(source, data_dir=source_data)
    for what, theirs, ours in (
            ("dataset", source.dataset, config.dataset),
            ("image shape", ",".join(map(str, source.image_shape or ())),
             ",".join(map(str, config.image_shape or ()))),
            ("class count", _classes(source, source_data), _classes(config, config.data_dir))):
        if theirs != ours:
            raise ConfigError("--attack-from %s has %s %s, this run (%s) has %s: its attack "
                              "would not be on this run's images" % (other, what, theirs,
                                                                      run_dir, ours))
    if other_dir == run_dir and source_epoch == epoch:
        return None, None  # the scored checkpoint itself: the white-box attack
    try:
        checkpoint = scoring.load(other_dir, source, source_epoch)
    except runs.CheckpointError as error:
        raise ConfigError("--attack-from %s --attack-epoch %s: %s" % (
            other, source_epoch, error)) from None
    manifest = records.load_manifest(source_data, source.dataset)
    return (scoring.AttackSource(checkpoint, tuple(manifest["mean"]), tuple(manifest["std"])),
            {"run": other_dir, "epoch": source_epoch})


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    with StopRequest("stopping after this batch"):
        try:
            return _score(parser, args)
        except KeyboardInterrupt:
            print("interrupted: nothing written; run the same command again to score (it "
                  "starts over)", file=sys.stderr)
            return INTERRUPTED


def _score(parser, args):
    try:
        if args.batch_size < 1:
            raise ConfigError("--batch-size must be >= 1, got %d" % args.batch_size)
        if args.ifgsm_steps < 1:
            raise ConfigError("--ifgsm-steps must be >= 1, got %d" % args.ifgsm_steps)
        eps_list = _epsilons(args.fgsm)
        # options that would otherwise be silently ignored
        if args.ifgsm_steps > 1 and not eps_list:
            raise ConfigError("--ifgsm-steps %d needs --fgsm EPS[,EPS...] (the attack sizes)"
                              % args.ifgsm_steps)
        if args.attack_from and not eps_list:
            raise ConfigError("--attack-from %s needs --fgsm EPS[,EPS...] (the attack sizes)"
                              % args.attack_from)
        if args.attack_epoch is not None and not args.attack_from:
            raise ConfigError("--attack-epoch %s goes with --attack-from OTHER_RUN (the run "
                              "whose checkpoint it names)" % args.attack_epoch)
        if eps_list and args.split != "val":
            raise ConfigError("--fgsm %s attacks the validation images; it cannot be combined "
                              "with --split %s" % (args.fgsm, args.split))
        gpus = parse_gpus(args.gpus)
        run_dir = os.path.realpath(args.out_dir)
        config = RunConfig.load(run_dir)
        epoch = _epoch(args.epoch, run_dir)
        data_dir = config.data_dir if args.data_dir is None else args.data_dir
        config = dataclasses.replace(config, data_dir=data_dir)
        info = catalogue.spec(config.dataset, data_dir)
        manifest = records.verify(data_dir, config.dataset, checksums=False)
        expected = (manifest["splits"]["val"]["count"] if args.split == "val"
                    else config.train_count)
        batch_size = min(args.batch_size, expected)  # MXNet refuses batches larger than the set
        source, attack_source = (_attack_source(args, run_dir, config, epoch)
                                 if args.attack_from else (None, None))
        ctxs = contexts(gpus)
        checkpoint = scoring.load(run_dir, config, epoch,
                                  runs.TEACHER if args.model == "teacher" else runs.PREFIX)
        probs, labels = scoring.predictions(checkpoint, config, data_dir, batch_size, ctxs,
                                            split=args.split)
        methods = [("FGSM", 1)] + ([("I-FGSM (%d steps)" % args.ifgsm_steps,
                                      args.ifgsm_steps)] if args.ifgsm_steps > 1 else [])
        attacks = {}
        if eps_list:
            for method, steps in methods:
                attacks[method] = (steps, scoring.attacked_accuracy(
                    checkpoint, config, data_dir, batch_size, ctxs[0], eps_list, steps, source))
    except (FileNotFoundError, DataError, ValueError, DeviceError,
            runs.CheckpointError) as error:
        return parser.report(error)
    result = summarize(probs, labels, info.num_classes)
    if result["count"] != expected:  # cannot happen unless MXNet's padding changes
        print("error: scored %d images, the %s set has %d" % (result["count"], args.split,
                                                              expected), file=sys.stderr)
        return 3
    # the layout's number: mixup_app.readers reads this and every earlier one
    result.update(format=readers.TEST_FORMAT, run=run_dir, epoch=epoch, dataset=config.dataset,
                  split=args.split, classes=list(info.classes))
    if attacks:
        result["attacks"] = {method: {"steps": steps, "space": "pixel levels 0..255",
                                      "accuracy": {"%g" % eps: correct / count
                                                   for eps, (correct, count) in done.items()},
                                      "correct": {"%g" % eps: correct
                                                  for eps, (correct, count) in done.items()}}
                             for method, (steps, done) in attacks.items()}
        # who made the attack: null, this checkpoint (white-box), or {run, epoch} (black-box)
        result["attack_source"] = attack_source
    suffix = readers.test_suffix(args.split, teacher=args.model == "teacher")
    scores_path = os.path.join(run_dir, readers.test_name(args.split, args.model == "teacher"))
    if attack_source:  # beside test.json, not over it (readers.black_box_name)
        scores_path = os.path.join(run_dir, readers.black_box_name(
            attack_source["run"], attack_source["epoch"], suffix))
    write_atomic(scores_path, json.dumps(result, indent=2))
    title = "%s %s, epoch %d: accuracy %.2f%%, %s" % (
        config.dataset, args.split, epoch, 100 * result["accuracy"],
        plots.ece_text(result["ece"]))
    plots.confusion(result["confusion"], info.classes,
                    os.path.join(run_dir, "confusion%s.png" % suffix), title=title)
    plots.reliability(result["reliability"], result["ece"],
                      os.path.join(run_dir, "reliability%s.png" % suffix),
                      title="%s %s, epoch %d: accuracy %.2f%%" % (
                          config.dataset, args.split, epoch, 100 * result["accuracy"]))
    # details to stderr: stdout is the one line scripts read
    print("%s %s, epoch %d: top-5 %s  cross-entropy %.4f  %s  (details: %s)" % (
        config.dataset, args.split, epoch,
        "%.4f" % result["top5"] if "top5" in result else "n/a", result["cross_entropy"],
        plots.ece_text(result["ece"]), scores_path),
        file=sys.stderr)
    made_by = (" (black-box, made by %s epoch %d)" % (attack_source["run"],
                                                      attack_source["epoch"])
               if attack_source else "")
    for method, (steps, done) in attacks.items():
        for eps, (correct, count) in done.items():
            print("%s eps %g%s: accuracy %.4f (%d/%d)" % (method, eps, made_by, correct / count,
                                                          correct, count), file=sys.stderr)
    print("accuracy: %.4f (%d/%d)" % (result["accuracy"], result["correct"], result["count"]))
    return 0


if __name__ == "__main__":
    from mixup_app.console import quiet_native_repeats
    quiet_native_repeats()
    sys.exit(main())
