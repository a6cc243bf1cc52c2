#!/usr/bin/env bash
# Train ResNet-50 with MixUp (alpha 0.2, mix_rate 0.7) on CIFAR-10, or on Fashion-MNIST when
# CIFAR-10 cannot be had. Sets up .venv on first use. All options: ./train.sh --help
set -euo pipefail
cd "$(dirname "$0")"
py=$(./scripts/ensure-env.sh)
exec "$py" -m mixup.train "$@"
