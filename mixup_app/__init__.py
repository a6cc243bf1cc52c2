"""The mxnet-mixup application: the commands behind ./train.sh, ./test.sh and ./tools.sh
(mixup_app.commands installs them as mixup-train, mixup-test, mixup-TOOL).

It is built on the operator library (:mod:`mixup`) and the networks (:mod:`mixup_symbols`),
never the reverse. Its parts:

    train, score          the commands ./train.sh and ./test.sh (score a run's checkpoint)
    config, cli           a run's configuration (each option declared once) and the parsers' manners
    preflight, fit,       a run before its first step, the epoch loop, run directories and
    runs, launch          checkpoints, a local dist_sync cluster
    scoring, metrics      the scoring graph, attacks, soft-label metrics
    report, plots, show   results tables and pictures
    data/                 datasets as RecordIO: catalogue, sources, preparation, iterators,
                          training subsets, users' images and .rec files, safe unpickling
    experiments/          studies beyond image classification: tabular (UCI), GAN
    files, progress, interrupts, threads, console, devices, paths, readers
                          shared services: atomic files, progress bars, Ctrl-C, OpenMP threads,
                          MXNet's log lines, GPUs, the repository's folders, checked JSON readers
"""
