"""Train a ResNet with MixUp on RecordIO data.

    python -m mixup.train [options]          (./train.sh sets up the environment first)

Writes a run directory (--out-dir, default a new folder under runs/, with runs/latest pointing
at it): config.json, metrics.jsonl, curves.png and a checkpoint per epoch. --resume continues a
stopped run from its last complete checkpoint.
"""
import argparse
import contextlib
import math
import os
import signal
import sys
import time

import mixup  # first: sets MXNet switches before MXNet loads
import mxnet as mx
import numpy as np

from . import data, devices, paths, plots, runs, trainset
from .evaluate import predict, summarize
from .metrics import SoftMetrics
from .progress import bar
from .records import DataError

KV_STORES = ("device", "local", "dist_sync", "dist_device_sync")
DEFAULT_SHAPES = {"cifar10": "3,28,28", "fashion-mnist": "1,28,28", "synthetic": "3,28,28"}
# Options that --resume takes from the run's config.json rather than the command line.
RUN_LOCAL = ("resume", "out_dir", "progress")


def build_parser():
    p = argparse.ArgumentParser(prog="python -m mixup.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="auto", choices=["auto"] + sorted(data.DATASETS),
                   help="auto: CIFAR-10 if its files exist or can be downloaded, else "
                        "Fashion-MNIST (works offline) (default auto)")
    g.add_argument("--data-dir", default=paths.default_data_dir(),
                   help="where the .rec files are (the repository's data/)")
    g.add_argument("--synthetic-size", default="2000,500", metavar="TRAIN,VAL",
                   help="image counts of the synthetic set (2000,500)")
    g.add_argument("--train-subset", type=int, default=0, metavar="N",
                   help="train on a fixed subset of N training images, drawn with --seed "
                        "(default 0: all)")
    g.add_argument("--label-noise", type=float, default=0.0, metavar="P",
                   help="replace each training label, with probability P, by a class drawn "
                        "uniformly from all classes; a function of --seed and the image; "
                        "validation labels are never changed (default 0)")
    g.add_argument("--augment", default="standard", choices=["standard", "none"],
                   help="training augmentation: standard = 4-pixel padding + random crop + "
                        "mirror (where the dataset allows); none = the stored images, "
                        "centre-cropped to --image-shape (default standard)")
    g = p.add_argument_group("network")
    g.add_argument("--network", default="resnet",
                   help="resnet (symbols/resnet.py) or gluoncv:NAME, e.g. "
                        "gluoncv:cifar_resnet56_v1 (default resnet)")
    g.add_argument("--num-layers", type=int, default=50,
                   help="ResNet depth: 6n+2 / 9n+2 for images <= 28 px, else 18..152 (50)")
    g.add_argument("--image-shape", default=None,
                   help="C,H,W fed to the network, cropped from the stored images "
                        "(cifar10 3,28,28; fashion-mnist 1,28,28; synthetic 3,28,28)")
    g.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    g = p.add_argument_group("mixup")
    g.add_argument("--alpha", type=float, default=0.2, help="lambda ~ Beta(alpha, alpha) (0.2)")
    g.add_argument("--mix-rate", type=float, default=0.7,
                   help="fraction of each batch that is mixed; 0 is plain ERM (0.7)")
    g.add_argument("--mixup-at", default="input",
                   choices=["input", "stem", "stage1", "stage2", "stage3"],
                   help="where MixUp sits in the network (input)")
    g.add_argument("--lam-mode", default="batch", choices=["batch", "sample"],
                   help="one lambda per batch (the paper) or per sample (batch)")
    g.add_argument("--mixup-off-epochs", type=int, default=0,
                   help="train the last N epochs without mixing (0)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--batch-size", type=int, default=128, help="per worker, over all devices")
    g.add_argument("--num-epochs", type=int, default=200)
    g.add_argument("--lr", type=float, default=0.1, help="learning rate (0.1)")
    g.add_argument("--lr-schedule", default="step", choices=["step", "cosine"])
    g.add_argument("--lr-step-epochs", default="100,150",
                   help="step schedule: epochs at which lr is multiplied by --lr-factor")
    g.add_argument("--lr-factor", type=float, default=0.1)
    g.add_argument("--warmup-epochs", type=float, default=0, help="linear warm-up from 0")
    g.add_argument("--wd", type=float, default=1e-4, help="weight decay (1e-4)")
    g.add_argument("--mom", type=float, default=0.9, help="momentum (0.9)")
    g = p.add_argument_group("devices and distribution")
    g.add_argument("--gpus", default="", help="GPU indices, e.g. 0,1; empty: the CPU")
    g.add_argument("--cpu-devices", type=int, default=1,
                   help="split each batch over this many CPU contexts (data parallelism "
                        "without GPUs, for testing) (1)")
    g.add_argument("--kv-store", default="device", choices=KV_STORES)
    g.add_argument("--num-workers", type=int, default=1,
                   help="with dist_sync: launch this many local workers (plus scheduler and "
                        "server) and wait for them")
    g.add_argument("--num-servers", type=int, default=1)
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out-dir", default=None, help="run directory (default runs/TIMESTAMP)")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out-dir from its last complete checkpoint")
    g.add_argument("--progress", default="auto", choices=["auto", "on", "off"],
                   help="progress bar (auto: when stderr is a terminal)")
    return p


