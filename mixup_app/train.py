"""Train a ResNet with MixUp on RecordIO data.

    ./train.sh [options]            (python -m mixup_app.train in the project's environment)

Writes a run directory (--out-dir, default a new folder under runs/; runs/latest points at the
newest run that has a checkpoint): config.json, metrics.jsonl, train.log, curves.png, best.json
and checkpoints. --resume continues a stopped run from its last complete checkpoint;
--resume --num-epochs N extends it.
"""
import dataclasses
import os
import sys

from mixup_app import threads

if __name__ == "__main__":
    threads.configure_or_reexec("mixup_app.train")

import mixup  # noqa: E402  (first: sets MXNet switches before MXNet loads)
import mxnet as mx  # noqa: E402

from mixup_app.data import trainset  # noqa: E402
from mixup_app import devices, fit, launch, paths, preflight, runs  # noqa: E402
from mixup_app.cli import (ArgumentParser, add, add_mixing_options,  # noqa: E402
                           explicit_options, flag)
from mixup_app.config import DEVICES, RUN, ConfigError, RunConfig  # noqa: E402
from mixup_app.console import Log, quiet_native_repeats  # noqa: E402
from mixup_app.interrupts import StopRequest  # noqa: E402
from mixup_app.data.records import DataError  # noqa: E402


def build_parser():
    """./train.sh's options: the run's, made from their declarations (RunConfig's fields, the
    mixing parameters among them), and the ones that say how this process runs."""
    p = ArgumentParser(prog="./train.sh", description=__doc__)
    groups = {}
    for field in dataclasses.fields(RunConfig):
        declared = field.metadata
        if not declared["group"]:
            continue  # recorded when the run starts, not an option
        if declared["group"] not in groups:
            groups[declared["group"]] = p.add_argument_group(declared["group"])
        group = groups[declared["group"]]
        if field.name == "mixing":  # --alpha, --mix-rate, ...: the op's parameters
            add_mixing_options(group, defaults=field.default.values())
            continue
        help_text = declared["help"]() if callable(declared["help"]) else declared["help"]
        default = declared["command_default"]() if declared["command_default"] else field.default
        add(group, flag(field.name), default, help_text, shown=declared["shown"],
            metavar=declared["metavar"], choices=getattr(declared["check"], "choices", None))
    threads.add_option(groups[DEVICES])
    g = groups[RUN]
    add(g, "--out-dir", None, "the run directory", shown="runs/TIMESTAMP")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out-dir from its last complete checkpoint")
    add(g, "--progress", "auto", "progress bar (auto: when stderr is a terminal, else a line "
        "every 50 batches or 30 s)",
        choices=["auto", "on", "off"])
    return p


def _absolute(path):
    """Relative paths on the command line are the caller's (the wrappers keep the caller's
    working directory): make them absolute once, before anything changes directory."""
    return os.path.abspath(path) if path else path


def config_options(args, explicit):
    """RunConfig fields from the parsed options (all of them, or only the explicit ones)."""
    out = {}
    for name in RunConfig.option_names():
        if hasattr(args, name) and (explicit is None or name in explicit):
            out[name] = getattr(args, name)
    for name in ("data_dir", "train_rec", "val_rec"):
        if out.get(name):
            out[name] = _absolute(out[name])
    return out


def check_cluster(config, role):
    if config.kv_store.startswith("dist") and role is None and config.num_workers == 1 and \
            "DMLC_PS_ROOT_URI" not in os.environ:
        raise ConfigError("--kv-store %s needs --num-workers N (a local cluster of N workers) "
                          "or the DMLC_* variables of a cluster (see docs/TRAINING.md)"
                          % config.kv_store)


def check_output_dir(out_dir):
    """Refuse an --out-dir that is a file or cannot be written, before anything is written."""
    if not out_dir:
        return
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConfigError("--out-dir %s is a file, not a directory" % out_dir)
    existing = out_dir
    while not os.path.exists(existing):
        existing = os.path.dirname(existing) or "."
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError("--out-dir %s cannot be written (%s is not writable)"
                          % (out_dir, existing))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    explicit = explicit_options(parser, argv)
    role = os.environ.get("DMLC_ROLE")
    out_dir = _absolute(args.out_dir) if args.out_dir is not None else None
    log = Log()
    run_dir = None
    try:
        if role == "worker":
            config, run_dir, begin, kv = launch.join_cluster(
                RunConfig.from_options(**config_options(args, None)), out_dir, log)
        else:
            check_output_dir(out_dir)
            if args.resume:
                if not out_dir:
                    raise ConfigError("--resume needs --out-dir RUN (the run to continue)")
                config, begin = runs.resume(out_dir, config_options(args, explicit), log)
                run_dir = out_dir
                log("resuming %s from epoch %d" % (run_dir, begin))
                preflight.prepare_data(config, log)
            else:
                config = preflight.new_config(config_options(args, None), log)
                begin = 0
            check_cluster(config, role)
            if config.num_workers > 1:  # the launcher: start a local cluster, wait for it
                if not args.resume:
                    run_dir = runs.start_new(config, out_dir, paths.default_runs_root())
                log.attach(run_dir)
                worker_argv = [a for a in argv if a != "--resume"]
                return launch.run_local(worker_argv + ["--out-dir", run_dir],
                                        config.num_workers, config.num_servers, log)
            if not args.resume:
                run_dir = runs.start_new(config, out_dir, paths.default_runs_root())
            kv = mx.kv.create(config.kv_store)
        if kv.rank == 0:
            log.attach(run_dir)
        if begin >= config.num_epochs:
            log("%s is complete (%d epochs); --resume --num-epochs N extends it"
                % (run_dir, begin))
            return 0
        if kv.rank == 0:
            log("run %s: %s on %s, %s-%d %s, %s%s" % (
                run_dir, config.dataset,
                "gpu " + ",".join(map(str, config.gpus)) if config.gpus
                else "cpu x%d (%s threads)" % (config.cpu_devices,
                                               os.environ.get("OMP_NUM_THREADS", "default")),
                config.network, config.num_layers, ",".join(map(str, config.image_shape)),
                config.describe_mixup(),
                "" if not (config.train_subset or config.label_noise) else
                ", training on %d images%s%s, %.1f%% of labels changed" % (
                    config.train_count,
                    " (%s draw)" % config.subset_draw if config.train_subset else "",
                    ", " + trainset.describe_counts(config.train_class_counts)
                    if config.train_class_counts else "",
                    100 * config.train_labels_changed)))
        progress = {"on": True, "off": False, "auto": None}[args.progress]
        with StopRequest("stopping after this step") as stop:
            fit.fit(config, run_dir, begin, kv, progress and kv.rank == 0, stop, log)
        if kv.rank == 0:
            log("done: %s" % run_dir)
        return 0
    except fit.Diverged as error:
        log("error: %s" % error)
        return 3
    except (ValueError, DataError, devices.DeviceError, FileNotFoundError,
            runs.CheckpointError) as error:
        return parser.report(error)
    except KeyboardInterrupt:
        print("\ninterrupted: continue with  ./train.sh --resume --out-dir %s"
              % (run_dir or "RUN"), file=sys.stderr)
        return 130


if __name__ == "__main__":
    quiet_native_repeats()
    sys.exit(main())
