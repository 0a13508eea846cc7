#!/usr/bin/env bash
# From a bare Python 3.11-3.13 to the pinned environment, using only the project's files:
#   scripts/bootstrap.sh uv     uv, pinned, in the project-local tools environment .tools/
#   scripts/bootstrap.sh venv   that, then .venv from the interpreter found and requirements.lock
# Nothing is installed into the system's Python (PEP 668 allows none). A prerequisite that cannot
# be installed from here ends the run with one line saying what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
TOOLS=.tools
export UV_PYTHON_DOWNLOADS=never  # use the interpreter found here, never fetch one

die() { echo "bootstrap: $*" >&2; exit 1; }

# The interpreter: $PYTHON if set, else the first of these within 3.11-3.13.
find_python() {
  local candidate path
  for candidate in ${PYTHON:-python3 python3.13 python3.12 python3.11}; do
    path=$(command -v "$candidate" 2>/dev/null) || continue
    if "$path" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null; then
      # A pyenv shim or a symlink: hand uv the interpreter itself.
      "$path" -c 'import sys; print(sys.executable)'
      return
    fi
  done
  local seen=""
  path=$(command -v "${PYTHON:-python3}" 2>/dev/null) && seen=" (${PYTHON:-python3} is $("$path" -V 2>&1))"
  die "needs Python 3.11, 3.12 or 3.13 on PATH${seen}: install one (Debian/Ubuntu: apt-get install python3), or name it with PYTHON=/path/to/python3.12"
}

ensure_uv() {
  if [ -x "$TOOLS/bin/uv" ] && [ "$("$TOOLS/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" = "$UV_VERSION" ]; then
    return
  fi
  local python
  python=$(find_python)
  if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    local version
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    die "$python cannot create a virtual environment (no ensurepip): install Debian/Ubuntu's python${version}-venv (apt-get install python${version}-venv), or use another Python 3.11-3.13 with PYTHON=..."
  fi
  echo "==> installing uv $UV_VERSION into $TOOLS/ (with $python)"
  rm -rf "$TOOLS"
  local log
  log=$(mktemp)
  if ! { "$python" -m venv "$TOOLS" && "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check \
      "uv==$UV_VERSION"; } >"$log" 2>&1; then
    local said
    said=$(grep -v '^\s*$' "$log" | tail -n 1)
    rm -f "$log"
    die "could not install uv $UV_VERSION into $TOOLS/ (${said:-no message}); is the package registry reachable?"
  fi
  rm -f "$log"
}

install_venv() {
  local python
  python=$(find_python)
  echo "==> installing the pinned dependencies (requirements.lock) into .venv with $("$python" -V) (first run takes a minute)"
  if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, sys.argv[1].split("."))))' \
      "$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" 2>/dev/null; then
    rm -rf .venv  # made with another Python: start again
  fi
  "$TOOLS/bin/uv" venv --quiet --allow-existing --python "$python" .venv
  local log="$TOOLS/install.log"
  if ! "$TOOLS/bin/uv" pip sync --quiet --python .venv/bin/python requirements.lock >"$log" 2>&1; then
    # uv explains a failure as a chain of causes: its first line and the last cause, on one line.
    local first last
    first=$(grep -v '^\s*$' "$log" | head -n 1 | sed 's/^error: //')
    last=$(grep -v '^\s*$' "$log" | tail -n 1 | sed 's/^\s*cause: //')
    [ "$last" = "$first" ] && last=""
    die "could not install requirements.lock into .venv (${first:-no message}${last:+: $last}); is the package registry reachable? (all of uv's output: $log)"
  fi
}

case "${1:-venv}" in
  uv) ensure_uv ;;
  venv) ensure_uv; install_venv ;;
  python) find_python ;;
  *) die "unknown step '$1' (uv, venv or python)" ;;
esac
