#!/usr/bin/env bash
# The whole test suite: lint, then every test (kernels, server, browser, keyring daemon).
# Extra arguments go to pytest, e.g. scripts/test.sh -k magic
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --system
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
