//! The prebuilt formatters shipped in the binary: the Rust ones built from `example-plugins/` by
//! build.rs; the JavaScript (`teams`) and Python (`reminder`) ones committed as components in
//! `example-plugins/prebuilt/`, since their builds fetch npm and PyPI packages
//! (`scripts/build-guest-plugins.sh` rebuilds them; `tests/guest_rebuild.rs` checks that the
//! committed ones do what their sources do).

/// One prebuilt plugin.
#[derive(Debug)]
pub struct Builtin {
    /// The catalog name (`slack`, `sheets`, `filter`, `redact`, `teams`, `reminder`).
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
    Builtin {
        name: "teams",
        wasm: include_bytes!("../../../example-plugins/prebuilt/teams.wasm"),
    },
    Builtin {
        name: "reminder",
        wasm: include_bytes!("../../../example-plugins/prebuilt/reminder.wasm"),
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
