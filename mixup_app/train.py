"""Train a ResNet with MixUp on RecordIO data.

    ./train.sh [options]            (python -m mixup_app.train in the project's environment)

Writes a run directory (--out-dir, default a new folder under runs/; runs/latest points at the
newest run that has a checkpoint): config.json, metrics.jsonl, train.log, curves.png, best.json
and checkpoints. --resume continues a stopped run from its last complete checkpoint;
--resume --num-epochs N extends it.
"""
import os
import sys

from mixup_app import threads

if __name__ == "__main__":
    threads.configure_or_reexec("mixup_app.train")

import mixup  # noqa: E402  (first: sets MXNet switches before MXNet loads)
import mxnet as mx  # noqa: E402

from mixup_app.data import catalogue, trainset  # noqa: E402
from mixup_app import devices, fit, launch, paths, preflight, runs  # noqa: E402
from mixup_app.cli import ArgumentParser, add, add_mixing_options, explicit_options  # noqa: E402
from mixup_app.config import (AUGMENTS, DTYPES, KV_STORES, LR_SCHEDULES, SUBSET_DRAWS,  # noqa: E402
                     ConfigError, RunConfig, mixup_places)
from mixup_app.console import Log, quiet_native_repeats  # noqa: E402
from mixup_app.interrupts import StopRequest  # noqa: E402
from mixup_app.data.records import DataError  # noqa: E402

DEFAULTS = RunConfig()


def build_parser():
    d = DEFAULTS
    p = ArgumentParser(prog="./train.sh", description=__doc__)
    g = p.add_argument_group("data")
    add(g, "--dataset", d.dataset, "auto (CIFAR-10 if its files exist or can be downloaded, "
        "else Fashion-MNIST, which works offline), one of " + ", ".join(catalogue.DATASETS) +
        ", rec (your own RecordIO pair: --train-rec, --val-rec, --num-classes), or the NAME "
        "of a dataset made with ./tools.sh data images")
    add(g, "--train-rec", "", "--dataset rec: the training .rec file (an .idx beside it is "
        "used or built)")
    add(g, "--val-rec", "", "--dataset rec: the validation .rec file")
    add(g, "--num-classes", d.num_classes, "--dataset rec: labels are 0 .. K-1", type=int,
        metavar="K")
    add(g, "--data-dir", paths.default_data_dir(), "where the .rec files are")
    add(g, "--synthetic-size", d.synthetic_size, "TRAIN,VAL image counts of the synthetic set")
    add(g, "--train-subset", d.train_subset, "train on a fixed subset of N training images, "
        "drawn with --seed as --subset-draw says (0: all)", type=int, metavar="N")
    add(g, "--subset-draw", d.subset_draw, "how --train-subset draws: balanced: N//K images of "
        "each of the K classes, one more of each of N%%K classes chosen with --seed, drawn "
        "without replacement within each class (a class with too few images is refused); "
        "uniform: N images drawn without replacement from the whole set, whatever their class "
        "(every subset before this option; a run recorded without it resumes uniform)",
        choices=SUBSET_DRAWS)
    add(g, "--label-noise", d.label_noise, "replace each training label, with probability P, "
        "by a class drawn uniformly from all classes (the original included); a function of "
        "--seed and the image; validation labels are never changed", type=float, metavar="P")
    add(g, "--augment", d.augment, "standard: 4-pixel padding + random crop + mirror (where "
        "the dataset allows); none: the stored images, centre-cropped to --image-shape",
        choices=AUGMENTS)
    g = p.add_argument_group("network")
    add(g, "--network", d.network, "resnet (mixup_symbols/resnet.py) or gluoncv:NAME, e.g. "
        "gluoncv:cifar_resnet56_v1")
    add(g, "--num-layers", d.num_layers, "ResNet depth: 6n+2 / 9n+2 for images <= 28 px, "
        "else 18, 34, 50, 101, 152", type=int)
    add(g, "--image-shape", None, "C,H,W fed to the network, cropped from the stored images "
        "(cifar10 3,28,28; fashion-mnist 1,28,28; synthetic 3,28,28)", shown="the dataset's")
    add(g, "--dtype", d.dtype, "float16 needs --gpus", choices=DTYPES)
    g = p.add_argument_group("mixup")
    # --alpha, --mix-rate, --mode, ...: declared with the op's parameters (mixup.params)
    add_mixing_options(g, defaults=d.mixing.values())
    add(g, "--mixup-at", d.mixup_at, "where MixUp sits: one of %s, or a comma-separated list "
        "(manifold mixup: each step mixes at one of them, chosen uniformly)"
        % ", ".join(mixup_places()))
    add(g, "--mixup-off-epochs", d.mixup_off_epochs, "train the last N epochs without mixing",
        type=int)
    g = p.add_argument_group("optimisation")
    add(g, "--batch-size", d.batch_size, "images per step and worker, over all its devices",
        type=int)
    add(g, "--num-epochs", d.num_epochs, "epochs to train; with --resume: extend or shorten "
        "the run to this many", type=int)
    add(g, "--lr", d.lr, "learning rate", type=float)
    add(g, "--lr-schedule", d.lr_schedule, "step or cosine (to 0 at --num-epochs)",
        choices=LR_SCHEDULES)
    add(g, "--lr-step-epochs", d.lr_step_epochs, "step schedule: epochs at which lr is "
        "multiplied by --lr-factor")
    add(g, "--lr-factor", d.lr_factor, "step schedule: the factor", type=float)
    add(g, "--warmup-epochs", d.warmup_epochs, "linear warm-up from 0 over this many epochs",
        type=float)
    add(g, "--wd", d.wd, "weight decay", type=float)
    add(g, "--mom", d.mom, "momentum", type=float)
    g = p.add_argument_group("devices and distribution")
    add(g, "--gpus", "", "GPU indices, e.g. 0,1; none: the CPU")
    add(g, "--cpu-devices", d.cpu_devices, "split each batch over this many CPU contexts (data "
        "parallelism without GPUs, for testing)", type=int)
    threads.add_option(g)
    add(g, "--kv-store", d.kv_store, "how devices and workers combine gradients",
        choices=KV_STORES)
    add(g, "--num-workers", d.num_workers, "with dist_sync: launch this many local workers "
        "(plus scheduler and servers) and wait for them", type=int)
    add(g, "--num-servers", d.num_servers, "with dist_sync: parameter servers", type=int)
    g = p.add_argument_group("run")
    add(g, "--seed", d.seed, "the root of every random draw (0 .. 2147483647)", type=int)
    add(g, "--out-dir", None, "the run directory", shown="runs/TIMESTAMP")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out-dir from its last complete checkpoint")
    add(g, "--save-period", d.save_period, "checkpoint every N epochs (and the last and the "
        "best)", type=int)
    add(g, "--val-every", d.val_every, "validate every K epochs, and always at the last one "
        "and at the one a run is stopped at; best.json and --keep-last count validated epochs "
        "only", type=int, metavar="K")
    add(g, "--val-last", d.val_last, "also validate each of the last L epochs (1: the last "
        "one only, as always), e.g. 5 for a mean over the last 5 epochs in ./tools.sh report "
        "without validating every epoch before", type=int, metavar="L")
    add(g, "--keep-last", d.keep_last, "keep only the newest K checkpoints, plus the best "
        "(0: keep all)", type=int)
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
