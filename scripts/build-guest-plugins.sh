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
# running interpreter), so the full build also writes example-plugins/prebuilt/sources.sha256:
# the SHA-256 of every file the four components are built from. host/runtime/tests/guest_rebuild.rs
# checks that it matches the tree (a changed source without a rebuild fails it), that the
# committed components do what their sources do run natively, and, with KROG_GUEST_REBUILD=1,
# rebuilds them and compares what the rebuilt ones do.
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
  # Keep in step with `sources` in host/runtime/tests/guest_rebuild.rs.
  (cd "$root" && find plugin-sdk/wit plugin-sdk/js plugin-sdk/python example-plugins/teams \
      example-plugins/reminder test-plugins/hostile-js test-plugins/hostile-py \
      \( -name node_modules -o -name dist -o -name __pycache__ -o -name test -o -name tests \
         -o -name '.*' \) -prune -o -type f ! -name '*.md' ! -name '*.pyc' -print \
    | LC_ALL=C sort | xargs sha256sum) >"$root/example-plugins/prebuilt/sources.sha256"
fi