def _ints(text, name):
    try:
        return [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError("%s must be comma-separated integers, got %r" % (name, text)) from None


def validate(args):
    """Refuse nonsense with a message naming the option and the value (ValueError)."""
    for name, value, low in (("--batch-size", args.batch_size, 1),
                             ("--num-epochs", args.num_epochs, 1),
                             ("--num-workers", args.num_workers, 1),
                             ("--num-servers", args.num_servers, 1),
                             ("--cpu-devices", args.cpu_devices, 1),
                             ("--mixup-off-epochs", args.mixup_off_epochs, 0),
                             ("--train-subset", args.train_subset, 0)):
        if value < low:
            raise ValueError("%s must be >= %d, got %d" % (name, low, value))
    for name, value in (("--lr", args.lr), ("--lr-factor", args.lr_factor)):
        if not (value > 0 and math.isfinite(value)):
            raise ValueError("%s must be a positive number, got %r" % (name, value))
    for name, value in (("--wd", args.wd), ("--mom", args.mom),
                        ("--warmup-epochs", args.warmup_epochs)):
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError("%s must be >= 0, got %r" % (name, value))
    if not 0 <= args.label_noise < 1:
        raise ValueError("--label-noise must be in [0, 1), got %r" % args.label_noise)
    if args.mom >= 1:
        raise ValueError("--mom must be < 1, got %r" % args.mom)
    if args.mixup_off_epochs > args.num_epochs:
        raise ValueError("--mixup-off-epochs %d exceeds --num-epochs %d"
                         % (args.mixup_off_epochs, args.num_epochs))
    if args.warmup_epochs >= args.num_epochs:
        raise ValueError("--warmup-epochs %g must be below --num-epochs %d"
                         % (args.warmup_epochs, args.num_epochs))
    mixup.parse(num_classes=2, alpha=args.alpha, mix_rate=args.mix_rate,
                lam_mode=args.lam_mode)  # same checks and messages as the op
    steps = _ints(args.lr_step_epochs, "--lr-step-epochs")
    if any(b <= a for a, b in zip(steps, steps[1:])) or any(s < 1 for s in steps):
        raise ValueError("--lr-step-epochs must be increasing positive epochs, got %r"
                         % args.lr_step_epochs)
    size = _ints(args.synthetic_size, "--synthetic-size")
    if len(size) != 2 or size[0] < 10 or size[1] < 1:
        raise ValueError("--synthetic-size must be TRAIN,VAL with TRAIN >= 10, VAL >= 1, got %r"
                         % args.synthetic_size)
    if args.image_shape is not None:
        shape = _ints(args.image_shape, "--image-shape")
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError("--image-shape must be C,H,W, got %r" % args.image_shape)
    devices.parse_gpus(args.gpus)
    if args.num_workers > 1 and not args.kv_store.startswith("dist"):
        raise ValueError("--num-workers %d needs --kv-store dist_sync or dist_device_sync"
                         % args.num_workers)
    if args.gpus and args.cpu_devices > 1:
        raise ValueError("--cpu-devices is for CPU training; drop it with --gpus")


def resolve_dataset(args, log):
    """The dataset to use (auto picks one and says why), prepared in --data-dir."""
    size = tuple(_ints(args.synthetic_size, "--synthetic-size"))
    if args.dataset != "auto":
        data.prepare(args.dataset, args.data_dir, log=log, synthetic_counts=size)
        return args.dataset, "asked for with --dataset %s" % args.dataset
    try:
        data.prepare("cifar10", args.data_dir, log=log)
        return "cifar10", "CIFAR-10 is available"
    except DataError as error:
        first_line = str(error).splitlines()[0]
        log("*" * 78)
        log("--dataset auto: CIFAR-10 is not available (%s)" % first_line)
        log("--dataset auto: training on FASHION-MNIST instead (real data that works offline).")
        log("*" * 78)
        data.prepare("fashion-mnist", args.data_dir, log=log)
        return "fashion-mnist", "auto: CIFAR-10 unavailable (%s)" % first_line


def lr_scheduler(args, batches_per_epoch):
    total = args.num_epochs * batches_per_epoch
    warmup = int(round(args.warmup_epochs * batches_per_epoch))
    if args.lr_schedule == "cosine":
        return mx.lr_scheduler.CosineScheduler(max_update=total, base_lr=args.lr, final_lr=0,
                                               warmup_steps=warmup, warmup_begin_lr=0)
    steps = [e * batches_per_epoch for e in _ints(args.lr_step_epochs, "--lr-step-epochs")
             if e < args.num_epochs]
    steps = [s for s in steps if s > warmup] or [total + 1]  # none left: constant lr
    return mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=args.lr_factor,
                                                base_lr=args.lr, warmup_steps=warmup,
                                                warmup_begin_lr=0)


