#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment and prints its python.
#
#   PYTHON=python3.12          the interpreter (a command or a path; on pyenv machines also a
#                              version pyenv has but has not selected). Default: the one .venv
#                              was made with; for a new .venv python3.11 if present, else the
#                              newest of python3.13, python3.12, python3. Supported: 3.11-3.13.
#   MIXUP_MXNET=cpu|gpu|auto   which MXNet 1.9.1 build (default auto: the CUDA build mxnet-cu112
#                              when a GPU can run it, see mixup_compat.choose_mxnet_build).
#   MIXUP_EXTRAS=a,b           further extra groups from setup.py (the test tools, GluonCV for
#                              --network gluoncv:NAME, and scikit-learn for ./tools.sh tabular
#                              always come).
#   MIXUP_VENV=DIR             where the environment lives (default .venv in the repository).
#
# The environment is rebuilt only when setup.py, constraints.txt, the interpreter or the choices
# above change. Set-up messages go to stderr; stdout is the environment's python only.
# --which-python: print the interpreter that would be used (and its version), set up nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${MIXUP_VENV:-$root/.venv}
# the Pythons this project runs on (setup.py's python_requires says the same): python -P (the
# wrappers' safe import path) is new in 3.11; MXNet 1.9.1 runs up to 3.13 (mixup_compat)
supported="3.11 3.12 3.13"
hint="pick one with PYTHON=..., e.g. PYTHON=python3.12 make test"

say() { echo "$*" >&2; }
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
is_supported() { case " $supported " in *" $1 "*) return 0;; esac; return 1; }
# the interpreter a name stands for: a command that runs, or a version pyenv has installed
resolve() {
  local name=$1 found
  if found=$(command -v "$name" 2>/dev/null) && version_of "$found" >/dev/null; then
    echo "$found"; return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    for found in "$(pyenv root)"/versions/*/bin/"$name"; do
      if [ -x "$found" ] && version_of "$found" >/dev/null; then echo "$found"; return 0; fi
    done
  fi
  return 1
}

stamp="$venv/.mixup-stamp"
py=""
if [ -n "${PYTHON:-}" ]; then
  py=$(resolve "$PYTHON") || { say "PYTHON=$PYTHON: no such Python interpreter here; $hint"; exit 2; }
elif [ -f "$stamp" ] && [ -f "$venv/pyvenv.cfg" ]; then
  # keep the interpreter the environment was made with (PYTHON=... switches it)
  made_with=$(sed -n 's/^executable *= *//p' "$venv/pyvenv.cfg")
  if [ -n "$made_with" ] && version_of "$made_with" >/dev/null; then py=$made_with; fi
fi
if [ -z "$py" ]; then
  for name in python3.11 python3.13 python3.12 python3; do
    if found=$(resolve "$name") && is_supported "$(version_of "$found")"; then py=$found; break; fi
  done
  if [ -z "$py" ]; then
    other=$(resolve python3 || true)
    say "no supported Python (${supported// /, }) found${other:+ (python3 is $(version_of "$other"))}; install one and $hint"
    exit 2
  fi
fi
version=$(version_of "$py")
if ! is_supported "$version"; then
  say "Python $version ($py) is not supported: mxnet-mixup runs on Python ${supported// /, } (MXNet 1.9.1, the last release, with numpy's removed names put back); $hint"
  exit 2
fi
if [ "${1:-}" = --which-python ]; then echo "$py $version"; exit 0; fi

flavour=${MIXUP_MXNET:-auto}
reason=""
if [ "$flavour" = auto ]; then
  { read -r flavour; read -r reason; } < <("$py" "$root/mixup_compat.py" --mxnet-build)
fi
case "$flavour" in
  cpu) mxnet=mxnet==1.9.1 ;;
  gpu) mxnet=mxnet-cu112==1.9.1 ;;
  *) say "MIXUP_MXNET must be cpu, gpu or auto, got '$flavour'"; exit 2 ;;
esac
extras="$flavour,test,gluoncv,experiments${MIXUP_EXTRAS:+,$MIXUP_EXTRAS}"

want="$(cat "$root/setup.py" "$root/constraints.txt" "$root/mixup_compat.pth" | sha256sum | cut -c1-16)-$extras-py$version"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && grep -qx -- "$want" "$stamp"; then
  echo "$venv/bin/python"; exit 0
fi
# Another MXNet build or another Python: start from scratch (installed packages would linger).
if [ -f "$stamp" ] && ! grep -q -- "-$flavour,.*-py$version\$" "$stamp"; then rm -rf "$venv"; fi

say "setting up $venv: Python $version ($py), MXNet 1.9.1 $flavour build${reason:+ ($reason)}, extras $extras; a minute or two ..."
log="$venv.setup.log"
rm -f "$stamp"
# Ctrl-C while pip runs: pip exits 1 (not by the signal), which would look like a failed set-up
# and print its whole log; say in one line what was left instead (no stamp: set up again next time)
# (fd 3: the caller's stderr, as the trap runs inside the block whose output goes to the log)
exec 3>&2
trap 'echo "interrupted: $venv was not finished; it is set up again at the next command" >&3; exit 130' INT
{
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --upgrade pip
  if [ "$version" = 3.13 ]; then
    # MXNet 1.9.1 declares numpy < 2, for which no Python 3.13 build exists: install it
    # without its requirements (the extras bring the others) and run it on numpy 2 with
    # mixup_compat's aliases. pip then reports the declared conflict: expected.
    "$venv/bin/python" -m pip install --no-deps -c "$root/constraints.txt" "$mxnet"
  fi
  "$venv/bin/python" -m pip install -c "$root/constraints.txt" -e "$root[$extras]"
  # an editable install cannot carry mixup_compat's start-up hook: put it in site-packages
  "$venv/bin/python" -m mixup_compat --install-hook
  # MXNet imported first, as user code does: the hook must make it load
  "$venv/bin/python" -c "import mxnet, mixup"
} > "$log" 2>&1 || { cat "$log" >&2; say "setting up $venv failed (log: $log)"; exit 1; }
echo "$want" > "$stamp"
say "$venv is ready ($("$venv/bin/python" -c 'import mxnet, numpy; print("MXNet %s, numpy %s" % (mxnet.__version__, numpy.__version__))' 2>/dev/null))"
echo "$venv/bin/python"
