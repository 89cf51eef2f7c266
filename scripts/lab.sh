#!/usr/bin/env bash
# JupyterLab with zingy-nb: the extension and both flow kernels, on the default embedded
# store (a zingy_nb folder in Jupyter's data dir). It serves lab/, a git-ignored working
# folder seeded with copies of notebooks/*.ipynb: a copy is made only where lab/ lacks
# that file, so your edits are never overwritten and notebooks/ (the nbval regression
# fixtures) is never touched. Prints the URL to open; opens it where a browser exists.
#
#   scripts/lab.sh                 port 8888, or the next free one
#   scripts/lab.sh --port 8899     extra arguments go to `jupyter lab`
#
# Environment: ZINGY_NB_LAB_DIR  the working folder (default: lab at the repository root)
#              JUPYTER_TOKEN     the login token (default: a new random one each run)
#              ZINGY_NB_LAB_SKIP_BOOTSTRAP=1  skip bootstrap.sh and the kernel install
#                                (the venv is ready; the tests use it)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${ZINGY_NB_LAB_SKIP_BOOTSTRAP:-}" != 1 ]; then
    bash scripts/bootstrap.sh
    .venv/bin/zingy-nb kernels install --sys-prefix
fi

port=8888
rest=()
while [ $# -gt 0 ]; do
    case $1 in
        --port) port=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
        --port=*) port=${1#--port=}; shift ;;
        *) rest+=("$1"); shift ;;
    esac
done
if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    echo "lab.sh: --port takes a port number (1-65535)." >&2
    exit 2
fi
# The first free port from there: JupyterLab's own retries would make the URL below wrong.
port=$(.venv/bin/python - "$port" <<'PY'
import socket
import sys

start = int(sys.argv[1])
for port in range(start, min(start + 50, 65536)):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    sys.exit(f"lab.sh: no free port from {start} to {start + 49}; pass another --port.")
PY
)

work=${ZINGY_NB_LAB_DIR:-lab}
mkdir -p "$work"
work=$(cd "$work" && pwd)  # absolute: jupyter resolves the file to open against root_dir
for nb in notebooks/*.ipynb; do
    [ -e "$work/${nb##*/}" ] || cp "$nb" "$work/"
done
# No "Would you like to get notified about official Jupyter news?" toast: the
# notification plugin asks while its fetchNews setting is "none". This default (a
# user setting still wins) lives in a config dir of its own, added to Jupyter's path.
config=$work/.jupyter-config
mkdir -p "$config/labconfig"
cat > "$config/labconfig/default_setting_overrides.json" <<'JSON'
{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}
JSON
export JUPYTER_CONFIG_PATH="$config${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"

# A new random login token each run, handed over in a 0600 file: not in argv (which
# other users can read) and not in the environment the kernels inherit.
token=${JUPYTER_TOKEN:-}
if [ -z "$token" ]; then
    token=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')
    (umask 077 && printf '%s' "$token" > "$config/token")
    export JUPYTER_TOKEN_FILE="$config/token"
fi

args=(
    --ServerApp.ip=127.0.0.1 --ServerApp.port="$port" --ServerApp.port_retries=0
    --ServerApp.root_dir="$work" --LabApp.news_url=None
)
[ "$(id -u)" = 0 ] && args+=(--allow-root)
[ -z "${DISPLAY:-}" ] && [ "$(uname)" = Linux ] && args+=(--no-browser)
echo "Serving $work/ (your copies of notebooks/*.ipynb). Open the quick start at:"
echo "    http://127.0.0.1:$port/lab/tree/quickstart.ipynb?token=$token"
exec .venv/bin/jupyter lab "${args[@]}" "${rest[@]}" "$work/quickstart.ipynb"