def training_symbol(config, num_classes, image_shape):
    """The training graph, plus the label its loss sees as a second (gradient-free) output."""
    import symbols
    mixing = config["mix_rate"] > 0
    net = symbols.get_symbol(config["network"], num_classes=num_classes,
                             num_layers=config["num_layers"], image_shape=image_shape,
                             mixup_at=config["mixup_at"] if mixing else "none",
                             alpha=config["alpha"], mix_rate=config["mix_rate"],
                             lam_mode=config["lam_mode"], dtype=config["dtype"], train=True)
    if not mixing:
        return net, False
    soft_label = net.get_internals()["mixup_label_out"]
    return mx.sym.Group([net, mx.sym.BlockGrad(soft_label)]), True


def derived_seed(*parts):
    """A seed in [0, 2**31) for one consumer (MXNet's RNG, an epoch's shuffle, ...) derived
    from the run's --seed and the consumer's coordinates: MXNet's seeds are C ints, so sums
    and products of --seed would overflow for large seeds, and could collide."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] >> 1)


def training_set(config, log=lambda *_: None):
    """The run's training set (mixup.trainset): all images, or its subset / noisy labels."""
    return trainset.training_set(config["data_dir"], config["dataset"],
                                 data.spec(config["dataset"]).num_classes, config["seed"],
                                 subset=config.get("train_subset") or None,
                                 label_noise=config.get("label_noise", 0.0), log=log)


def log_line(text):
    print(text, flush=True)


