#!/usr/bin/env bash
# The project's other command-line tools, in the project's environment (set up on first use):
#   ./tools.sh data DATASET [options]     prepare a dataset as RecordIO (python -m mixup.data)
#   ./tools.sh report RUN [RUN ...]       results table and plot from run directories
#   ./tools.sh show [options]             picture of a batch before and after mixing
# Each takes --help. Relative paths you give are yours.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
tool=${1:-}
case "$tool" in
  data|report|show) shift ;;
  *) echo "usage: ./tools.sh data|report|show [options]  (each takes --help)" >&2; exit 2 ;;
esac
py=$("$root/scripts/ensure-env.sh")
export MIXUP_HOME="$root"
exec "$py" -P -m "mixup.$tool" "$@"
