#!/usr/bin/env bash
# The wrappers' common body: ./train.sh, ./test.sh and ./tools.sh exec this with the module of
# their command (mixup_app.commands.MODULES) and the user's arguments:
#   scripts/run-command.sh MODULE [ARGS ...]
# It sets up the environment on first use (scripts/ensure-env.sh) and runs MODULE in it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module=$1
shift
py=$("$root/scripts/ensure-env.sh")
export MIXUP_HOME="$root"
# Ctrl-C during the interpreter's start-up, before mixup_compat.run_command holds it for the
# command, would print a traceback of the start-up: ignored for that instant (unless the caller
# ignores it already: a background job's stays ignored; exec keeps both)
if [ -z "$(trap -p INT)" ]; then trap '' INT; export MIXUP_HOLD_INT=1; fi
# -P: the caller's directory is not put on the import path (a folder named mixup there would
# shadow the package)
exec "$py" -P -m mixup_compat --run "$module" "$@"
