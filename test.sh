#!/usr/bin/env bash
# Score a run on its validation set: prints "accuracy: A (k/N)".
#   ./test.sh [--out-dir RUN] [--epoch N|best] [--data-dir DIR]   (default: runs/latest, last epoch)
# All options: ./test.sh --help. Relative paths you give are yours.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
py=$("$root/scripts/ensure-env.sh")
export MIXUP_HOME="$root"
exec "$py" -P -m mixup.evaluate "$@"
