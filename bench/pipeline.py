"""3. The record pipeline: images/s that ImageRecordIter delivers with training augmentation,
next to what a training step consumes."""
import time



from .common import table
from mixup_app.data import iterators


def run(data_dir, dataset, step_images_per_s, batch=128, threads=2, max_batches=60):
    shape = {"fashion-mnist": (1, 28, 28)}.get(dataset, (3, 28, 28))
    it = iterators.record_iter(data_dir, dataset, "train", batch, shape, train=True, threads=threads)
    next(iter(it))  # start-up
    start, images = time.perf_counter(), 0
    for i, b in enumerate(it):
        b.data[0].wait_to_read()
        images += batch
        if i + 1 >= max_batches:
            break
    rate = images / (time.perf_counter() - start)
    rows = [{"stage": "ImageRecordIter (%s, pad/crop/mirror, %d threads)" % (dataset, threads),
             "images_per_s": round(rate, 1)},
            {"stage": "ResNet-50 + MixUp training step", "images_per_s":
             round(step_images_per_s, 1)}]
    table("3. Input pipeline against the training step", rows, ["stage", "images_per_s"])
    return {"pipeline_images_per_s": rate, "step_images_per_s": step_images_per_s,
            "headroom": rate / step_images_per_s, "dataset": dataset}
