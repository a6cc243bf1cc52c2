#!/usr/bin/env bash
# What ./train.sh, ./test.sh and ./tools.sh share: set up the environment, then run MODULE (the
# command's Python module, mixup_app.commands.MODULES) with the remaining arguments.
#   scripts/run.sh MODULE [ARG ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module=$1
shift
py=$("$root/scripts/ensure-env.sh")
export MIXUP_HOME="$root"
# -P: the caller's directory is not put on the import path (a folder named mixup there
# would shadow the package)
# Ctrl-C during the interpreter's start-up, before mixup_compat.run_command holds it for the
# command, would print a traceback of the start-up: ignored for that instant (unless the caller
# ignores it already: a background job's stays ignored)
if [ -z "$(trap -p INT)" ]; then trap '' INT; export MIXUP_HOLD_INT=1; fi
exec "$py" -P -m mixup_compat --run "$module" "$@"
