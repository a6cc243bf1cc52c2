#!/usr/bin/env bash
# Score a run on its validation set: prints "accuracy: A (k/N)".
#   ./test.sh [--out-dir RUN] [--epoch N|best] [--data-dir DIR]   (default: runs/latest, last epoch)
# All options: ./test.sh --help. Relative paths you give are yours.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
py=$("$root/scripts/ensure-env.sh")
export MIXUP_HOME="$root"
# Ctrl-C during the interpreter's start-up, before mixup_compat.run_command holds it for the
# command, would print a traceback of the start-up: ignored for that instant (unless the caller
# ignores it already: a background job's stays ignored)
if [ -z "$(trap -p INT)" ]; then trap '' INT; export MIXUP_HOLD_INT=1; fi
exec "$py" -P -m mixup_compat --run mixup_app.score "$@"
