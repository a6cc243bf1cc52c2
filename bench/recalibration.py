"""9. The cost of measuring BatchNorm's moving statistics again (mixup_app/batchnorm.py), which
AdaMixup's runs and ICT's teacher do at each epoch's end.

ResNet-20 on Fashion-MNIST-shaped batches (1x28x28, 128 images), on one CPU device, in
interleaved rounds (bench.common.interleaved): one recalibration as the trainer runs it
(batchnorm.IMAGES images; the weights fixed, a backward only for BatchNorm to move its
statistics), the same with the weights' gradients computed too (the first version), and, as
the yardstick, one training step of the same network (forward, backward, SGD update). The
ratio says how many training steps an epoch's end costs: a 5000-image epoch has 40.

    python -m bench.recalibration [--rounds 5] [--threads 1] [--out bench/results/RECALIBRATION.json]
"""
import argparse
import os

SHAPE = (128, 1, 28, 28)


def candidates():
    import mxnet as mx
    import numpy as np

    import mixup_symbols
    from mixup_app import batchnorm
    symbol = mixup_symbols.get_symbol("resnet", num_classes=10, num_layers=20,
                                      image_shape=SHAPE[1:], train=False)
    rng = np.random.default_rng(0)
    count = -(-batchnorm.IMAGES // SHAPE[0])
    batches = [mx.io.DataBatch(data=[mx.nd.array(rng.normal(size=SHAPE))],
                               label=[mx.nd.array(rng.integers(0, 10, SHAPE[0]))])
               for _ in range(count)]
    shipped = batchnorm.Recalibration(symbol, SHAPE, mx.cpu())
    trainer = mx.mod.Module(symbol, context=mx.cpu())
    trainer.bind(data_shapes=[("data", SHAPE)], label_shapes=[("softmax_label", SHAPE[:1])])
    trainer.init_params(mx.init.Xavier())
    trainer.init_optimizer(optimizer="sgd",
                           optimizer_params=dict(learning_rate=0.1, momentum=0.9))
    arg_params, auxs = trainer.get_params()

    # the first version: a plain training bind, every weight's gradient computed
    with_gradients = mx.mod.Module(batchnorm.with_attrs(symbol, momentum=0.0), context=mx.cpu())
    with_gradients.bind(data_shapes=[("data", SHAPE)],
                        label_shapes=[("softmax_label", SHAPE[:1])])
    with_gradients.set_params(arg_params, auxs)

    def recalibrate():
        shipped(arg_params, auxs, iter(batches), count)

    def recalibrate_with_gradients():
        for batch in batches:
            with_gradients.forward_backward(batch)
            mx.nd.waitall()

    def train_step():
        trainer.forward_backward(batches[0])
        trainer.update()
        mx.nd.waitall()

    return count, {"recalibration (as the trainer runs it)": recalibrate,
                   "recalibration with the weights' gradients": recalibrate_with_gradients,
                   "one training step": train_step}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                      "RECALIBRATION.json"))
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read by MXNet when it loads, next
    import mixup  # noqa: F401  (MixUp registered, MKLDNN's conv+BN fusion off, as the commands)
    from bench.common import interleaved, machine, table, with_foreign_load, write_json
    count, fns = candidates()
    timing, load = with_foreign_load(lambda: interleaved(fns, args.rounds, iters=1, warmup=1))
    step = timing["one training step"]["median_s"]
    rows = [{"what": name, "median s": "%.3f" % t["median_s"],
             "training steps": "%.1f" % (t["median_s"] / step)} for name, t in timing.items()]
    table("BatchNorm recalibration, %d batches of %d (threads %d, foreign load %.2f cores)"
          % (count, SHAPE[0], args.threads, load), rows, ["what", "median s", "training steps"])
    write_json(args.out, {"machine": machine(), "threads": args.threads, "foreign_load": load,
                          "batches": count, "timing": timing})


if __name__ == "__main__":
    main()
