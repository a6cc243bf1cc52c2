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
# Ctrl-C during the interpreter's start-up, before mixup_compat.run_command holds it for the
# command, would print a traceback of the start-up: ignored for that instant (unless the caller
# ignores it already: a background job's stays ignored)
if [ -z "$(trap -p INT)" ]; then trap '' INT; export MIXUP_HOLD_INT=1; fi
exec "$py" -P -m mixup_compat --run mixup_app.train "$@"
