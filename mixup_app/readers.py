"""The readers of a run directory's own files: one per kind, each checking what it reads
(layout, version, and the type and range of every field a command uses), used by every
command that reads that kind. Anything wrong is a :class:`FileRefused` (a ValueError) whose
message starts with the file's path and names what is wrong (the key, the line), never a
traceback nor a number drawn or averaged that is not one.

    metrics.jsonl    :func:`read_metrics`   one JSON object per finished epoch
    best.json        :func:`read_best`      the epoch with the best validation accuracy
    test.json        :func:`read_test`      ./test.sh's scores (also test-train.json)
    test-from-*.json :func:`read_black_box` ./test.sh --attack-from's scores, one file per source

The two other kinds have their reader where they are made: a run's ``config.json`` is read by
``mixup_app.config.RunConfig.load`` (every option checked as on the command line, options added
later defaulted) and a dataset's manifest ``DATASET.json`` by ``mixup_app.data.records.load_manifest``.

No MXNet here: ``./tools.sh report`` reads runs without loading it.
"""
import json
import math
import os
import re
import sys

from mixup_app.files import MAX_JSON_BYTES, load_json, read_bounded


class FileRefused(ValueError):
    """One of the project's files cannot be used; the message names the file and why."""


def _refuse(path, what):
    raise FileRefused("%s: %s" % (path, what))


