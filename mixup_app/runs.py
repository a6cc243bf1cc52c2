"""The run directory: what a run leaves on disk, and how a run is found again.

    config.json      the run's options (mixup_app.config.RunConfig)
    metrics.jsonl    one JSON object per finished epoch (validation fields only on the epochs
                     that were validated, see --val-every)
    train.log        everything the run printed (but progress bars), appended across resumes
    curves.png       redrawn every epoch
    best.json        the epoch with the best validation accuracy so far
    model-symbol.json, model-NNNN.params, model-NNNN.states
                     MXNet checkpoints, NNNN = epochs completed (MXNet's own convention)
    teacher-NNNN.params
                     --semi: the teacher (the student's moving average), with its epoch
    labeled.json     --labeled N: the labeled images' record ids (mixup_app.data.semisplit)

Every file is written atomically (mixup_app.files), the ``.params`` of a checkpoint last, so a run
stopped at any moment leaves only complete checkpoints and ``--resume`` continues from the last
one that loads. ``runs/latest`` points at the newest run that has a checkpoint. Every command
reads these files back through one checked reader per kind (mixup_app.readers, RunConfig.load).
"""
import datetime
import glob
import json
import os
import pickle
import re

import mxnet as mx

from mixup_app.data import pickles
from mixup_app import readers
from mixup_app.cli import flag
from mixup_app.config import ConfigError, RunConfig
from mixup_app.files import atomic_path, write_atomic

PREFIX = "model"
TEACHER = "teacher"  # --semi: the teacher's parameters, written with each checkpoint


class CheckpointError(Exception):
    """A checkpoint file is missing, truncated or corrupt (the message names it)."""


class RefusedCheckpoint(CheckpointError):
    """A checkpoint file that is not what this project or MXNet writes (a pickle naming other
    code): not damage to fall back from, but a run directory not to trust."""


# ------------------------------------------------------------------------- directories

def new_run_dir(root):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(root, stamp)
    suffix = 1
    while os.path.exists(path):
        suffix += 1
        path = os.path.join(root, "%s-%d" % (stamp, suffix))
    return path


def point_latest(run_dir, root):
    """root/latest -> run_dir (a relative symlink, replaced atomically), if run_dir is in root."""
    if os.path.dirname(os.path.abspath(run_dir)) != os.path.abspath(root):
        return
    link = os.path.join(root, "latest")
    tmp = link + ".part-%d" % os.getpid()
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(os.path.relpath(os.path.abspath(run_dir), os.path.abspath(root)), tmp)
    os.replace(tmp, link)


def check_writable_dir(path, option):
    """Create `path` if needed; refuse (ConfigError naming the option) a file or a read-only
    directory before anything else is written."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError("%s %s is a file, not a directory" % (option, path))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise ConfigError("%s %s cannot be created (%s)" % (option, path, error.strerror))
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError("%s %s is not writable" % (option, path))


def holds_run(run_dir):
    return os.path.exists(os.path.join(run_dir, "config.json"))


# ------------------------------------------------------------------------- metrics

def read_metrics(run_dir, warn=readers._stderr):
    """The checked rows of RUN/metrics.jsonl (mixup_app.readers.read_metrics: a last line cut off
    by a kill is left out, said in one line to ``warn``; anything else wrong is refused)."""
    return readers.read_metrics(run_dir, warn)


def validated(rows):
    """The metrics rows of the epochs that were validated (see --val-every)."""
    return [r for r in rows if "val_accuracy" in r]


def write_metrics(run_dir, rows):
    write_atomic(os.path.join(run_dir, "metrics.jsonl"),
                 "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


# ------------------------------------------------------------------------- checkpoints

def params_path(run_dir, epoch, model=PREFIX):
    """A checkpoint's parameters: the trained network's (model), or its teacher's."""
    return os.path.join(run_dir, "%s-%04d.params" % (model, epoch))


def states_path(run_dir, epoch):
    return os.path.join(run_dir, "%s-%04d.states" % (PREFIX, epoch))


