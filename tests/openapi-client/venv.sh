#!/usr/bin/env bash
# Makes the Python virtualenv with the pinned OpenAPI client generator (requirements.txt, every
# package with its hashes) under target/, unless one made from the same requirements is there.
# Prints the venv's path. .ci/run calls it; the test of /openapi.json calls it when the venv is
# missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${KROG_OPENAPI_VENV:-$here/../../target/openapi-client-venv}"
stamp="$venv/requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
        -r "$here/requirements.txt" >&2
    echo "$want" > "$stamp"
fi
echo "$venv"
