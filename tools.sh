#!/usr/bin/env bash
# The project's other command-line tools, in the project's environment (set up on first use):
#   ./tools.sh data DATASET [options]      prepare a dataset as RecordIO (python -m mixup_app.data.command)
#   ./tools.sh report RUN [RUN ...]        results table and plot from run directories
#   ./tools.sh show [options]              picture of a batch before and after mixing
#   ./tools.sh tabular --dataset NAME ...  ERM vs mixup on a UCI set, by cross-validation
#   ./tools.sh gan --shape ring|grid ...   a GAN on 2-D Gaussians, its discriminator with mixup
#   ./tools.sh gan-report RUN [RUN ...]    GAN runs compared: table and figure
# Each takes --help. Relative paths you give are yours.
set -euo pipefail
tool=${1:-}
usage="usage: ./tools.sh data|report|show|tabular|gan|gan-report [options]  (each takes --help)"
case "$tool" in
  data|report|show|tabular|gan|gan-report) shift ;;
  -h|--help) echo "$usage"; sed -n 's/^#   /  /p' "$0"; exit 0 ;;
  "") echo "$usage" >&2; exit 2 ;;
  *) echo "./tools.sh: unknown tool '$tool'; $usage" >&2; exit 2 ;;
esac
# the modules of mixup_app.commands.MODULES (tests/test_install.py holds the two tables equal)
case "$tool" in
  data) module=mixup_app.data.command ;;
  report) module=mixup_app.report ;;
  show) module=mixup_app.show ;;
  tabular) module=mixup_app.experiments.tabular ;;
  gan) module=mixup_app.experiments.gan ;;
  gan-report) module=mixup_app.experiments.gan_report ;;
esac
exec "$(dirname "$0")/scripts/run-command.sh" "$module" "$@"
