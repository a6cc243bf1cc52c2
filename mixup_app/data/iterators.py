"""The record iterators that training, scoring and the tools read: MXNet's ImageRecordIter
over a prepared split, with the dataset's normalisation, augmentation and sharding."""
import mxnet as mx

from mixup_app.data import records
from mixup_app.data.catalogue import check_image_shape, spec
from mixup_app.threads import decode_threads

PAD = 4  # the pixels of black padding of the standard augmentation (at the stored size)


def record_iter(data_dir, dataset, split, batch_size, image_shape=None, train=None, seed=0,
                num_parts=1, part_index=0, normalize=True, threads=None, augment=True,
                records_path=None):
    """An ``mx.io.ImageRecordIter`` over a prepared split.

    train (default: split == 'train') turns on shuffling, seeded by `seed`, and (with
    `augment`) augmentation: a random crop (after 4 pixels of zero padding when image_shape
    equals the stored size), and a mirror where the dataset allows it. Otherwise, and with
    ``augment=False``, images are centre-cropped to image_shape (the stored pixels when the
    shapes agree); without train they are read in order. `records_path` = (rec, idx) reads
    those files (a derived training set, :mod:`mixup_app.data.trainset`) with the split's mean/std.
    Batches are always full: MXNet wraps around at the end and reports the wrapped samples in
    ``batch.pad`` (never count them).
    Sharding for distributed training: part `part_index` of `num_parts`, disjoint, covering
    every record once. `threads` decode (default: mixup_app.threads.decode_threads(), the choice
    for a CPU that computes).
    """
    info = spec(dataset, data_dir)
    manifest = records.verify(data_dir, dataset, checksums=False)
    stored = tuple(manifest["image_shape"])
    shape = tuple(image_shape or stored)
    check_image_shape(data_dir, dataset, shape)
    if not 0 <= part_index < num_parts:
        raise ValueError("part_index %d outside 0..%d" % (part_index, num_parts - 1))
    train = split == "train" if train is None else train
    rec, idx = records_path or records.paths(data_dir, dataset, split)
    kwargs = dict(path_imgrec=rec, path_imgidx=idx, data_shape=shape, batch_size=batch_size,
                  label_width=1, num_parts=num_parts, part_index=part_index, round_batch=True,
                  shuffle=train, seed=seed,
                  preprocess_threads=decode_threads() if threads is None else threads)
    if normalize:
        for channel, mean, std in zip("rgb", manifest["mean"], manifest["std"]):
            kwargs["mean_" + channel], kwargs["std_" + channel] = mean, std
    if train and augment:
        kwargs.update(rand_crop=True, rand_mirror=info.mirror)
        if shape[1:] == stored[1:]:
            kwargs.update(pad=PAD, fill_value=0)
    return mx.io.ImageRecordIter(**kwargs)
