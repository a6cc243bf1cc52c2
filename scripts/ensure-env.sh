#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv and prints its python.
#
#   MIXUP_MXNET=cpu|gpu|auto   which MXNet wheel to install (default auto: gpu when nvidia-smi
#                              lists a GPU, else cpu). gpu is mxnet-cu112 (CUDA 11.2, sm_50-sm_86).
#   MIXUP_EXTRAS=a,b           further extra groups from setup.py (the test tools, GluonCV for
#                              --network gluoncv:NAME, and scikit-learn for ./tools.sh tabular
#                              always come).
#
# The environment is rebuilt only when setup.py, constraints.txt or the choice above changes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
flavour=${MIXUP_MXNET:-auto}
if [ "$flavour" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    flavour=gpu
  else
    flavour=cpu
  fi
fi
case "$flavour" in cpu|gpu) ;; *) echo "MIXUP_MXNET must be cpu, gpu or auto, got '$flavour'" >&2; exit 2;; esac
extras="$flavour,test,gluoncv,experiments${MIXUP_EXTRAS:+,$MIXUP_EXTRAS}"

stamp="$venv/.mixup-stamp"
want=$(cat "$root/setup.py" "$root/constraints.txt" | sha256sum | cut -c1-16)-$extras
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && grep -qx -- "$want" "$stamp"; then
  echo "$venv/bin/python"; exit 0
fi
# An existing environment may hold a wheel we no longer want (cpu vs gpu): installed extras are
# a superset check, so a change of flavour starts from scratch.
if [ -f "$stamp" ] && ! grep -q -- "-$flavour" "$stamp"; then rm -rf "$venv"; fi

py=${PYTHON:-}
if [ -z "$py" ]; then
  for cand in python3.11 python3; do command -v "$cand" >/dev/null 2>&1 && { py=$cand; break; }; done
fi
[ -n "$py" ] || { echo "need python3 (3.11 recommended) on PATH" >&2; exit 2; }
echo "setting up $venv ($flavour MXNet, extras: $extras) ..." >&2
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv" >&2
"$venv/bin/python" -m pip install -q --upgrade pip >&2 || true
"$venv/bin/python" -m pip install -q -c "$root/constraints.txt" -e "$root[$extras]" >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
