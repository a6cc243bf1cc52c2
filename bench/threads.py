"""5. Training throughput against CPU thread count (MXNet's OpenMP pool), side by side.

MXNet fixes its pool when it loads, so every measurement is a fresh process: the probe
(``python -m bench.threads --probe``) binds ResNet-20 (CIFAR family, 1x28x28, batch 128,
MixUp at the input, as ./train.sh trains it) and times training steps (forward, backward,
update). Variants: MXNet's own default (OMP_NUM_THREADS unset: half the processors on x86)
and each thread count from 1 to the cores this process may use; ./train.sh's default is the
last. Rounds interleave the variants and rotate their order.
"""
import json
import os
import statistics
import subprocess
import sys

from mixup_app.threads import available_cores

from .common import table


def probe(steps=12, warmup=3, batch=128):
    import mixup  # noqa: F401
    import mxnet as mx
    import mixup_symbols
    from .trainer_parts import own_module, waited_steps
    mx.random.seed(0)
    net, label = mixup_symbols.get_symbol("resnet", num_classes=10, num_layers=20,
                                    image_shape=(1, 28, 28), mixup_at="input", alpha=0.2,
                                    mix_rate=0.7, with_label=True)
    module = own_module(mx.sym.Group([net, mx.sym.BlockGrad(label)]), [mx.cpu()],
                        (batch, 1, 28, 28))
    batch_data = mx.io.DataBatch([mx.nd.random.normal(shape=(batch, 1, 28, 28))],
                                 [mx.nd.array(list(range(10)) * (batch // 10) +
                                              list(range(batch % 10)))])
    print(json.dumps({"step_s": waited_steps(module, batch_data, steps, warmup),
                      "batch": batch}))


def _measure(threads, steps):
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-m", "bench.threads", "--probe", str(steps)],
                         env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(rounds=3, steps=12):
    cores = available_cores()
    variants = [("MXNet default (OMP_NUM_THREADS unset)", None)] + [
        ("%d thread%s%s" % (n, "s" if n > 1 else "", " (./train.sh default)" if n == cores
                            else ""), n) for n in range(1, cores + 1)]
    samples = {name: [] for name, _ in variants}
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for name, threads in order:
            samples[name].append(_measure(threads, steps)["step_s"])
    base = statistics.median(samples[variants[0][0]])
    rows = []
    for name, _ in variants:
        step = statistics.median(samples[name])
        rows.append({"threads": name, "ms_per_step": round(1e3 * step, 1),
                     "images_per_s": round(128 / step, 1),
                     "vs_mxnet_default": "%.2fx" % (base / step)})
    table("5. Training throughput against threads (ResNet-20, 1x28x28, batch 128, MixUp; "
          "%d cores, median of %d rounds)" % (cores, rounds), rows,
          ["threads", "ms_per_step", "images_per_s", "vs_mxnet_default"])
    return rows


def main(argv):
    """python -m bench.threads [--rounds N] [--out FILE]: table 5 alone (quiet machine!)."""
    import argparse
    from .common import write_json
    parser = argparse.ArgumentParser(prog="python -m bench.threads", description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "results", "THREADS.json"))
    args = parser.parse_args(argv)
    write_json(args.out, {"threads": run(rounds=args.rounds, steps=15)})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        probe(steps=int(sys.argv[2]) if len(sys.argv) > 2 else 12)
    else:
        main(sys.argv[1:])
