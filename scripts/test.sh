#!/usr/bin/env bash
# The whole test suite: lint, then every test (kernels, server, browser, keyring daemon).
# Extra arguments go to pytest, e.g. scripts/test.sh -k magic
# scripts/test.sh --fast: the fast tier, run on every change (a few minutes): lint and the
# test files of the core (store, keys, redaction, magic, flow, agent, launcher, kernels),
# not the browser, JupyterHub, runner, packaging, reliability or hostile-user files.
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=(
    tests/test_profiles.py tests/test_keys.py tests/test_redaction.py tests/test_magic.py
    tests/test_magic_line.py tests/test_zingyconn.py tests/test_flow.py tests/test_kernel_flow.py
    tests/test_store_guard.py tests/test_tracebacks.py tests/test_stream_holdback.py
    tests/test_panel.py tests/test_panel_comm.py tests/test_kernelspecs.py tests/test_layout.py
    tests/test_public_imports.py tests/test_launch_fast.py tests/test_launcher.py
    tests/test_agent.py tests/test_agent_consent.py tests/test_agent_widening.py
    tests/test_stated_kernels.py tests/test_server_agent.py tests/test_member_custody.py
    tests/test_team_keys.py tests/test_backends_integrity.py tests/test_js_kernels.py
    tests/leaks/test_logstart.py tests/leaks/test_history_at_stop.py tests/test_history_leaks.py
)
if [[ "${1:-}" == "--fast" ]]; then
    shift
    set -- "${FAST[@]}" "$@"
    .venv/bin/ruff check .
    .venv/bin/ruff format --check zingy_nb tests benchmarks
    .venv/bin/mypy
    exec .venv/bin/python -m pytest -n "${ZINGY_NB_TEST_WORKERS:-3}" --dist loadfile "$@"
fi
bash scripts/bootstrap.sh --system
.venv/bin/ruff check .
.venv/bin/mypy
# Three workers (pytest-xdist), each taking a whole test file (its module fixtures: kernels,
# servers) at a time: the suite mostly waits on processes, so two cores carry three.
# ZINGY_NB_TEST_WORKERS=0 runs it in this one process.
exec .venv/bin/python -m pytest -n "${ZINGY_NB_TEST_WORKERS:-3}" --dist loadfile --durations=25 "$@"
