#!/usr/bin/env bash
# Train ResNet-50 with MixUp (alpha 0.2, mix_rate 0.7) on CIFAR-10, or on Fashion-MNIST when
# CIFAR-10 cannot be had. Sets up .venv on first use. All options: ./train.sh --help
# Relative paths you give are yours (this script does not change directory); the defaults,
# data/ and runs/, are the repository's.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
py=$("$root/scripts/ensure-env.sh")
export MIXUP_HOME="$root"
# -P: the caller's directory is not put on the import path (a folder named mixup there
# would shadow the package)
exec "$py" -P -m mixup.train "$@"
