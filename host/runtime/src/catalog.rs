//! The prebuilt formatters shipped in the binary (built from `example-plugins/` by build.rs).

/// One prebuilt plugin.
#[derive(Debug)]
pub struct Builtin {
    /// The catalog name (`slack`, `sheets`, `filter`, `redact`).
    pub name: &'static str,
    /// The component's bytes.
    pub wasm: &'static [u8],
}

static BUILTINS: &[Builtin] = &[
    Builtin {
        name: "slack",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/slack.wasm")),
    },
    Builtin {
        name: "sheets",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/sheets.wasm")),
    },
    Builtin {
        name: "filter",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/filter.wasm")),
    },
    Builtin {
        name: "redact",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/redact.wasm")),
    },
];

/// All prebuilt plugins.
pub fn builtins() -> &'static [Builtin] {
    BUILTINS
}

/// A prebuilt plugin by name.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}
