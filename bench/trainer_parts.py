"""The trainer's graph bound outside the trainer, shared by the trainer benchmarks
(bench.trainer, bench.trainer_profile, bench.threads): the RunConfig ./train.sh would run
with, preloaded batches, a Module of the training graph of its own, and its timed steps."""
import statistics
import time

BATCH = 128
RESNET = ["--network", "resnet", "--num-layers", "20", "--image-shape", "3,28,28"]
GLUONCV = ["--network", "gluoncv:cifar_resnet20_v1", "--image-shape", "3,32,32"]


def run_config(data_dir, train_size, network_args, mix_rate="0.7"):
    """The RunConfig ./train.sh would run with these options (the data already prepared)."""
    from mixup_app import preflight
    from mixup_app.train import build_parser, config_options
    args = build_parser().parse_args(["--dataset", "synthetic", "--data-dir", data_dir,
                                      "--synthetic-size", "%d,%d" % train_size,
                                      "--mix-rate", mix_rate] + list(network_args))
    return preflight.new_config(config_options(args, None), lambda *_: None)


def preloaded(config, lay, count):
    """`count` training batches of the set, decoded, augmented and copied (the iterator's
    own arrays are refilled by its next batches)."""
    import mxnet as mx
    from mixup_app import fit
    batches = []
    for batch in fit.train_iter(config, lay, 0):
        batches.append(mx.io.DataBatch([batch.data[0].copy()], [batch.label[0].copy()],
                                       pad=batch.pad))
        if len(batches) == count:
            mx.nd.waitall()
            return batches
    raise ValueError("the set has fewer than %d batches" % count)


def own_module(symbol, contexts, data_shape, lr=0.1, mom=0.9, wd=1e-4):
    """A training Module of `symbol` for batches of `data_shape` with SGD as MXNet sets it
    up by default (one device: no kvstore, the in-place multi-tensor update)."""
    import mxnet as mx
    module = mx.mod.Module(symbol, context=list(contexts), data_names=["data"],
                           label_names=["softmax_label"])
    module.bind(data_shapes=[("data", tuple(data_shape))],
                label_shapes=[("softmax_label", tuple(data_shape[:1]))])
    module.init_params(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    module.init_optimizer(optimizer="sgd", optimizer_params=dict(learning_rate=lr,
                                                                 momentum=mom, wd=wd))
    return module


def bound_step(config, steps=12, warmup=3):
    """Median seconds of forward + backward + update + wait on one preloaded batch, the
    trainer's graph and optimizer settings in a Module of its own (own_module)."""
    import mxnet as mx
    from mixup_app import fit
    kv = mx.kv.create("local")
    lay = fit.layout(config, kv)
    mx.random.seed(0)
    symbol, _ = fit.training_graph(config, lay.num_classes)
    module = own_module(symbol, lay.contexts, (config.batch_size,) + tuple(config.image_shape),
                        config.lr, config.mom, config.wd)
    return waited_steps(module, preloaded(config, lay, 1)[0], steps, warmup)


def waited_steps(module, batch, steps=12, warmup=3):
    """Median seconds of forward + backward + update + wait on `batch`, after `warmup`."""
    import mxnet as mx
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        module.forward_backward(batch)
        module.update()
        mx.nd.waitall()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)
