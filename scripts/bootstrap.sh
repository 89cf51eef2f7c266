#!/usr/bin/env bash
# Install what this machine lacks, then zingy-nb into ./.venv (editable, with test extras).
#   scripts/bootstrap.sh           Python side only (enough for scripts/lab.sh)
#   scripts/bootstrap.sh --system  also the Debian packages the test suite needs
# Re-running is cheap: the pip step is skipped while its inputs are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "bootstrap: missing Debian packages: $*" >&2
        echo "bootstrap: install them with: sudo apt-get install -y $*" >&2
        exit 1
    fi
    echo "bootstrap: installing Debian packages: $*" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
if [ "${1:-}" = "--system" ]; then
    # chromium: browser tests; gnome-keyring, dbus-x11, libsecret-tools: a real Secret Service;
    # postgresql: the team-store tests start a throwaway server (tests/postgres.py);
    # bubblewrap: confined kernels (zingy_nb/agent/confine.py).
    for pkg in chromium fonts-liberation gnome-keyring dbus-x11 libsecret-tools postgresql bubblewrap; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
fi
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
fi

stamp=.venv/.zingy-nb-installed
inputs=$(cat pyproject.toml; find labextension -path labextension/node_modules -prune -o \
    -type f \( -name '*.ts' -o -name '*.tsx' -o -name '*.css' -o -name '*.js' -o -name '*.json' \
    -o -name yarn.lock \) -print 2>/dev/null | sort | xargs -r cat)
digest=$(printf '%s' "$inputs" | sha256sum | cut -d' ' -f1)
need_install=0
{ [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; } || need_install=1
if [ -d labextension ] && [ ! -f zingy_nb/labextension/package.json ]; then need_install=1; fi
if [ "$need_install" = 1 ]; then
    echo "bootstrap: installing zingy-nb into .venv (builds the JupyterLab extension)" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,dev]"
    printf '%s' "$digest" > "$stamp"
fi

# configurable-http-proxy for the JupyterHub tests (tests/hub), in .venv/chp (git-ignored)
if [ ! -x .venv/chp/node_modules/.bin/configurable-http-proxy ]; then
    echo "bootstrap: installing configurable-http-proxy into .venv/chp" >&2
    npm install --silent --no-audit --no-fund --prefix .venv/chp configurable-http-proxy@5
fi
