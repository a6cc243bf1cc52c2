#!/usr/bin/env bash
# Score a run on its validation set: prints "accuracy: A (k/N)".
#   ./test.sh [--out-dir RUN] [--epoch N|best] [--data-dir DIR]   (default: runs/latest, last epoch)
# All options: ./test.sh --help. Relative paths you give are yours.
exec "$(dirname "$0")/scripts/run-command.sh" mixup_app.score "$@"
