#!/usr/bin/env bash
# Create .venv and install citebot with its test tools. Safe to run again: it skips work already done.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.citebot-install"
want="$(cat pyproject.toml install.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "Installing citebot into .venv (the first run takes a minute or two)…" >&2
log=.venv/install.log
pip_install() {
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "install.sh: pip install $* failed (log above, also in $log)" >&2
    exit 1
  fi
}
: >"$log"
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
pip_install "torch==2.13.0"
pip_install -e ".[test]"
echo "$want" > "$stamp"
