#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets the project up (./setup.sh --no-start), makes sure
# the browser-test tools are there (Debian's chromium, Playwright for Python), then runs pytest.
# Extra arguments go to pytest (e.g. ./test.sh -m "not model" for the fast unit tests only).
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh --no-start

if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "==> Installing Debian's chromium for the browser tests" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/python -m pip install -q --disable-pip-version-check playwright

exec .venv/bin/python -m pytest -q "$@"
