"""The data pipeline: datasets as RecordIO files and the iterators that read them.

    catalogue    the datasets this project knows (name, classes, image shape) and a manifest's checks
    sources      the official downloads (CIFAR-10's archive, Fashion-MNIST's idx files), read safely
    preparation  writing a dataset's RecordIO pair and manifest from its source
    records      RecordIO files: writing atomically, verifying, counting
    images       a user's folder of images; userrec: a user's own .rec files
    trainset     a run's training set: class-balanced or uniform subsets, noisy labels
    iterators    MXNet's ImageRecordIter over a prepared dataset
    pickles      unpickling restricted to what the sources hold
    command      ./tools.sh data
"""
