//! The bounds of one plugin call and of what a plugin may hand back: [`Limits`] (per call,
//! configurable), the store's resource caps, and the fixed bounds on the strings a plugin
//! controls (shared with the plugin SDK where they concern its output, see `krog-rules`).

use std::time::Duration;

/// Instance slots in the pooling allocator: the most plugin calls that can run at once.
pub(crate) const POOL_SLOTS: u32 = 512;

/// Per-call limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (roughly one unit per wasm instruction) per call, instantiation included.
    pub fuel: u64,
    /// Wall-clock deadline per call, instantiation included (enforced with epochs).
    pub timeout: Duration,
    /// The most linear memory a call may use: the sum over all the memories of its instance (a
    /// component may define several), not a cap on each.
    pub memory_bytes: usize,
    /// The largest body a plugin may deliver.
    pub max_output_bytes: usize,
    /// Log lines kept per call (the `log` import, then stdout, then stderr).
    pub max_log_lines: usize,
    /// Bytes kept per log line.
    pub max_log_line_bytes: usize,
    /// The largest module accepted at load.
    pub max_module_bytes: usize,
}

impl Default for Limits {
    /// - `fuel`: 200 million. The Slack formatter burns about 0.36 million per event (see
    ///   BENCH_NOTES.md), so a normal plugin has a margin of ~500×; an endless loop burns it in
    ///   about 30 ms on the 2-core reference machine, well before the 100 ms timeout. So
    ///   `out_of_fuel` is the deterministic outcome of a CPU-bound runaway, and `timeout` the
    ///   backstop for time not covered by fuel (host calls, a loaded machine).
    /// - `timeout` 100 ms, `memory_bytes` 64 MiB, `max_output_bytes` 1 MiB, logs 64 lines ×
    ///   1 KiB, `max_module_bytes` 32 MiB.
    fn default() -> Self {
        Limits {
            fuel: 200_000_000,
            timeout: Duration::from_millis(100),
            memory_bytes: 64 << 20,
            max_output_bytes: krog_rules::DEFAULT_MAX_OUTPUT_BYTES,
            max_log_lines: 64,
            max_log_line_bytes: 1024,
            max_module_bytes: 32 << 20,
        }
    }
}

/// Instances, tables and memories one store may create.
pub(crate) const MAX_INSTANCES: usize = 64;
pub(crate) const MAX_TABLES: usize = 64;
pub(crate) const MAX_MEMORIES: usize = 16;
/// Elements one table may grow to.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The longest failure message ([`PluginFailure::message`](crate::PluginFailure::message)) the runtime returns. Messages
/// quote what a plugin returned or printed (its `err(..)` text, its panic message, function
/// names from its backtrace), and callers store them with each delivery.
pub const MAX_ERROR_BYTES: usize = 4 * 1024;

/// The output bounds shared with the plugin SDK, so that its native checks refuse what krog
/// refuses.
pub use krog_rules::{MAX_HEADER_BYTES, MAX_HEADERS, MAX_REASON_BYTES};
/// Longest plugin name [`Runtime::info`](crate::Runtime::info) returns (longer ones are truncated).
pub const MAX_NAME_BYTES: usize = 128;
/// Longest plugin version [`Runtime::info`](crate::Runtime::info) returns (longer ones are truncated).
pub const MAX_VERSION_BYTES: usize = 64;
/// Longest plugin description [`Runtime::info`](crate::Runtime::info) returns (longer ones are truncated).
pub const MAX_DESCRIPTION_BYTES: usize = 4 * 1024;
/// Longest config schema (JSON text) a plugin may declare; over it, [`Runtime::info`](crate::Runtime::info) refuses
/// the module as [`FailureKind::InvalidModule`](crate::FailureKind::InvalidModule).
pub const MAX_CONFIG_SCHEMA_BYTES: usize = 64 * 1024;