def checkpoint_epochs(run_dir):
    """Epoch numbers that have a complete checkpoint (a .params file), ascending."""
    found = []
    for path in glob.glob(os.path.join(run_dir, "%s-*.params" % PREFIX)):
        match = re.fullmatch(r"%s-(\d{4})\.params" % PREFIX, os.path.basename(path))
        if match:
            found.append(int(match.group(1)))
    return sorted(found)


def _blob(params):
    args, auxs = params
    blob = {"arg:" + k: v for k, v in args.items()}
    blob.update({"aux:" + k: v for k, v in auxs.items()})
    return blob


def save_checkpoint(run_dir, module, epoch, with_states=True, teacher=None):
    """Parameters (and optimizer state, where this kvstore keeps it locally) after `epoch`;
    ``teacher``, a --semi run's teacher Module, before them (teacher-NNNN.params)."""
    mx.nd.waitall()  # MXNet 1.9.1 does not order reads of BN moving stats after backward
    symbol_path = os.path.join(run_dir, "%s-symbol.json" % PREFIX)
    if not os.path.exists(symbol_path):
        write_atomic(symbol_path, module.symbol.tojson())
    if teacher is not None:
        with atomic_path(params_path(run_dir, epoch, TEACHER)) as tmp:
            mx.nd.save(tmp, _blob(teacher.get_params()))
    blob = _blob(module.get_params())
    if with_states:
        with atomic_path(states_path(run_dir, epoch)) as tmp:
            save_states(module, tmp)
    with atomic_path(params_path(run_dir, epoch)) as tmp:
        mx.nd.save(tmp, blob)  # last: the .params file marks the checkpoint whole


