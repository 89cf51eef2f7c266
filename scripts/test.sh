#!/usr/bin/env bash
# The whole test suite: lint, then every test (kernels, server, browser, keyring daemon).
# Extra arguments go to pytest, e.g. scripts/test.sh -k magic
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --system
.venv/bin/ruff check .
.venv/bin/mypy
# Three workers (pytest-xdist), each taking a whole test file (its module fixtures: kernels,
# servers) at a time: the suite mostly waits on processes, so two cores carry three.
# ZINGY_NB_TEST_WORKERS=0 runs it in this one process.
exec .venv/bin/python -m pytest -n "${ZINGY_NB_TEST_WORKERS:-3}" --dist loadfile --durations=25 "$@"
