#!/bin/sh
# Whether the Rust toolchain at SYSROOT (`rustc --print sysroot`) can build for wasm32-wasip2,
# which krog's plugins are built for. Exits 1 with the one command to run when it cannot.
# Usage: wasm-target-check.sh SYSROOT
#
# The target's standard library must be there; on a toolchain rustup manages (it lists its
# installed components in lib/rustlib/components), rustup must list the target too, since
# `rustup target remove` may leave empty directories behind.
sysroot="$1"
rustlib="$sysroot/lib/rustlib"
missing=""
if [ -f "$rustlib/components" ] && ! grep -qx 'rust-std-wasm32-wasip2' "$rustlib/components"; then
    missing="rustup lists no rust-std-wasm32-wasip2"
elif ! ls "$rustlib/wasm32-wasip2/lib/"libstd-*.rlib >/dev/null 2>&1; then
    missing="no standard library in $rustlib/wasm32-wasip2/lib"
fi
if [ -n "$missing" ]; then
    echo "krog: the wasm32-wasip2 target is not installed in the toolchain at $sysroot ($missing), so krog's plugins cannot be built; run \`rustup target add wasm32-wasip2\`" >&2
    exit 1
fi
