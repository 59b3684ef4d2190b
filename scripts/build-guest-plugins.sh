#!/usr/bin/env bash
# Rebuilds the JavaScript and Python example plugins shipped in krog's catalog
# (example-plugins/prebuilt/{teams,reminder}.wasm) with their own toolchains:
#   npm ci in plugin-sdk/js and example-plugins/teams, and a Python with
#   plugin-sdk/python/requirements.txt installed (PYTHON, default python3).
# Also the hostile JavaScript and Python guests of the runtime's tests
# (test-plugins/prebuilt/hostile-{js,py}.wasm), unless OUT_DIR is given.
# Usage: scripts/build-guest-plugins.sh [OUT_DIR]   (default: example-plugins/prebuilt)
#
# The components are committed because building them needs packages from npm and PyPI, which a
# `cargo build` must not fetch. Neither build is byte-for-byte reproducible (both snapshot a
# running interpreter), so host/runtime/tests/guest_rebuild.rs rebuilds them and compares what
# they do on every fixture, not their bytes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$root/example-plugins/prebuilt}" && cd "${1:-$root/example-plugins/prebuilt}" && pwd)"
python="${PYTHON:-python3}"

(cd "$root/example-plugins/teams" && npm run --silent build >/dev/null && cp dist/teams.wasm "$out/teams.wasm")
(cd "$root/example-plugins/reminder" \
  && PYTHONPATH="$root/plugin-sdk/python/src" "$python" -m krog_plugin.build -o "$out/reminder.wasm" >/dev/null)
ls -l "$out/teams.wasm" "$out/reminder.wasm" >&2
if [ -z "${1:-}" ]; then
  tests="$root/test-plugins/prebuilt"
  mkdir -p "$tests"
  (cd "$root/test-plugins/hostile-js" && npm run --silent build >/dev/null && cp dist/hostile-js.wasm "$tests/")
  (cd "$root/test-plugins/hostile-py" \
    && PYTHONPATH="$root/plugin-sdk/python/src" "$python" -m krog_plugin.build -o "$tests/hostile-py.wasm" >/dev/null)
  ls -l "$tests"/*.wasm >&2
fi
