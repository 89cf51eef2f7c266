#!/usr/bin/env bash
# Build zingy-nb's sdist and wheel: the wheel then installs anywhere with plain pip, no node.
#   scripts/build-wheel.sh            into dist/
#   scripts/build-wheel.sh OUTDIR     into OUTDIR (created if missing)
# Needs node here, once: the JupyterLab extension is compiled from labextension/ into the
# wheel. It builds from a clean copy of the tree, so an earlier build in zingy_nb/labextension
# is never shipped by mistake, and the repository is left as it was (only OUTDIR is written).
# Like `python -m build`: the sdist first, then the wheel from the unpacked sdist, so a
# wheel built later from that sdist (pip install zingy-nb-*.tar.gz) needs no node either.
# PYTHON names the interpreter whose pip fetches the build tools (default: .venv's).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
py=${PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || py=$(command -v python3)

if ! command -v node >/dev/null 2>&1; then
    echo "build-wheel: node is needed to build the JupyterLab extension:" \
        "apt-get install nodejs (or run scripts/bootstrap.sh)" >&2
    exit 1
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/zingy-nb-build.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# 1. The source as a clone would have it: in a git checkout, the files git tracks or would
#    track (git-ignored ones, nested .gitignore files included, stay out of the sdist),
#    elsewhere everything but build output and local environments.
mkdir "$stage/src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$root" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar -cf - --null -T -) | tar -C "$stage/src" -xf -
else
    tar -C "$root" -cf - \
        --exclude=./.git --exclude=./.venv --exclude=./dist --exclude=./build \
        --exclude=./zingy_nb/labextension --exclude=./labextension/lib \
        --exclude=./labextension/.yarn --exclude=./lab --exclude=./test-artifacts --exclude=./benchmarks/.deps \
        --exclude=node_modules --exclude='*.tsbuildinfo' --exclude='*.egg-info' \
        --exclude=__pycache__ --exclude='.*_cache' --exclude=.hypothesis . |
        tar -C "$stage/src" -xf -
fi
# jlpm's package cache and install state live outside the source (so outside the sdist);
# a copy of the local cache, when there is one, spares the network.
export YARN_CACHE_FOLDER="$stage/yarn-cache" YARN_INSTALL_STATE_PATH="$stage/yarn-install-state.gz"
if [ -d "$root/labextension/.yarn/cache" ]; then
    cp -r "$root/labextension/.yarn/cache" "$YARN_CACHE_FOLDER"
fi

# 2. The build tools that pyproject.toml's build-system.requires names, in a throwaway venv.
"$py" -m venv --without-pip "$stage/tools"
mapfile -t requires < <("$py" - "$root/pyproject.toml" <<'PY'
import sys
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["build-system"]["requires"]))
PY
)
"$py" -m pip --python "$stage/tools/bin/python" install -q --disable-pip-version-check \
    "${requires[@]}"
export PATH="$stage/tools/bin:$PATH"  # jlpm and jupyter-builder, for the build hook

# 3. The sdist (the build hook compiles the lab extension into it), then the wheel from it.
(cd "$stage/src" && "$stage/tools/bin/python" -m hatchling build -t sdist -d "$stage/out")
sdist=$(find "$stage/out" -maxdepth 1 -name 'zingy_nb-*.tar.gz' | head -n 1)
[ -n "$sdist" ] || { echo "build-wheel: no sdist was built" >&2; exit 1; }
mkdir "$stage/unpacked"
tar -C "$stage/unpacked" -xzf "$sdist"
(cd "$stage/unpacked"/zingy_nb-* && "$stage/tools/bin/python" -m hatchling build -t wheel -d "$stage/out")

cp "$stage"/out/zingy_nb-* "$out"/
for built in "$stage"/out/zingy_nb-*; do echo "$out/$(basename "$built")"; done