def _shown(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# ------------------------------------------------------------------------- field checks
# Each takes a value and says whether it is what a field holds. NaN and the infinities are
# refused everywhere: json.loads accepts NaN and Infinity, and no figure of a run is one.

def is_whole(value, low=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def is_number(value, low=-math.inf, high=math.inf):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and low <= value <= high)


def is_fraction(value):
    return is_number(value, 0, 1)


def is_nonnegative(value):
    return is_number(value, 0)


def _check_fields(record, fields, where, required):
    """Refuse (naming ``where`` and the key) the first of ``fields`` ({key: (check, need)})
    that ``record`` lacks (if ``required``) or holds with a value its check refuses."""
    for key, (check, need) in fields.items():
        if key not in record:
            if required:
                raise FileRefused("%s has no %r (%s)" % (where, key, need))
            continue
        if not check(record[key]):
            raise FileRefused("%s: %r must be %s, got %s" % (where, key, need,
                                                             _shown(record[key])))


# ------------------------------------------------------------------------- metrics.jsonl

METRICS = "metrics.jsonl"

# Every row has had these since the first version of the trainer.
ROW_FIELDS = {
    "epoch": (lambda v: is_whole(v, 1), "a whole number >= 1"),
    "train_accuracy": (is_fraction, "a number in [0, 1]"),
    "train_loss": (is_nonnegative, "a finite number >= 0"),
    "lr": (is_nonnegative, "a finite number >= 0"),
    "seconds": (is_nonnegative, "a finite number >= 0"),
    "images_per_sec": (is_nonnegative, "a finite number >= 0"),
    "num_workers": (lambda v: is_whole(v, 1), "a whole number >= 1"),
    "rank": (is_whole, "a whole number >= 0"),
    "mixup": (lambda v: isinstance(v, bool), "true or false"),
}
# Rows of validated epochs (all of them before --val-every) have these together.
VALIDATION_FIELDS = {
    "val_accuracy": (is_fraction, "a number in [0, 1]"),
    "val_loss": (is_nonnegative, "a finite number >= 0"),
}
# Checked where present: val_count and val_top5 come with validations (top-5 only for more
# than 5 classes); wall_seconds was added later (a reader falls back to seconds).
OPTIONAL_ROW_FIELDS = {
    "val_count": (lambda v: is_whole(v, 1), "a whole number >= 1"),
    "val_top5": (is_fraction, "a number in [0, 1]"),
    "wall_seconds": (is_nonnegative, "a finite number >= 0"),
}


def check_row(row, where):
    """``row`` (one line of metrics.jsonl) if it holds every field of a row with a value of
    its type, and either both validation fields or neither; FileRefused naming ``where``
    (file and line) otherwise. Keys this version does not know are kept as they are."""
    if not isinstance(row, dict):
        raise FileRefused("%s: must be a JSON object (one epoch's figures), got %s"
                          % (where, _shown(row)))
    _check_fields(row, ROW_FIELDS, where, required=True)
    if any(key in row for key in VALIDATION_FIELDS) or "val_count" in row:
        _check_fields(row, VALIDATION_FIELDS, where, required=True)
    _check_fields(row, OPTIONAL_ROW_FIELDS, where, required=False)
    return row


def parse_metrics(text, path):
    """(rows, cut) of the text of a metrics.jsonl: one checked row per non-blank line, in
    order of strictly increasing epochs. ``cut`` is the line number of a last line that is not
    JSON and has no newline after it -- the trainer writes whole files ending in one, so that
    is a line cut off by a kill (or a copy stopped part-way) -- which is left out; None when
    there is none. Any other line that is not a row is refused, naming the file and its line
    number."""
    lines = text.split("\n")
    rows, cut = [], None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = "%s line %d" % (path, number)
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as error:
            if number == len(lines):  # no newline follows it
                cut = number
                break
            reason = "nested too deeply" if isinstance(error, RecursionError) else error
            raise FileRefused("%s is not JSON (%s)" % (where, reason)) from None
        check_row(row, where)
        if rows and row["epoch"] <= rows[-1]["epoch"]:
            raise FileRefused("%s: epoch %d follows epoch %d (epochs must increase)"
                              % (where, row["epoch"], rows[-1]["epoch"]))
        rows.append(row)
    return rows, cut


def _stderr(text):
    print(text, file=sys.stderr, flush=True)


def _span(rows):
    if not rows:
        return "no complete epoch"
    first, last = rows[0]["epoch"], rows[-1]["epoch"]
    return "read epoch %d" % first if first == last else "read epochs %d to %d" % (first, last)


def read_metrics(run_dir, warn=_stderr):
    """The checked rows of RUN/metrics.jsonl ([] when there is none yet). A last line cut off
    by a kill is left out and said in one line to ``warn``; anything else wrong is refused
    (:func:`parse_metrics`)."""
    path = os.path.join(run_dir, METRICS)
    if not os.path.exists(path):
        return []
    try:
        raw = read_bounded(path, MAX_JSON_BYTES)
    except (OSError, ValueError) as error:
        _refuse(path, "cannot be read (%s)" % (getattr(error, "strerror", None) or error))
    # the trainer writes ASCII (json.dumps); a byte that is not UTF-8 makes its line fail
    # as JSON below, named by its number (or, cut off at the end, left out)
    rows, cut = parse_metrics(raw.decode("utf-8", errors="replace"), path)
    if cut is not None:
        warn("warning: %s: its last line (line %d) is incomplete, cut off when the run was "
             "stopped; ignored (%s)" % (path, cut, _span(rows)))
    return rows


# ------------------------------------------------------------------------- best.json

BEST = "best.json"


def read_best(run_dir):
    """(epoch, val_accuracy) of RUN/best.json, or None when there is none. Its layout,
    {"epoch": N, "val_accuracy": A}, has not changed since the first version."""
    path = os.path.join(run_dir, BEST)
    if not os.path.exists(path):
        return None
    best = _load(path)
    epoch = best.get("epoch") if isinstance(best, dict) else None
    accuracy = best.get("val_accuracy") if isinstance(best, dict) else None
    if not (is_whole(epoch) and is_fraction(accuracy)):
        _refuse(path, "must be {\"epoch\": N >= 0, \"val_accuracy\": A in [0, 1]}, got %s"
                % _shown(best, 80))
    return epoch, accuracy


def _load(path):
    try:
        return load_json(path)
    except (OSError, ValueError) as error:
        _refuse(path, "is unreadable (%s)" % error)


# ------------------------------------------------------------------------- test.json

def test_suffix(split="val", teacher=False):
    """What a ./test.sh scoring's files add to their names: "" (the validation split, the
    network), "-train" (--split train), "-teacher" (--model teacher), "-train-teacher"."""
    return ("" if split == "val" else "-train") + ("-teacher" if teacher else "")


def test_name(split="val", teacher=False):
    """The file a ./test.sh scoring writes in the run directory: test.json, test-train.json,
    test-teacher.json, test-train-teacher.json."""
    return "test%s.json" % test_suffix(split, teacher)


TEST = test_name()

# test.json's layouts, as ./test.sh wrote them:
#   1  accuracy, cross_entropy, ece, count, correct, per_class_accuracy, confusion, [top5],
#      run, epoch, dataset, classes
#   2  + reliability (ECE's bins), split; with --fgsm one "attack": {method, steps, space,
#      accuracy: {eps: A}, correct: {eps: k}}
#   3  "attacks": {method: {steps, space, accuracy, correct}} (FGSM and I-FGSM in one run),
#      and "format": 3
#   4  + "attack_source" with "attacks": null (white-box) or {run: path, epoch: N}, the run
#      whose checkpoint made the attack (./test.sh --attack-from: black-box). A new layout so
#      that an older reader refuses it rather than show a black-box accuracy as white-box.
# Files without "format" are 1 or 2, told apart by their keys; all are read as 4 (earlier
# layouts' attacks are white-box: attack_source None).
TEST_FORMAT = 4

TEST_FIELDS = {
    "accuracy": (is_fraction, "a number in [0, 1]"),
    "cross_entropy": (is_nonnegative, "a finite number >= 0"),
    "ece": (is_fraction, "a number in [0, 1]"),
}
OPTIONAL_TEST_FIELDS = {
    "format": (lambda v: is_whole(v, 1), "a whole number >= 1"),
    "count": (lambda v: is_whole(v, 1), "a whole number >= 1"),
    "correct": (is_whole, "a whole number >= 0"),
    "top5": (is_fraction, "a number in [0, 1]"),
    "epoch": (is_whole, "a whole number >= 0"),
    "split": (lambda v: v in ("val", "train"), "val or train"),
}


def _check_bins(bins, path):
    """Reliability bins: [{count: k >= 0, confidence, accuracy: fractions (null when k is 0)}],
    with at least one image."""
    where = "%s: 'reliability'" % path
    if not isinstance(bins, list) or not bins:
        raise FileRefused("%s must be a list of bins, got %s" % (where, _shown(bins)))
    for index, entry in enumerate(bins):
        if not (isinstance(entry, dict) and is_whole(entry.get("count"))):
            raise FileRefused("%s[%d] must be {count, confidence, accuracy}, got %s"
                              % (where, index, _shown(entry)))
        for key in ("confidence", "accuracy"):
            if entry["count"] and not is_fraction(entry.get(key)):
                raise FileRefused("%s[%d].%s must be a number in [0, 1], got %s"
                                  % (where, index, key, _shown(entry.get(key))))
    if not any(entry["count"] for entry in bins):
        raise FileRefused("%s has no image in any bin" % where)


def _attacks(scores, path):
    """{method: {"steps": K, "accuracy": {eps: A}, ...}} of any layout (layout 2's one
    "attack" becomes the one method it names), checked."""
    if "attack" in scores and "attacks" not in scores:
        attack = scores["attack"]
        if not (isinstance(attack, dict) and isinstance(attack.get("method"), str)):
            _refuse(path, "'attack' must be {method, steps, accuracy}, got %s" % _shown(attack))
        attacks = {attack["method"]: {k: v for k, v in attack.items() if k != "method"}}
    else:
        attacks = scores.get("attacks", {})
    if not isinstance(attacks, dict):
        _refuse(path, "'attacks' must be an object of methods, got %s" % _shown(attacks))
    for method, attack in attacks.items():
        where = "%s: attack %r" % (path, method)
        if not (isinstance(attack, dict) and is_whole(attack.get("steps"), 1)):
            raise FileRefused("%s must be {steps: K >= 1, accuracy: {eps: A}}, got %s"
                              % (where, _shown(attack)))
        accuracy = attack.get("accuracy")
        if not (isinstance(accuracy, dict) and accuracy
                and all(is_fraction(a) for a in accuracy.values())):
            raise FileRefused("%s: 'accuracy' must be {eps: a number in [0, 1]}, got %s"
                              % (where, _shown(accuracy)))
    return attacks


def _attack_source(scores, path):
    """None (white-box, or no attack) or {"run": path, "epoch": N}, checked."""
    source = scores.get("attack_source")
    if source is not None and not (isinstance(source, dict) and isinstance(source.get("run"), str)
                                   and is_whole(source.get("epoch"))):
        _refuse(path, "'attack_source' must be null or {run: a path, epoch: N}, got %s"
                % _shown(source))
    return source


def check_test(scores, path):
    """The scores of a test.json of any layout, read as the current one: its own keys, with
    "attacks" in layout 3's form (none: {}), "attack_source" None where the attacks are
    white-box (or none), "reliability" None where layout 1 has none, and
    "split" "val" where it is not said (before --split train). FileRefused naming the file and
    the key for anything a reader uses that is missing or of the wrong type."""
    if not isinstance(scores, dict):
        _refuse(path, "must be a JSON object of scores, got %s" % _shown(scores))
    _check_fields(scores, OPTIONAL_TEST_FIELDS, path, required=False)
    if scores.get("format", 0) > TEST_FORMAT:
        _refuse(path, "is of format %d, written by a newer version of this project (this one "
                "reads formats up to %d): score the run again with this ./test.sh"
                % (scores["format"], TEST_FORMAT))
    _check_fields(scores, TEST_FIELDS, path, required=True)
    if "reliability" in scores:
        _check_bins(scores["reliability"], path)
    out = {k: v for k, v in scores.items() if k != "attack"}
    out.update(format=TEST_FORMAT, attacks=_attacks(scores, path),
               attack_source=_attack_source(scores, path),
               reliability=scores.get("reliability"), split=scores.get("split", "val"))
    return out


def black_box_name(source_run, epoch, suffix=""):
    """The file of a black-box attack's scores, ``test-from-RUN-eEPOCH.json`` (RUN the source
    run directory's name; ``suffix``: "-train", "-teacher" as test.json's): beside the run's own
    test.json, which it never replaces, and one per source, so scoring one attack after another
    loses none."""
    name = "".join(c if c.isalnum() or c in "._-" else "_"
                   for c in os.path.basename(os.path.normpath(source_run)))
    return "test-from-%s-e%d%s.json" % (name, epoch, suffix)


BLACK_BOX = re.compile(r"^test-from-.+-e[0-9]+\.json$")  # the validation split's, the network's


def read_black_box(run_dir):
    """The checked scores of each black-box attack on the run's validation split
    (test-from-RUN-eN.json), by file name."""
    return [read_test(run_dir, name) for name in sorted(os.listdir(run_dir))
            if BLACK_BOX.match(name)]


def read_test(run_dir, name=TEST):
    """The checked scores in RUN/test.json (``name``: test-train.json for --split train), read
    as the current layout (:func:`check_test`); None when the run has not been scored."""
    path = os.path.join(run_dir, name)
    if not os.path.exists(path):
        return None
    return check_test(_load(path), path)
