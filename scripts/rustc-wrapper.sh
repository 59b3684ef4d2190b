#!/usr/bin/env bash
# Cargo runs this instead of rustc in this workspace (`.cargo/config.toml`). Cargo's first call,
# before anything compiles, asks for rustc's version (`-vV`): then it checks that the
# wasm32-wasip2 target is installed, so that a machine without it stops within seconds, naming
# the command to run, rather than after minutes of compiling. Every call is then rustc's own.
# (A RUSTC_WRAPPER in the environment, such as sccache, takes this one's place. bash, not sh:
# dash drops environment variables whose names are no shell names, like cargo's
# CARGO_BIN_EXE_krog-under-test.)
for arg in "$@"; do
    if [ "$arg" = "-vV" ]; then
        sysroot="$("$1" --print sysroot)" &&
            "$(dirname "$0")/wasm-target-check.sh" "$sysroot" || exit 1
        break
    fi
done
exec "$@"
