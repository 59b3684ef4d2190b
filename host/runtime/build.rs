//! Builds the example plugins (embedded in the catalog) to `wasm32-wasip2` in
//! `target/wasm-plugins`, and copies the components into `OUT_DIR`, by the rules of
//! `scripts/wasm-build.rs`. The test plugins are built by `test-plugins/components`
//! (`krog-test-components`), for the tests only.

include!("../../scripts/wasm-build.rs");

/// (package, file name in OUT_DIR)
const PLUGINS: &[(&str, &str)] = &[
    ("krog-plugin-slack", "slack.wasm"),
    ("krog-plugin-sheets", "sheets.wasm"),
    ("krog-plugin-filter", "filter.wasm"),
    ("krog-plugin-redact", "redact.wasm"),
];

fn main() {
    build_wasm_components("wasm-plugins", PLUGINS, &["plugin-sdk", "example-plugins"]);
}