def native_reason(error):
    """The one line of an MXNetError that says what went wrong (its text starts with a C++
    stack trace)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    said = [line for line in lines if line.startswith("MXNetError:")]
    return (said[-1][len("MXNetError:"):].strip() if said else lines[-1] if lines
            else "unreadable")[:200]


def load_params(run_dir, epoch, model=PREFIX):
    """(arg_params, aux_params) of a checkpoint (``model``: the network, or TEACHER its
    teacher); CheckpointError naming the file if it is missing or does not load."""
    path = params_path(run_dir, epoch, model)
    if not os.path.exists(path):
        have = checkpoint_epochs(run_dir)
        raise CheckpointError("%s not found; checkpoints in %s: %s" % (
            path, run_dir, ", ".join(map(str, have)) or "none"))
    try:
        blob = mx.nd.load(path)
    except mx.base.MXNetError as error:
        raise CheckpointError("%s is truncated or corrupt (%s)"
                              % (path, native_reason(error))) from None
    if not isinstance(blob, dict) or not blob or not all(
            k.startswith(("arg:", "aux:")) for k in blob):
        raise CheckpointError("%s is not a checkpoint of this project (no arg:/aux: arrays)"
                              % path)
    args = {k[4:]: v for k, v in blob.items() if k.startswith("arg:")}
    auxs = {k[4:]: v for k, v in blob.items() if k.startswith("aux:")}
    return args, auxs


# What MXNet 1.9.1 pickles into a .states file (Module.save_optimizer_states ->
# Updater.get_states): a dict {parameter name or index: state}, a state being None, an NDArray
# or a tuple of them (SGD: the momentum; multi_precision: float32 weights and momentum). An
# NDArray pickles as NDArray(None) whose state is {'handle': bytearray(its raw bytes)}.
STATES_MAX_OPCODES = 1_000_000


def _ndarray(handle=None):
    if handle is not None:  # NDArray(handle) would free that address when collected
        raise pickles.Refused("builds an NDArray from %r, not as MXNet pickles one" % (handle,))
    return mx.nd.NDArray(None)


def _bytearray(source=b"", encoding=None):
    if not (isinstance(source, bytes) and encoding is None
            or isinstance(source, str) and encoding == "latin-1"):
        # bytearray(n) would allocate n zero bytes, whatever n the file says
        raise pickles.Refused("builds a bytearray from %r, not as pickle writes one"
                              % (type(source).__name__,))
    return bytearray(source, encoding) if encoding else bytearray(source)


MXNET_STATES = {("mxnet.ndarray.ndarray", "NDArray"): _ndarray,
                ("builtins", "bytearray"): _bytearray,
                ("__builtin__", "bytearray"): _bytearray}


def check_states(run_dir, epoch):
    """Raise CheckpointError if the epoch's optimizer state exists but does not unpickle, and
    RefusedCheckpoint if it names anything but MXNet's NDArrays: it is read with
    mixup_app.data.pickles, which runs nothing, before MXNet unpickles it in full. Returns the state
    (None when the epoch has none)."""
    path = states_path(run_dir, epoch)
    if not os.path.exists(path):
        return
    try:
        with open(path, "rb") as f:
            states = pickles.load(f.read(), MXNET_STATES, STATES_MAX_OPCODES)
    except pickles.Corrupt as error:
        raise CheckpointError("%s %s" % (path, error)) from None
    except pickles.Refused as error:
        raise RefusedCheckpoint("%s %s: refused, nothing in it run (MXNet's optimizer state "
                                "holds only NDArrays; is this run directory from elsewhere?)"
                                % (path, error)) from None
    except OSError as error:
        raise CheckpointError("%s cannot be read (%s)" % (path, error.strerror)) from None
    if not isinstance(states, dict):
        raise RefusedCheckpoint("%s holds a %s, not MXNet's optimizer state (a dict)"
                                % (path, type(states).__name__))
    return states


def _in_place_names(module):
    """{updater index: parameter name} when the Module keeps its optimizer state itself
    (it updates in place: one device, fit.update_store), None when its kvstore keeps it.
    A kvstore keys the state by parameter name, a Module by index (Module's
    ``_optimizer.idx2name`` names them; MXNet 1.9.1 has no public accessor)."""
    return None if module._update_on_kvstore else module._optimizer.idx2name


def save_states(module, path):
    """The Module's optimizer state into `path` as MXNet pickles it, keyed by parameter name
    whichever way the Module updates: a .states file resumes a run on either path (those of
    runs made while every run updated through a kvstore too)."""
    names = _in_place_names(module)
    if names is None:
        module.save_optimizer_states(path)
        return
    states = pickle.loads(module._updater.get_states())  # MXNet's own bytes, made just now
    with open(path, "wb") as f:
        f.write(pickle.dumps({names[index]: state for index, state in states.items()}))


def load_states(module, run_dir, epoch):
    """Give module the optimizer state saved after epoch, checked first (check_states).
    Through a kvstore MXNet's own loader then unpickles the file in full; a Module updating in
    place gets the checked state, keyed by its own indices."""
    states = check_states(run_dir, epoch)
    names = _in_place_names(module)
    if names is None:
        module.load_optimizer_states(states_path(run_dir, epoch))
        return
    index = {name: i for i, name in names.items()}
    module._updater.set_states(pickle.dumps({index.get(key, key): state
                                             for key, state in states.items()}))


def last_loadable_checkpoint(run_dir, log):
    """The newest epoch whose parameters (and optimizer state, if saved) load and whose row
    RUN/metrics.jsonl holds complete, or 0. Damaged newer checkpoints, and those of epochs
    without a row (cut off by a kill), are named and skipped: a run resumed from them would
    go on with a hole in its figures."""
    recorded = {row["epoch"] for row in read_metrics(run_dir)}
    for epoch in reversed(checkpoint_epochs(run_dir)):
        if epoch not in recorded:
            log("warning: %s has no complete row for epoch %d; not resuming from %s"
                % (os.path.join(run_dir, "metrics.jsonl"), epoch, params_path(run_dir, epoch)))
            continue
        try:
            load_params(run_dir, epoch)
            check_states(run_dir, epoch)
            return epoch
        except RefusedCheckpoint:
            raise
        except CheckpointError as error:
            log("warning: %s; falling back to the checkpoint before it" % error)
    return 0


# ------------------------------------------------------------------------- retention

def best_epoch(run_dir):
    """(epoch, val_accuracy) of the best epoch so far, or None (mixup_app.readers.read_best:
    FileRefused, a ValueError naming RUN/best.json, when it is not what the trainer
    writes)."""
    return readers.read_best(run_dir)


def record_best(run_dir, epoch, val_accuracy):
    write_atomic(os.path.join(run_dir, "best.json"),
                 json.dumps({"epoch": epoch, "val_accuracy": val_accuracy}))


def prune(run_dir, keep_last, keep_epochs=(), validated_epochs=None):
    """Delete checkpoints but the newest `keep_last` (0: keep all) of the validated epochs
    (None: every epoch counts), `keep_epochs`, and the newest checkpoint of all (the one
    --resume continues from)."""
    if keep_last <= 0:
        return
    have = checkpoint_epochs(run_dir)
    counted = (have if validated_epochs is None
               else [e for e in have if e in set(validated_epochs)])
    keep = set(counted[-keep_last:]) | set(keep_epochs) | set(have[-1:])
    for epoch in have:
        if epoch not in keep:
            # the .params first: without it the checkpoint no longer counts as complete
            for path in (params_path(run_dir, epoch), states_path(run_dir, epoch),
                         params_path(run_dir, epoch, TEACHER)):
                if os.path.exists(path):
                    os.remove(path)


# ------------------------------------------------------------------------- finding a run

def load_config(run_dir):
    return RunConfig.load(run_dir)


# Options that may differ on --resume: they change how the rest of the run is carried out,
# not what has been trained so far. Everything else must match the run's config.json.
RESUMABLE_CHANGES = ("num_epochs", "data_dir", "val_every", "val_last")


def start_new(config, out_dir, root):
    """Create the run directory for a new run and save its config. Refuses a directory that
    already holds a run."""
    run_dir = out_dir or new_run_dir(root)
    if holds_run(run_dir):
        raise ConfigError("--out-dir %s already holds a run: add --resume to continue it, or "
                          "choose another directory" % run_dir)
    check_writable_dir(run_dir, "--out-dir")
    config.save(run_dir)
    return run_dir


def resume(run_dir, explicit, log):
    """(config, begin_epoch) to continue the run in run_dir.

    `explicit` maps the options given on the command line to their values (as RunConfig
    fields). --num-epochs extends (or shortens, down to the epochs done) the run and
    --data-dir moves its data; both are recorded in config.json. Any other option that differs
    from the run's is refused, naming it: a resumed run keeps the options it was started with.
    """
    import dataclasses
    config = RunConfig.load(run_dir)
    current = config.flat()
    wanted = RunConfig.from_options(**dict(current, **explicit)).flat()
    differ = [name for name in explicit if wanted[name] != current[name]]
    refused = [name for name in differ if name not in RESUMABLE_CHANGES]
    if refused:
        raise ConfigError(
            "--resume continues %s with its own options; %s differ%s from its config.json "
            "(%s). Drop %s, or start a new run with another --out-dir."
            % (run_dir, ", ".join(flag(n) for n in refused),
               "s" if len(refused) == 1 else "",
               "; ".join("%s: run has %r, given %r" % (n, _show(current[n]), _show(wanted[n]))
                         for n in refused),
               "them" if len(refused) > 1 else "it"))
    begin = last_loadable_checkpoint(run_dir, log)
    if differ:
        config = dataclasses.replace(config, **{n: wanted[n] for n in differ})
        if config.num_epochs < begin:
            raise ConfigError("--num-epochs %d is below the %d epochs %s has done"
                              % (config.num_epochs, begin, run_dir))
        config.save(run_dir)
        log("resume: %s recorded in %s" % (", ".join(
            "%s %s" % (flag(n), _show(wanted[n])) for n in differ),
            os.path.join(run_dir, "config.json")))
    return config, begin


def _show(value):
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else value
