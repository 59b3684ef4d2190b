//! Builds the test plugins to `wasm32-wasip2` in `target/wasm-test-plugins` (not the example
//! plugins' `target/wasm-plugins`, so that this and `host/runtime/build.rs` never wait on each
//! other's lock), and copies the components into `OUT_DIR`, by the rules of
//! `scripts/wasm-build.rs`.

include!("../../scripts/wasm-build.rs");

/// (package, file name in OUT_DIR)
const PLUGINS: &[(&str, &str)] = &[
    ("krog-test-plugin-hostile", "hostile.wasm"),
    ("krog-test-plugin-wrong-world", "wrong-world.wasm"),
];

fn main() {
    build_wasm_components(
        "wasm-test-plugins",
        PLUGINS,
        &[
            "plugin-sdk/wit",
            "test-plugins/hostile",
            "test-plugins/wrong-world",
        ],
    );
}
