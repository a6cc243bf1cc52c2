"""GluonCV's CIFAR-10 mixup recipe, its training loop only, for the trainer benchmark.

What an MXNet user would run instead of ./train.sh is dmlc/gluon-cv's
``scripts/classification/cifar/train_mixup_cifar10.py`` with the command its README publishes
(``--mode hybrid``, ``--model cifar_resnet20_v1``, batch 128). This module re-implements, for
measurement only, that script's training loop as published: a hybridized
``cifar_resnet20_v1`` from the installed gluoncv, ``gluon.Trainer`` with NAG (lr 0.1, momentum
0.9, wd 1e-4), a ``DataLoader`` over ``transform_first`` of GluonCV's ``RandomCrop(32,
pad=4)``, a left-right flip, ``ToTensor`` and ``Normalize`` (its CIFAR-10 constants), shuffled,
last batch discarded, 0 or more worker processes; per batch one lambda ~ numpy Beta(1, 1), the
batch mixed with itself reversed (data and one-hot labels), soft-label
``SoftmaxCrossEntropyLoss`` under ``autograd.record``, ``backward``, ``trainer.step``, the
loss summed to the host and an RMSE metric on the softmax each step, as the script does.
The images are a prepared dataset's (``./tools.sh data``, 3 channels) instead of the CIFAR-10
download; its validation passes are not part of the loop and are left out.

    python -m bench.gluoncv_recipe --data-dir DIR --dataset synthetic [--workers 0] [--epochs 3]

prints one JSON line: the seconds and images/s of every epoch.
"""
import argparse
import io
import json
import sys
import time

import mixup  # noqa: F401  (first: MXNet switches)
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from PIL import Image

from mixup_app.data import records

BATCH = 128
# the script's normalisation (CIFAR-10's channel statistics)
MEAN, STD = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]


class RecordImages(gluon.data.Dataset):
    """A prepared split as GluonCV's CIFAR10 dataset serves it: item i is (its HxWxC uint8
    image as an NDArray, its class as an int32), all images decoded into memory up front."""

    def __init__(self, data_dir, dataset, split="train"):
        rec, idx = records.paths(data_dir, dataset, split)
        reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
        images, labels = [], []
        for key in reader.keys:
            header, payload = mx.recordio.unpack(reader.read_idx(key))
            images.append(np.asarray(Image.open(io.BytesIO(payload)).convert("RGB")))
            labels.append(int(header.label))
        reader.close()
        self._data = mx.nd.array(np.stack(images), dtype=np.uint8)
        self._label = np.asarray(labels, dtype=np.int32)

    def __getitem__(self, i):
        return self._data[i], self._label[i]

    def __len__(self):
        return len(self._label)


def _one_hot(label, classes):
    """The script's label transform: class indices to one-hot rows by index assignment."""
    rows = mx.nd.zeros((label.shape[0], classes), ctx=label.context)
    rows[mx.nd.arange(label.shape[0], ctx=label.context), label.astype("int")] = 1
    return rows


def train(data_dir, dataset, workers=0, epochs=3, classes=10, model="cifar_resnet20_v1"):
    """Run the loop for `epochs` epochs; returns [(seconds, images)] per epoch."""
    from gluoncv.data import transforms as gcv_transforms
    from gluoncv.model_zoo import get_model
    from mxnet.gluon.data.vision import transforms

    ctx = mx.cpu()
    net = get_model(model, classes=classes)
    net.hybridize()
    net.initialize(mx.init.Xavier(), ctx=ctx)
    augment = transforms.Compose([gcv_transforms.RandomCrop(32, pad=4),
                                  transforms.RandomFlipLeftRight(), transforms.ToTensor(),
                                  transforms.Normalize(MEAN, STD)])
    loader = gluon.data.DataLoader(RecordImages(data_dir, dataset).transform_first(augment),
                                   batch_size=BATCH, shuffle=True, last_batch="discard",
                                   num_workers=workers)
    trainer = gluon.Trainer(net.collect_params(), "nag",
                            {"learning_rate": 0.1, "wd": 1e-4, "momentum": 0.9})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False)
    rmse = mx.metric.RMSE()
    epochs_done = []
    for _ in range(epochs):
        rmse.reset()
        loss_sum, images, start = 0.0, 0, time.time()
        for data, label in loader:
            lam = np.random.beta(1, 1)
            # one device: the script's split_and_load gives the batch itself
            mixed = lam * data + (1 - lam) * data[::-1]
            soft = lam * _one_hot(label, classes) + (1 - lam) * _one_hot(label[::-1], classes)
            with autograd.record():
                output = net(mixed)
                loss = loss_fn(output, soft)
            loss.backward()
            trainer.step(BATCH)
            loss_sum += loss.sum().asscalar()
            rmse.update([soft], [mx.nd.SoftmaxActivation(output)])
            rmse.get()
            images += data.shape[0]
        mx.nd.waitall()
        epochs_done.append((time.time() - start, images))
    return epochs_done


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.gluoncv_recipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    done = train(args.data_dir, args.dataset, args.workers, args.epochs)
    print(json.dumps({"epochs": [{"seconds": s, "images": n, "images_per_sec": n / s}
                                 for s, n in done]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