class StopRequest:
    """Ctrl-C or SIGTERM during training asks to stop at the next step boundary.

    A KeyboardInterrupt raised wherever the signal lands can fall inside one of MXNet's ctypes
    callbacks (the kvstore's optimizer updater runs Python from C in the main thread), where
    ctypes prints it and drops it: training would go on with one parameter's update cut short.
    So the handler only sets a flag; the loop stops between steps. A second Ctrl-C exits at once
    (safe: every file is written atomically). A signal that was ignored (nohup) stays ignored.
    """

    def __init__(self):
        self.requested = False

    def install(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            os.write(2, b"\nstopped at once\n")
            os._exit(130)
        self.requested = True
        os.write(2, b"\nstopping after this step (Ctrl-C again to stop at once) ...\n")

    def check(self):
        if self.requested:
            raise KeyboardInterrupt


def build_module(config, symbol, image_shape, contexts, run_dir, begin_epoch, kv,
                 batches_per_epoch):
    """Bind the training graph, load or initialise parameters, set up the optimizer."""
    batch_size = config["batch_size"]
    module = mx.mod.Module(symbol, context=contexts, data_names=["data"],
                           label_names=["softmax_label"])
    module.bind(data_shapes=[("data", (batch_size,) + image_shape)],
                label_shapes=[("softmax_label", (batch_size,))])
    if begin_epoch and kv.rank == 0:  # other workers receive rank 0's parameters via kvstore
        arg_params, aux_params = runs.load_params(run_dir, begin_epoch)
        module.init_params(arg_params=arg_params, aux_params=aux_params)
    else:
        module.init_params(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    optimizer_params = dict(learning_rate=config["lr"], momentum=config["mom"], wd=config["wd"],
                            lr_scheduler=lr_scheduler(argparse.Namespace(**config),
                                                      batches_per_epoch),
                            begin_num_update=begin_epoch * batches_per_epoch,
                            multi_precision=config["dtype"] == "float16")
    # Module sets rescale_grad = 1 / (batch_size * workers for dist_sync): with the loss's
    # normalization='null' that is the only division by the batch.
    module.init_optimizer(kvstore=kv, optimizer="sgd", optimizer_params=optimizer_params)
    states = runs.states_path(run_dir, begin_epoch) if begin_epoch else None
    if states and "dist" not in kv.type:
        module.load_optimizer_states(states)
    return module


def train_epoch(module, train_iter, mixing, progress_bar, stop):
    """One pass over train_iter. Returns (soft-label metrics, images, seconds)."""
    metrics = SoftMetrics()
    tic, images = time.time(), 0
    with progress_bar as pbar:
        for batch in train_iter:
            module.forward_backward(batch)
            module.update()
            stop.check()
            outputs = module.get_outputs()
            # with MixUp the loss saw the soft label, the graph's second output
            metrics.update(outputs[1] if mixing else batch.label[0], outputs[0], pad=batch.pad)
            size = batch.data[0].shape[0]
            images += size - batch.pad
            pbar.update(size)
    mx.nd.waitall()
    return metrics.get(), images, time.time() - tic


def record_epoch(config, run_dir, module, row, rows, val_batch, image_shape, num_classes,
                 local_states):
    """Rank 0's end of an epoch: validate, append metrics, redraw curves, checkpoint."""
    val_iter = data.record_iter(config["data_dir"], config["dataset"], "val", val_batch,
                                image_shape, train=False)
    scores = summarize(*predict(module, val_iter), num_classes)
    row.update(val_accuracy=scores["accuracy"], val_loss=scores["cross_entropy"],
               val_count=scores["count"])
    if "top5" in scores:
        row["val_top5"] = scores["top5"]
    rows.append(row)
    runs.write_metrics(run_dir, rows)
    mixup_text = ("a=%g r=%g" % (config["alpha"], config["mix_rate"])
                  if config["mix_rate"] > 0 else "off")
    plots.curves(rows, os.path.join(run_dir, "curves.png"), title="%s, %s-%d, MixUp %s" % (
        config["dataset"], config["network"], config["num_layers"], mixup_text))
    # Last: a checkpoint marks the epoch complete. A run killed before it redoes the epoch on
    # --resume and drops this epoch's metrics row, which is written again then.
    runs.save_checkpoint(run_dir, module, row["epoch"], with_states=local_states)
    log_line("epoch %d/%d  train acc %.4f loss %.4f  val acc %.4f loss %.4f  lr %.4g  "
             "%.1f img/s  %.1fs%s" % (
                 row["epoch"], config["num_epochs"], row["train_accuracy"], row["train_loss"],
                 row["val_accuracy"], row["val_loss"], row["lr"],
                 row["images_per_sec"] * row["num_workers"], row["seconds"],
                 "" if row["mixup"] or config["mix_rate"] <= 0 else "  (MixUp off)"))


def fit(config, run_dir, begin_epoch, kv, progress, stop):
    rank, workers = kv.rank, kv.num_workers
    info = data.spec(config["dataset"])
    manifest = data.records.verify(config["data_dir"], config["dataset"], checksums=False)
    image_shape = tuple(_ints(config["image_shape"], "--image-shape"))
    batch_size = config["batch_size"]
    train_set = training_set(config)
    train_count = train_set.count
    if batch_size > train_count // workers:
        raise ValueError("--batch-size %d is larger than the %d training images of each of %d "
                         "worker(s)" % (batch_size, train_count // workers, workers))
    batches_per_epoch = int(math.ceil(train_count / workers / batch_size))
    val_batch = min(batch_size, manifest["splits"]["val"]["count"])
    contexts = (devices.contexts(devices.parse_gpus(config["gpus"])) if config["gpus"]
                else [mx.cpu(i) for i in range(config["cpu_devices"])])
    mx.random.seed(derived_seed(config["seed"], rank))
    symbol, mixing = training_symbol(config, info.num_classes, image_shape)
    module = build_module(config, symbol, image_shape, contexts, run_dir, begin_epoch, kv,
                          batches_per_epoch)
    # a private copy to report the lr: MXNet's step schedulers keep state
    report_lr = lr_scheduler(argparse.Namespace(**config), batches_per_epoch)
    rows = [r for r in runs.read_metrics(run_dir) if r["epoch"] <= begin_epoch]
    for epoch in range(begin_epoch, config["num_epochs"]):
        mix_this_epoch = mixing and epoch < config["num_epochs"] - config["mixup_off_epochs"]
        train_iter = data.record_iter(config["data_dir"], config["dataset"], "train",
                                      batch_size, image_shape, train=True,
                                      seed=derived_seed(config["seed"], epoch, rank),
                                      num_parts=workers, part_index=rank,
                                      augment=config.get("augment", "standard") == "standard",
                                      records_path=(train_set.rec, train_set.idx))
        progress_bar = bar(batches_per_epoch * batch_size,
                           "epoch %d/%d" % (epoch + 1, config["num_epochs"]), enabled=progress)
        with contextlib.nullcontext() if mix_this_epoch or not mixing else mixup.paused():
            train, images, seconds = train_epoch(module, train_iter, mixing, progress_bar, stop)
        # Each device keeps its own BatchNorm moving statistics and a checkpoint holds their
        # average: put the average back on every device, so validation scores the checkpoint.
        module.set_params(*module.get_params())
        row = {"epoch": epoch + 1, "train_accuracy": train["accuracy"],
               "train_loss": train["cross_entropy"], "mixup": bool(mix_this_epoch),
               "lr": report_lr((epoch + 1) * batches_per_epoch),
               "seconds": round(seconds, 3), "images_per_sec": round(images / seconds, 2),
               "num_workers": workers, "rank": rank}
        if rank == 0:
            record_epoch(config, run_dir, module, row, rows, val_batch, image_shape,
                         info.num_classes, local_states="dist" not in kv.type)
        stop.check()
    return rows


def prepare_data(config, log):
    """Prepare (or check) the data a run's config names, in its --data-dir, and derive its
    training set (subset, label noise) if it asks for one."""
    data.prepare(config["dataset"], config["data_dir"], log=log,
                 synthetic_counts=tuple(_ints(config["synthetic_size"], "--synthetic-size")))
    return training_set(config, log)


def new_config(args, dataset, reason):
    config = {k: v for k, v in vars(args).items() if k not in RUN_LOCAL}
    config["dataset"], config["dataset_reason"] = dataset, reason
    config["image_shape"] = args.image_shape or DEFAULT_SHAPES[dataset]
    config["mixup_version"] = mixup.__version__
    config["mxnet_version"] = mx.__version__
    train_set = prepare_data(config, log_line)
    config["train_count"] = train_set.count
    config["train_labels_changed"] = round(train_set.changed_fraction, 6)
    return config


def last_epoch(run_dir):
    have = runs.checkpoint_epochs(run_dir)
    return have[-1] if have else 0


def prepare_run(args, log):
    """Resolve --resume / --out-dir and the dataset. Returns (config, run_dir, begin_epoch)."""
    if args.resume:
        if not args.out_dir:
            raise ValueError("--resume needs --out-dir RUN (the run to continue)")
        config = runs.load_config(args.out_dir)
        begin = last_epoch(args.out_dir)
        log("resuming %s from epoch %d (options from its config.json)" % (args.out_dir, begin))
        prepare_data(config, log)
        return config, args.out_dir, begin
    if args.out_dir and os.path.exists(os.path.join(args.out_dir, "config.json")):
        raise ValueError("--out-dir %s already holds a run: add --resume to continue it, or "
                         "choose another directory" % args.out_dir)
    config = new_config(args, *resolve_dataset(args, log))
    root = paths.default_runs_root()
    run_dir = args.out_dir or runs.new_run_dir(root)
    os.makedirs(run_dir, exist_ok=True)
    if os.path.dirname(os.path.abspath(run_dir)) == os.path.abspath(root):
        runs.point_latest(run_dir, root)
    runs.save_config(run_dir, config)
    return config, run_dir, 0


def agree(kv, value):
    """Rank 0's value of an integer, on every worker (a kvstore init is rank 0's)."""
    if kv.num_workers == 1:
        return value
    kv.init("mixup_agree", mx.nd.array([value]))
    out = mx.nd.zeros((1,))
    kv.pull("mixup_agree", out=out)
    return int(out.asscalar())


def worker(args, log):
    """One worker of a dist_sync run (DMLC_ROLE=worker), launched locally or on a cluster.

    Rank 0 owns the run directory; every worker prepares or checks its own data; where to
    start is rank 0's last checkpoint, and the parameters come from rank 0 via the kvstore."""
    if not args.out_dir:
        raise ValueError("a dist_sync worker needs --out-dir (the run directory rank 0 writes)")
    kv = mx.kv.create(args.kv_store)
    config_path = os.path.join(args.out_dir, "config.json")
    if os.path.exists(config_path):
        config = runs.load_config(args.out_dir)
    else:
        if args.dataset == "auto":
            raise ValueError("on a cluster give --dataset explicitly (auto could choose "
                             "differently on different machines)")
        config = new_config(args, args.dataset, "asked for with --dataset %s" % args.dataset)
        if kv.rank == 0:
            os.makedirs(args.out_dir, exist_ok=True)
            runs.save_config(args.out_dir, config)
    prepare_data(config, log if kv.rank == 0 else (lambda *_: None))
    begin = agree(kv, last_epoch(args.out_dir) if kv.rank == 0 else 0)
    return config, args.out_dir, begin, kv


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        validate(args)
    except (ValueError, devices.DeviceError) as error:
        parser.error(str(error))
    role = os.environ.get("DMLC_ROLE")
    run_dir = None
    try:
        if role is None and args.num_workers > 1:
            from . import launch
            config, run_dir, _ = prepare_run(args, log_line)
            worker_argv = [a for a in argv if a != "--resume"]
            return launch.run_local(worker_argv + ["--out-dir", run_dir],
                                    args.num_workers, args.num_servers)
        if role == "worker":
            config, run_dir, begin, kv = worker(args, log_line)
        else:
            config, run_dir, begin = prepare_run(args, log_line)
            kv = mx.kv.create(config["kv_store"])
        if begin >= config["num_epochs"]:
            log_line("%s is complete (%d epochs)" % (run_dir, begin))
            return 0
        if kv.rank == 0:
            log_line("run %s: %s on %s, %s-%d %s, %s" % (
                run_dir, config["dataset"], config["gpus"] and "gpu " + config["gpus"] or
                "cpu x%d" % config["cpu_devices"], config["network"], config["num_layers"],
                config["image_shape"], "MixUp alpha=%g mix_rate=%g at %s" % (
                    config["alpha"], config["mix_rate"], config["mixup_at"])
                if config["mix_rate"] > 0 else "no MixUp (ERM)"))
        progress = {"on": True, "off": False, "auto": None}[args.progress]
        stop = StopRequest()
        stop.install()
        fit(config, run_dir, begin, kv, progress and kv.rank == 0, stop)
        if kv.rank == 0:
            log_line("done: %s" % run_dir)
        return 0
    except (ValueError, DataError, devices.DeviceError, FileNotFoundError) as error:
        print("error: %s" % error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: continue with  ./train.sh --resume --out-dir %s"
              % (run_dir or "RUN"),
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
