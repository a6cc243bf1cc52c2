"""A run directory: config.json, metrics.jsonl, curves.png and MXNet checkpoints
(PREFIX-symbol.json, PREFIX-NNNN.params with NNNN = epochs completed, and PREFIX-NNNN.states
with the optimizer's state). Every file is written atomically, so a run stopped at any moment
leaves only complete checkpoints, and --resume continues from the last one."""
import datetime
import glob
import json
import os
import re

import mxnet as mx

from .files import atomic_path, write_atomic

PREFIX = "model"


def new_run_dir(root):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(root, stamp)
    suffix = 1
    while os.path.exists(path):
        suffix += 1
        path = os.path.join(root, "%s-%d" % (stamp, suffix))
    os.makedirs(path)
    return path


def point_latest(run_dir, root):
    """runs/latest -> run_dir (a relative symlink, replaced atomically)."""
    link = os.path.join(root, "latest")
    tmp = link + ".part"
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(os.path.relpath(os.path.abspath(run_dir), os.path.abspath(root)), tmp)
    os.replace(tmp, link)


def save_config(run_dir, config):
    write_atomic(os.path.join(run_dir, "config.json"), json.dumps(config, indent=2,
                                                                  sort_keys=True))


def load_config(run_dir):
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError("%s not found: is %s a run directory made by mixup.train?"
                                % (path, run_dir)) from None


def checkpoint_epochs(run_dir):
    """Epoch numbers that have a complete checkpoint, ascending."""
    found = []
    for path in glob.glob(os.path.join(run_dir, "%s-*.params" % PREFIX)):
        match = re.fullmatch(r"%s-(\d{4})\.params" % PREFIX, os.path.basename(path))
        if match:
            found.append(int(match.group(1)))
    return sorted(found)


def save_checkpoint(run_dir, module, epoch, with_states=True):
    """Parameters (and optimizer state, where this kvstore keeps it locally) after `epoch`."""
    mx.nd.waitall()  # MXNet 1.9.1 does not order reads of BN moving stats after backward
    prefix = os.path.join(run_dir, PREFIX)
    symbol_path = prefix + "-symbol.json"
    if not os.path.exists(symbol_path):
        write_atomic(symbol_path, module.symbol.tojson())
    args, auxs = module.get_params()
    blob = {"arg:" + k: v for k, v in args.items()}
    blob.update({"aux:" + k: v for k, v in auxs.items()})
    if with_states:
        with atomic_path("%s-%04d.states" % (prefix, epoch)) as tmp:
            module.save_optimizer_states(tmp)
    with atomic_path("%s-%04d.params" % (prefix, epoch)) as tmp:
        mx.nd.save(tmp, blob)  # last: the .params file marks the checkpoint whole


def load_params(run_dir, epoch):
    path = os.path.join(run_dir, "%s-%04d.params" % (PREFIX, epoch))
    if not os.path.exists(path):
        have = checkpoint_epochs(run_dir)
        raise FileNotFoundError("%s not found; checkpoints in %s: %s" % (
            path, run_dir, ", ".join(map(str, have)) or "none"))
    blob = mx.nd.load(path)
    args = {k[4:]: v for k, v in blob.items() if k.startswith("arg:")}
    auxs = {k[4:]: v for k, v in blob.items() if k.startswith("aux:")}
    return args, auxs


def states_path(run_dir, epoch):
    path = os.path.join(run_dir, "%s-%04d.states" % (PREFIX, epoch))
    return path if os.path.exists(path) else None


def read_metrics(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_metrics(run_dir, rows):
    write_atomic(os.path.join(run_dir, "metrics.jsonl"),
                 "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
