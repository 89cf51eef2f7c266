#!/usr/bin/env bash
# JupyterLab with zingy-nb: the extension, both flow kernels and notebooks/quickstart.ipynb,
# on the default embedded store (a zingy_nb folder in Jupyter's data dir).
# Extra arguments go to `jupyter lab`, e.g. scripts/lab.sh --port 8899
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/zingy-nb kernels install --sys-prefix
args=(--ServerApp.ip=127.0.0.1 --LabApp.news_url=None)
[ "$(id -u)" = 0 ] && args+=(--allow-root)
[ -z "${DISPLAY:-}" ] && [ "$(uname)" = Linux ] && args+=(--no-browser)
echo "Starting JupyterLab; open the URL printed below (it carries the login token)." >&2
exec .venv/bin/jupyter lab "${args[@]}" "$@" notebooks/quickstart.ipynb
