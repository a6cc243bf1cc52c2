#!/usr/bin/env bash
# Score a run on its validation set: prints "accuracy: A (k/N)".
#   ./test.sh [--out-dir RUN] [--epoch N] [--data-dir DIR]   (default: runs/latest, last epoch)
set -euo pipefail
cd "$(dirname "$0")"
py=$(./scripts/ensure-env.sh)
exec "$py" -m mixup.evaluate "$@"
