#!/usr/bin/env bash
# Train ResNet-50 with MixUp (alpha 0.2, mix_rate 0.7) on CIFAR-10, or on Fashion-MNIST when
# CIFAR-10 cannot be had. Sets up .venv on first use. All options: ./train.sh --help
# Relative paths you give are yours (this script does not change directory); the defaults,
# data/ and runs/, are the repository's.
exec "$(dirname "$0")/scripts/run-command.sh" mixup_app.train "$@"
