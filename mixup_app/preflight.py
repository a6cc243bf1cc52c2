"""What a run needs before its first step, for a new run and a stored one (resumed, or joined
by a cluster's worker): its config resolved against the data (the dataset prepared, the image
shape, the training set), the network and the devices checked."""
import mxnet as mx

import mixup

from mixup_app.data import catalogue, preparation, records, semisplit, trainset
from mixup_app import devices, fit, runs
from mixup_app.config import ConfigError, RunConfig
from mixup_app.data.records import DataError


def new_config(options, log):
    """A new run's validated config: options checked, the dataset prepared (auto: chosen, and
    why), image shape and training set resolved, the network and devices checked — all before
    the run directory is written."""
    config = RunConfig.from_options(**options)
    runs.check_writable_dir(config.data_dir, "--data-dir")
    check_before_data(config)
    if config.dataset == "rec":
        name = preparation.register_records(config.data_dir, config.train_rec,
                                            config.val_rec, config.num_classes,
                                            image_shape=None, log=log)
        config = config.resolved(dataset=name)
    dataset, reason = preparation.resolve_dataset(config.dataset, config.data_dir, log,
                                                  synthetic_counts=config.synthetic_size)
    if config.train_rec:
        reason = "--dataset rec: %s and %s" % (config.train_rec, config.val_rec)
    spec = catalogue.spec(dataset, config.data_dir)
    # num_classes: the dataset's, recorded (config.json says what the run trained on)
    config = config.resolved(dataset=dataset, dataset_reason=reason,
                             num_classes=spec.num_classes,
                             image_shape=config.image_shape or spec.default_shape,
                             mixup_version=mixup.__version__, mxnet_version=mx.__version__)
    catalogue.check_image_shape(config.data_dir, dataset, config.image_shape)
    semisplit.check_counts(config.labeled, config.unlabeled, records.load_manifest(
        config.data_dir, dataset)["splits"]["train"]["count"], spec.num_classes, config.semi)
    train_set = trainset.of_run(config, log)
    config = config.resolved(train_count=train_set.count,
                             train_labels_changed=round(train_set.changed_fraction, 6),
                             train_class_counts=train_set.class_counts)
    if config.batch_size > train_set.count // config.num_workers:
        raise ConfigError("--batch-size %d is larger than the %d training images of each of "
                          "%d worker(s)" % (config.batch_size,
                                            train_set.count // config.num_workers,
                                            config.num_workers))
    # refuses a bad network / depth / shape (when check_before_data could not build this
    # graph, or built another); fit trains this one, remembered, without building it again
    fit.training_graph(config, spec.num_classes)
    return config


def check_before_data(config):
    """What can be checked before the data are prepared (which may download), so that a bad
    option is refused at once: the network, depth and image shape against the dataset's
    description (for auto: CIFAR-10's, which either choice shares but the channels), and the
    GPUs."""
    name = "cifar10" if config.dataset == "auto" else config.dataset
    try:
        spec = catalogue.spec(name, config.data_dir)
    except DataError:
        spec = None  # a name not prepared yet: preparing it refuses it, or says what it is
    if spec is not None:
        shape = config.image_shape or spec.default_shape
        if config.dataset == "auto" and config.image_shape:
            shape = (spec.default_shape[0],) + tuple(config.image_shape[1:])
        fit.training_graph(config.resolved(image_shape=shape), spec.num_classes)
    if config.gpus:
        devices.contexts(list(config.gpus))


def prepare_data(config, log):
    """Prepare (or check) a stored run's data in its --data-dir, and its training set."""
    preparation.prepare(config.dataset, config.data_dir, log=log,
                 synthetic_counts=config.synthetic_size)
    trainset.of_run(config, log)
