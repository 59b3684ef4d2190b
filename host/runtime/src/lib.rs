//! krog's WebAssembly sandbox: validates, compiles, caches and runs transform plugins.
//!
//! Layers, in the style of Spin and Extism:
//!
//! 1. ONE [`wasmtime::Engine`] per [`Runtime`]: pooling instance allocator, copy-on-write memory
//!    initialisation, fuel metering and epoch interruption, with a background thread ticking the
//!    epoch every [`EPOCH_TICK`].
//! 2. Compiled components and their `InstancePre` (imports resolved and type-checked once),
//!    memoised in memory by the sha256 of the wasm bytes, and the precompiled artifact on disk in
//!    `cache_dir/<sha256>.cwasm` when a cache dir is configured, so a restart does not recompile.
//!    An artifact is native code, so it carries a MAC under [`RuntimeConfig::cache_key`] and one
//!    whose MAC does not verify is recompiled, never loaded.
//!    With a [`RuntimeConfig::compiler`] the compile itself runs in a child process
//!    ([`compile_in_child`]), so the compiler's working memory never lands in this one.
//! 3. A [`wasmtime::Store`] with fuel, an epoch deadline, a cap on all its linear memories
//!    together and bounded captured stdout/stderr — fresh per call ([`Runtime::transform`]), or
//!    kept for up to [`RuntimeConfig::instance_reuse`] calls of one scope (krog: one
//!    subscription) and re-armed with full limits for each ([`Runtime::transform_in`],
//!    [`Runtime::transform_quick`]). Any failure throws the store away, so a trapped instance is
//!    never re-entered, and an instance never serves another scope.
//!
//! WASI 0.2 is linked with no capabilities at all: no preopened directories, no environment, no
//! arguments, no sockets. Clocks and random numbers work.
//!
//! Every string a plugin controls is bounded before it leaves the runtime: failure messages
//! ([`MAX_ERROR_BYTES`]), skip reasons ([`MAX_REASON_BYTES`]), log lines
//! ([`Limits::max_log_line_bytes`]) and what [`Runtime::info`] returns ([`MAX_NAME_BYTES`],
//! [`MAX_VERSION_BYTES`], [`MAX_DESCRIPTION_BYTES`], [`MAX_CONFIG_SCHEMA_BYTES`]). Callers store
//! them, so a plugin must not be able to grow the database by returning megabytes.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
    Store, Trap,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub mod catalog;
pub mod command;
mod pipe;
pub mod project;

use pipe::CappedPipe;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../plugin-sdk/wit",
        world: "transformer",
    });
}

use bindings::krog::plugin::types as wit;

/// How often the background thread advances the engine's epoch. Timeouts are precise to about
/// one tick (they fire between `timeout` and `timeout + EPOCH_TICK`).
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The WASI 0.2 packages linked (with no capabilities): everything `wasmtime_wasi::p2` provides.
const WASI_PROVIDED: &[&str] = &[
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// Instance slots in the pooling allocator: the most plugin calls that can run at once.
const POOL_SLOTS: u32 = 512;

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

/// How to build a [`Runtime`].
#[derive(Clone, Default)]
pub struct RuntimeConfig {
    pub limits: Limits,
    /// Where precompiled artifacts (`<sha256>.cwasm`) are kept across restarts. `None`: memory only.
    pub cache_dir: Option<PathBuf>,
    /// Calls one instance may serve in [`Runtime::transform_in`]; 0 or 1: a fresh instance
    /// for every call.
    pub instance_reuse: usize,
    /// Compiled modules kept in memory (least recently used go first; a module still in use
    /// lives on until its last handle is dropped). 0: [`DEFAULT_CACHED_MODULES`].
    pub max_cached_modules: usize,
    /// A program that compiles modules in a child process: run as `<compiler>
    /// internal-compile-module --memory-bytes <N>` with the wasm on stdin, it does what
    /// [`compile_in_child`] does and answers with the artifact on stdout (the `krog` binary is
    /// such a program). Cranelift allocates tens of megabytes per module, and freed they stay
    /// in this process's heap (BENCHMARKS.md); in a child they go when it
    /// exits. Used with a `cache_dir` (without one, a runtime is for short-lived use).
    /// `None`: compile here.
    pub compiler: Option<PathBuf>,
    /// How long a compile in a child may take before the child is killed and the module
    /// refused. Zero: [`DEFAULT_COMPILE_TIMEOUT`].
    pub compile_timeout: Duration,
    /// The key of the MAC (HMAC-SHA256) that authenticates each artifact in `cache_dir`. The
    /// artifacts are native code krog runs, so one is loaded only if its MAC verifies under
    /// this key; any other is rejected and the module recompiled (counted in
    /// [`RuntimeStats::artifacts_rejected`]). Whoever can write to the cache dir but does not
    /// know the key cannot plant code. Keep it secret and the same on every node that shares
    /// the dir (krog keeps it in its database). `None`: a random key drawn once per process,
    /// so artifacts written by another process are not trusted and are recompiled.
    pub cache_key: Option<[u8; 32]>,
}

impl fmt::Debug for RuntimeConfig {
    /// Everything but the cache key, which must not end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("limits", &self.limits)
            .field("cache_dir", &self.cache_dir)
            .field("instance_reuse", &self.instance_reuse)
            .field("max_cached_modules", &self.max_cached_modules)
            .field("compiler", &self.compiler)
            .field("compile_timeout", &self.compile_timeout)
            .field("cache_key", &self.cache_key.map(|_| "<redacted>"))
            .finish()
    }
}

/// How long a compile in a child process may take by default: the largest module accepted
/// (32 MiB) compiles in far less on the 2-core reference machine, where the 1.3 MB Slack
/// formatter takes 0.4-0.5 s.
pub const DEFAULT_COMPILE_TIMEOUT: Duration = Duration::from_secs(120);

/// The subcommand a [`RuntimeConfig::compiler`] program runs [`compile_in_child`] for.
pub const COMPILE_SUBCOMMAND: &str = "internal-compile-module";

/// How a compiler child says the wasm is not a valid module (the reason is on its stdout).
const INVALID_MODULE_EXIT: i32 = 3;

/// Compiled modules kept in memory by default. Each costs ~2.5 MB resident (BENCHMARKS.md);
/// one evicted comes back from its precompiled artifact on disk, without compiling.
pub const DEFAULT_CACHED_MODULES: usize = 16;

/// Compiled modules by sha256, bounded, least recently used evicted first.
struct ModuleCache {
    max: usize,
    clock: u64,
    entries: HashMap<String, (Module, u64)>,
}

impl ModuleCache {
    fn get(&mut self, sha256: &str) -> Option<Module> {
        self.clock += 1;
        let entry = self.entries.get_mut(sha256)?;
        entry.1 = self.clock;
        Some(entry.0.clone())
    }

    /// Keeps `module` (or the copy another thread stored first) and returns it.
    fn insert(&mut self, module: Module) -> Module {
        if let Some(kept) = self.get(module.sha256()) {
            return kept;
        }
        while self.entries.len() >= self.max {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(sha, _)| sha.clone())
            else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.entries
            .insert(module.sha256().to_owned(), (module.clone(), self.clock));
        module
    }
}

/// The most idle instances kept for reuse, over all scopes.
const MAX_IDLE_INSTANCES: usize = 32;

/// Freed pool slots that keep their memory resident for the next instance (wasmtime's default
/// is 100, up to ~4 MiB each here).
const MAX_UNUSED_WARM_SLOTS: u32 = 8;

/// Counters about compilation and the disk cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuntimeStats {
    /// Components compiled from wasm (the expensive path).
    pub compiled: u64,
    /// Of those, compiled in a child process ([`RuntimeConfig::compiler`]).
    pub compiled_in_child: u64,
    /// Components loaded from a precompiled artifact on disk.
    pub loaded_from_disk: u64,
    /// Artifacts on disk found corrupt, incompatible or not authenticated by the cache key,
    /// and recompiled.
    pub artifacts_rejected: u64,
}

#[derive(Default)]
struct Counters {
    compiled: AtomicU64,
    compiled_in_child: AtomicU64,
    loaded_from_disk: AtomicU64,
    artifacts_rejected: AtomicU64,
}

/// The sandbox. Cheap to clone; all clones share one engine and one module cache.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<State>,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    /// The MAC key of the artifacts in `cache_dir` (see [`RuntimeConfig::cache_key`]).
    cache_key: [u8; 32],
    compiler: Option<PathBuf>,
    compile_timeout: Duration,
    /// Held while a compiler child runs.
    compile_gate: Mutex<()>,
    modules: Mutex<ModuleCache>,
    instance_reuse: usize,
    idle: Idle,
    counters: Counters,
    epoch_ticks: u64,
    _ticker: Ticker,
}

struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// A validated, compiled plugin, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

struct ModuleInner {
    sha256: String,
    size: usize,
    pre: bindings::TransformerPre<State>,
}

impl Module {
    /// Lowercase hex sha256 of the wasm bytes.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// Size of the wasm bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module")
            .field("sha256", &self.inner.sha256)
            .field("size", &self.inner.size)
            .finish()
    }
}

/// One event, as handed to a plugin.
#[derive(Clone, Debug)]
pub struct EventInput {
    pub id: String,
    pub event_type: String,
    pub timestamp: String,
    pub tenant: String,
    /// The booking object as JSON text.
    pub data: String,
}

/// What a plugin says about itself.
#[derive(Clone, Debug, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    /// The JSON Schema of its config (`{}` when the plugin's text is not valid JSON).
    pub config_schema: serde_json::Value,
}

/// What a plugin decided for one event (validated).
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Skip {
        reason: String,
    },
    Deliver {
        content_type: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

/// One line of a call's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `debug`, `info`, `warn`, `error` (the `log` import), `stdout` or `stderr`.
    pub level: String,
    pub message: String,
}

/// A successful call.
#[derive(Debug)]
pub struct Execution {
    pub outcome: Outcome,
    pub logs: Vec<LogLine>,
    /// Wall time of the call, instantiation included.
    pub duration: Duration,
    pub fuel_consumed: u64,
}

/// A failed load or call. Always a plugin's fault, never the host's.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct PluginFailure {
    pub kind: FailureKind,
    /// What went wrong, for humans: at most [`MAX_ERROR_BYTES`].
    pub message: String,
    pub logs: Vec<LogLine>,
    pub duration: Duration,
    pub fuel_consumed: u64,
}

impl PluginFailure {
    fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        PluginFailure {
            kind,
            message: bound_message(message.into()),
            logs: Vec::new(),
            duration: Duration::ZERO,
            fuel_consumed: 0,
        }
    }
}

/// Why a plugin failed: the names are shared with the plugin SDK (`krog-rules`).
pub use krog_rules::FailureKind;

// ---------------------------------------------------------------------------------------------
// Per-store state

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    log: LogSink,
    /// When the current call's time is up: sleeps the plugin asks WASI for end there.
    deadline: tokio::time::Instant,
    /// Bytes the current call has handed the host so far (log messages, stdout and stderr;
    /// its output is added when it returns). Lifting them is host work that fuel does not
    /// meter, which [`Runtime::transform_quick`] must not let onto an async thread.
    moved: usize,
}

/// Instances, tables and memories one store may create.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;
/// Elements one table may grow to.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The store's resource limiter. Unlike wasmtime's `StoreLimits`, whose memory cap applies to
/// each linear memory on its own (so a component with [`MAX_MEMORIES`] memories could use 16
/// times the limit), it caps the sum of all the store's memories at [`Limits::memory_bytes`].
///
/// Growth past a cap traps rather than failing softly: a guest allocator that sees
/// `memory.grow` fail usually aborts anyway, and a trap ends the call at once and is reported
/// as [`FailureKind::MemoryLimit`] (from `memory_refused`, not from the error's text).
struct Limiter {
    memory_bytes: usize,
    /// What the store's memories hold now, all together.
    memory_in_use: usize,
    /// A memory growth was refused or failed: the call's trap is the memory limit's.
    memory_refused: bool,
}

impl Limiter {
    fn new(memory_bytes: usize) -> Self {
        Limiter {
            memory_bytes,
            memory_in_use: 0,
            memory_refused: false,
        }
    }
}

impl ResourceLimiter for Limiter {
    /// Called for each memory as it is created (`current` 0) and each time one grows; memories
    /// never shrink and live as long as the store, so the running sum is exact.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_in_use
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.memory_bytes || maximum.is_some_and(|max| desired > max) {
            self.memory_refused = true;
            wasmtime::bail!(
                "forcing trap when growing memory to {desired} bytes ({total} bytes in all \
                 memories, over the limit of {})",
                self.memory_bytes
            );
        }
        self.memory_in_use = total;
        Ok(true)
    }

    /// A growth the limiter allowed failed after all (or one past the memory type's own
    /// limits). The sum is not corrected: the trap ends the store's use.
    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_refused = true;
        Err(error.context("forcing a memory growth failure to be a trap"))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS || maximum.is_some_and(|max| desired > max) {
            wasmtime::bail!("forcing trap when growing table to {desired} elements");
        }
        Ok(true)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("forcing a table growth failure to be a trap"))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// A WASI clock subscription that is ready at its time or at the call's deadline, whichever
/// comes first. WASI's own waits in real time and is not interrupted by the epoch deadline, so
/// a plugin could otherwise hold a thread as long as it liked with a `sleep`.
struct Until(tokio::time::Instant);

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for Until {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.0).await;
    }
}

/// The monotonic clock plugins see: nanoseconds since the process's first use of it. Ours,
/// rather than WASI's default, so that `subscribe-instant` can tell how far off an instant is.
struct ProcessClock;

impl wasmtime_wasi::HostMonotonicClock for ProcessClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let elapsed = ORIGIN.get_or_init(Instant::now).elapsed();
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Replaces `wasi:clocks/monotonic-clock`'s `subscribe-duration` and `subscribe-instant` with
/// ones bounded by the call's deadline (see [`Until`]).
fn bound_clock_subscriptions(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::DynPollable;
    fn until(state: &mut State, nanos: u64) -> wasmtime::Result<(Resource<DynPollable>,)> {
        let wanted = tokio::time::Instant::now()
            .checked_add(Duration::from_nanos(nanos))
            .unwrap_or(state.deadline);
        let resource = state.table.push(Until(wanted.min(state.deadline)))?;
        Ok((wasmtime_wasi::p2::subscribe(&mut state.table, resource)?,))
    }
    linker.allow_shadowing(true);
    let mut clock = linker.instance("wasi:clocks/monotonic-clock@0.2.12")?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: wasmtime::StoreContextMut<'_, State>, (nanos,): (u64,)| {
            until(store.data_mut(), nanos)
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: wasmtime::StoreContextMut<'_, State>, (when,): (u64,)| {
            let now = wasmtime_wasi::HostMonotonicClock::now(&ProcessClock);
            until(store.data_mut(), when.saturating_sub(now))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit::Host for State {}

impl bindings::TransformerImports for State {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        let level = match level {
            wit::LogLevel::Debug => "debug",
            wit::LogLevel::Info => "info",
            wit::LogLevel::Warn => "warn",
            wit::LogLevel::Error => "error",
        };
        self.moved = self.moved.saturating_add(message.len());
        self.log.push(level, &message);
    }
}

/// Bounded log: at most `max_lines` lines of at most `max_line_bytes` bytes; the rest is counted
/// and reported by one final `… N lines dropped` line.
struct LogSink {
    lines: Vec<LogLine>,
    dropped: usize,
    max_lines: usize,
    max_line_bytes: usize,
}

impl LogSink {
    fn new(limits: &Limits) -> Self {
        LogSink {
            lines: Vec::new(),
            dropped: 0,
            max_lines: limits.max_log_lines,
            max_line_bytes: limits.max_log_line_bytes,
        }
    }

    fn push(&mut self, level: &str, message: &str) {
        if self.lines.len() >= self.max_lines {
            self.dropped += 1;
            return;
        }
        self.lines.push(LogLine {
            level: level.to_string(),
            message: truncate(message, self.max_line_bytes),
        });
    }

    /// Split captured output into lines and log them.
    fn push_output(&mut self, level: &str, bytes: &[u8], discarded: usize) {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            self.push(level, line);
        }
        if discarded > 0 {
            self.push(
                level,
                &format!("… {discarded} more bytes of {level} discarded"),
            );
        }
    }

    fn finish(mut self) -> Vec<LogLine> {
        if self.dropped > 0 {
            self.lines.push(LogLine {
                level: "warn".to_string(),
                message: format!("… {} lines dropped", self.dropped),
            });
        }
        self.lines
    }
}

/// Cut `s` to at most `max` bytes on a char boundary, marking the cut with `…`.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let end = floor_char_boundary(s, max.saturating_sub('…'.len_utf8()));
    format!("{}…", &s[..end])
}

/// The largest char boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut end = at.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The longest failure message ([`PluginFailure::message`]) the runtime returns. Messages
/// quote what a plugin returned or printed (its `err(..)` text, its panic message, function
/// names from its backtrace), and callers store them with each delivery.
pub const MAX_ERROR_BYTES: usize = 4 * 1024;

/// `message` cut to [`MAX_ERROR_BYTES`] on a char boundary, ending with how much was cut.
fn bound_message(message: String) -> String {
    cut_with_count(message, MAX_ERROR_BYTES)
}

/// `s` cut to at most `max` bytes on a char boundary, ending with a marker that says how many
/// bytes were cut; `s` itself when it fits.
fn cut_with_count(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    // The marker's length with the most digits the count can have, so that the result fits.
    let widest = format!("… [{} more bytes cut]", s.len()).len();
    let end = floor_char_boundary(&s, max.saturating_sub(widest));
    let marker = format!("… [{} more bytes cut]", s.len() - end);
    s.truncate(end);
    s.push_str(&marker);
    s
}

// ---------------------------------------------------------------------------------------------
// The runtime

impl Runtime {
    /// Build the engine, the linker and the epoch thread.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Runtime> {
        let limits = config.limits;
        anyhow::ensure!(
            limits.timeout > Duration::ZERO,
            "the plugin timeout must be positive"
        );
        anyhow::ensure!(
            limits.memory_bytes > 0,
            "the plugin memory limit must be positive"
        );
        let engine = build_engine(&limits)?;

        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| anyhow::anyhow!("linking WASI: {e:?}"))?;
        bound_clock_subscriptions(&mut linker)
            .map_err(|e| anyhow::anyhow!("bounding WASI clock waits: {e:?}"))?;
        bindings::Transformer::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("linking the krog world: {e:?}"))?;

        let cache_dir = match config.cache_dir {
            Some(dir) => {
                create_private_dir(&dir).map_err(|e| {
                    anyhow::anyhow!("creating the module cache dir {}: {e}", dir.display())
                })?;
                match check_private_dir(&dir) {
                    Ok(()) => Some(dir),
                    Err(why) => {
                        tracing::warn!(dir = %dir.display(), "not using the module cache dir: {why}");
                        None
                    }
                }
            }
            None => None,
        };

        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let engine = engine.weak();
            std::thread::Builder::new()
                .name("krog-wasm-epoch".to_string())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(EPOCH_TICK);
                        match engine.upgrade() {
                            Some(engine) => engine.increment_epoch(),
                            None => break,
                        }
                    }
                })?
        };

        let tick = EPOCH_TICK.as_nanos();
        let epoch_ticks =
            u64::try_from(limits.timeout.as_nanos().div_ceil(tick) + 1).unwrap_or(u64::MAX);

        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                limits,
                cache_dir,
                cache_key: config.cache_key.unwrap_or_else(process_cache_key),
                compiler: config.compiler,
                compile_timeout: match config.compile_timeout {
                    Duration::ZERO => DEFAULT_COMPILE_TIMEOUT,
                    timeout => timeout,
                },
                compile_gate: Mutex::new(()),
                modules: Mutex::new(ModuleCache {
                    max: match config.max_cached_modules {
                        0 => DEFAULT_CACHED_MODULES,
                        n => n,
                    },
                    clock: 0,
                    entries: HashMap::new(),
                }),
                instance_reuse: config.instance_reuse,
                idle: Idle {
                    max: MAX_IDLE_INSTANCES,
                    map: Mutex::new((0, HashMap::new())),
                    slow: Mutex::new(Default::default()),
                },
                counters: Counters::default(),
                epoch_ticks,
                _ticker: Ticker {
                    stop,
                    thread: Some(thread),
                },
            }),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Compilation and disk-cache counters.
    pub fn stats(&self) -> RuntimeStats {
        let c = &self.inner.counters;
        RuntimeStats {
            compiled: c.compiled.load(Ordering::Relaxed),
            compiled_in_child: c.compiled_in_child.load(Ordering::Relaxed),
            loaded_from_disk: c.loaded_from_disk.load(Ordering::Relaxed),
            artifacts_rejected: c.artifacts_rejected.load(Ordering::Relaxed),
        }
    }

    /// Validate + compile (or load the cached artifact); memoised by sha256.
    pub fn load(&self, wasm: &[u8]) -> Result<Module, PluginFailure> {
        let limits = &self.inner.limits;
        if wasm.len() > limits.max_module_bytes {
            return Err(PluginFailure::new(
                FailureKind::ModuleTooLarge,
                format!(
                    "the module is {} bytes; the limit is {} bytes",
                    wasm.len(),
                    limits.max_module_bytes
                ),
            ));
        }
        let sha256 = hex::encode(Sha256::digest(wasm));
        if let Some(module) = self.get(&sha256) {
            return Ok(module);
        }
        check_header(wasm)?;
        let component = self.compile(wasm, &sha256)?;
        let pre = self.validate(&component)?;
        let module = Module {
            inner: Arc::new(ModuleInner {
                sha256: sha256.clone(),
                size: wasm.len(),
                pre,
            }),
        };
        let mut modules = self.inner.modules.lock().unwrap_or_else(|e| e.into_inner());
        Ok(modules.insert(module))
    }

    /// A module already loaded, by lowercase hex sha256.
    pub fn get(&self, sha256: &str) -> Option<Module> {
        let mut modules = self.inner.modules.lock().unwrap_or_else(|e| e.into_inner());
        modules.get(sha256)
    }

    /// How many compiled modules the cache holds now.
    pub fn cached_modules(&self) -> usize {
        let modules = self.inner.modules.lock().unwrap_or_else(|e| e.into_inner());
        modules.entries.len()
    }

    /// Compile `wasm`, going through the disk cache when there is one.
    fn compile(&self, wasm: &[u8], sha256: &str) -> Result<Component, PluginFailure> {
        let Some(dir) = &self.inner.cache_dir else {
            return self.compile_here(wasm).map(|(_, component)| component);
        };
        let path = dir.join(format!("{sha256}.cwasm"));
        if let Ok(bytes) = std::fs::read(&path) {
            match self.deserialize(sha256, &bytes) {
                Ok(component) => {
                    self.inner
                        .counters
                        .loaded_from_disk
                        .fetch_add(1, Ordering::Relaxed);
                    return Ok(component);
                }
                Err(why) => {
                    self.inner
                        .counters
                        .artifacts_rejected
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(path = %path.display(), "recompiling a cached module: {why}");
                }
            }
        }
        let (artifact, component) = match self.compile_by_child(wasm)? {
            Some(compiled) => compiled,
            None => self.compile_here(wasm)?,
        };
        let mac = artifact_mac(&self.inner.cache_key, sha256, &artifact);
        if let Err(e) = write_artifact(&path, &artifact, &mac) {
            tracing::warn!(path = %path.display(), "could not cache a compiled module: {e}");
        }
        Ok(component)
    }

    /// The artifact and component from the compiler child, if there is one and it did its
    /// work; `None` leaves the compile to this process.
    fn compile_by_child(&self, wasm: &[u8]) -> Result<Option<(Vec<u8>, Component)>, PluginFailure> {
        let Some(compiler) = &self.inner.compiler else {
            return Ok(None);
        };
        let artifact = match self.compile_in_child_process(compiler, wasm) {
            Ok(artifact) => artifact,
            Err(ChildCompile::Refused(failure)) => return Err(failure),
            Err(ChildCompile::Unavailable(why)) => {
                tracing::warn!(compiler = %compiler.display(), "compiling in this process: {why}");
                return Ok(None);
            }
        };
        match self.deserialize_trusted(&artifact) {
            Ok(component) => {
                let counters = &self.inner.counters;
                counters.compiled.fetch_add(1, Ordering::Relaxed);
                counters.compiled_in_child.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("krog_module_compiles_total", "place" => "child_process")
                    .increment(1);
                Ok(Some((artifact, component)))
            }
            Err(why) => {
                tracing::warn!(
                    "the compiler's artifact does not load, compiling in this process: {why}"
                );
                Ok(None)
            }
        }
    }

    /// Compiles `wasm` in this process: the artifact (for the disk cache) and the component.
    fn compile_here(&self, wasm: &[u8]) -> Result<(Vec<u8>, Component), PluginFailure> {
        self.inner.counters.compiled.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("krog_module_compiles_total", "place" => "in_process").increment(1);
        let artifact = self
            .inner
            .engine
            .precompile_component(wasm)
            .map_err(invalid_module);
        release_compiler_memory();
        let artifact = artifact?;
        let component = self
            .deserialize_trusted(&artifact)
            .map_err(|e| PluginFailure::new(FailureKind::InvalidModule, e))?;
        Ok((artifact, component))
    }

    /// Runs the compiler program on `wasm` and returns the artifact it wrote to its stdout.
    /// One child at a time: each already compiles on every core.
    fn compile_in_child_process(
        &self,
        compiler: &Path,
        wasm: &[u8],
    ) -> Result<Vec<u8>, ChildCompile> {
        use std::io::{Read, Write};
        use std::process::{Command, Stdio};
        let _gate = self
            .inner
            .compile_gate
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let mut child = Command::new(compiler)
            .arg(COMPILE_SUBCOMMAND)
            .arg("--memory-bytes")
            .arg(self.inner.limits.memory_bytes.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ChildCompile::Unavailable(format!("cannot start the compiler: {e}")))?;
        // If memory runs out while it compiles, the kernel should end the child, not krog.
        #[cfg(target_os = "linux")]
        let _ = std::fs::write(format!("/proc/{}/oom_score_adj", child.id()), "1000");
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let timeout = self.inner.compile_timeout;
        // Fed and drained from threads: a child that dies early, or writes much, must not
        // leave this one blocked on a full pipe.
        let (status, stdout, stderr) = std::thread::scope(|scope| {
            if let Some(mut stdin) = stdin {
                scope.spawn(move || {
                    let _ = stdin.write_all(wasm);
                });
            }
            let drain = |pipe: Option<Box<dyn Read + Send>>| {
                scope.spawn(move || {
                    let mut bytes = Vec::new();
                    if let Some(mut pipe) = pipe {
                        let _ = pipe.read_to_end(&mut bytes);
                    }
                    bytes
                })
            };
            let stdout = drain(stdout.map(|p| Box::new(p) as _));
            let stderr = drain(stderr.map(|p| Box::new(p) as _));
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Ok(status),
                    Ok(None) if started.elapsed() < timeout => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Ok(None) => break Err(None),
                    Err(e) => break Err(Some(e)),
                }
            };
            if status.is_err() {
                let _ = child.kill();
                let _ = child.wait();
            }
            (
                status,
                stdout.join().unwrap_or_default(),
                stderr.join().unwrap_or_default(),
            )
        });
        let status = match status {
            Ok(status) => status,
            // A compile that runs away is stopped, like a plugin that does.
            Err(None) => {
                return Err(ChildCompile::Refused(PluginFailure::new(
                    FailureKind::InvalidModule,
                    format!(
                        "compiling the module took longer than {} s; the compiler was stopped",
                        timeout.as_secs_f64()
                    ),
                )));
            }
            Err(Some(e)) => {
                return Err(ChildCompile::Unavailable(format!(
                    "waiting for the compiler: {e}"
                )));
            }
        };
        let stderr = String::from_utf8_lossy(&stderr);
        match status.code() {
            Some(0) => {
                tracing::info!(
                    ms = started.elapsed().as_millis() as u64,
                    bytes = stdout.len(),
                    "compiled a module in a child process"
                );
                Ok(stdout)
            }
            Some(INVALID_MODULE_EXIT) => Err(ChildCompile::Refused(PluginFailure::new(
                FailureKind::InvalidModule,
                String::from_utf8_lossy(&stdout).trim().to_string(),
            ))),
            // Our own failure (an engine it could not build, a mismatched program): this
            // process can still compile. What the child said stays in the log, not the answer.
            Some(code) => Err(ChildCompile::Unavailable(format!(
                "the compiler exited with status {code}: {}",
                stderr.trim()
            ))),
            None => {
                // Killed (out of memory, a crash in the compiler on this input): compiling the
                // same wasm here could take the service down the same way.
                tracing::warn!(stderr = %stderr.trim(), "the module's compiler {}", describe_exit(status));
                Err(ChildCompile::Refused(PluginFailure::new(
                    FailureKind::InvalidModule,
                    format!(
                        "compiling the module failed: the compiler {}",
                        describe_exit(status)
                    ),
                )))
            }
        }
    }

    /// Check the MAC trailer of the artifact file of the wasm with this `sha256`, then
    /// deserialize it.
    fn deserialize(&self, sha256: &str, file: &[u8]) -> Result<Component, String> {
        let Some(split) = file.len().checked_sub(ARTIFACT_MAC_BYTES) else {
            return Err("the artifact is truncated".to_string());
        };
        let (artifact, trailer) = file.split_at(split);
        artifact_hmac(&self.inner.cache_key, sha256, artifact)
            .verify_slice(trailer)
            .map_err(|_| {
                "the artifact's MAC does not verify (corrupt, or written under another cache key)"
                    .to_string()
            })?;
        self.deserialize_trusted(artifact)
    }

    #[allow(unsafe_code)]
    fn deserialize_trusted(&self, artifact: &[u8]) -> Result<Component, String> {
        // SAFETY: `Component::deserialize` runs native code from the artifact, so it must come
        // from `Engine::precompile_component` of a compatible engine. Every artifact we pass here
        // is one we produced ourselves: just now in memory, in our compiler child (read from
        // its stdout), or read back from our own private cache directory, where its HMAC
        // trailer, under a key only we (and the nodes we share the dir with) know and over the
        // sha256 it is filed under, verified: a torn, corrupted, planted or swapped file is
        // rejected before this call. Engine/version/config mismatches are detected by wasmtime
        // itself and reported as errors.
        unsafe { Component::deserialize(&self.inner.engine, artifact) }
            .map_err(|e| format!("{e:?}"))
    }

    /// Check the component implements the `transformer` world with nothing but WASI 0.2 + `log`.
    fn validate(
        &self,
        component: &Component,
    ) -> Result<bindings::TransformerPre<State>, PluginFailure> {
        let engine = &self.inner.engine;
        let ty = component.component_type();
        for (name, _) in ty.imports(engine) {
            let allowed = name == "log"
                || name == "krog:plugin/types@0.1.0"
                || (WASI_PROVIDED.iter().any(|p| name.starts_with(p)) && name.contains("@0.2."));
            if !allowed {
                return Err(PluginFailure::new(
                    FailureKind::InvalidModule,
                    format!(
                        "the component imports `{name}`, which krog does not provide; a plugin \
                         may import only the world's `log` function and WASI 0.2 interfaces"
                    ),
                ));
            }
        }
        let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
        for needed in ["info", "transform"] {
            if !exports.contains(&needed) {
                let mut found = exports.clone();
                found.sort_unstable();
                return Err(PluginFailure::new(
                    FailureKind::InvalidModule,
                    format!(
                        "the component does not export `{needed}`, so it does not implement \
                         krog's `krog:plugin/transformer` world (it exports: {}); build it against \
                         plugin-sdk/wit",
                        if found.is_empty() {
                            "nothing".to_string()
                        } else {
                            found.join(", ")
                        }
                    ),
                ));
            }
        }
        let pre = self
            .inner
            .linker
            .instantiate_pre(component)
            .map_err(|e| wrong_world(&e))?;
        bindings::TransformerPre::new(pre).map_err(|e| wrong_world(&e))
    }

    /// Ask the plugin about itself (runs `info` in a fresh sandbox with the usual limits).
    /// The name, version and description are cut to [`MAX_NAME_BYTES`], [`MAX_VERSION_BYTES`]
    /// and [`MAX_DESCRIPTION_BYTES`]; a config schema over [`MAX_CONFIG_SCHEMA_BYTES`] makes the
    /// module invalid ([`FailureKind::InvalidModule`]), since a cut schema would be a
    /// different one.
    pub fn info(&self, module: &Module) -> Result<PluginInfo, PluginFailure> {
        let (info, ..) = self.call(module, |bindings, store| {
            bindings.call_info(store).map(Ok::<_, String>)
        })?;
        if info.config_schema.len() > MAX_CONFIG_SCHEMA_BYTES {
            return Err(PluginFailure::new(
                FailureKind::InvalidModule,
                format!(
                    "the plugin's config schema is {} bytes; the limit is \
                     {MAX_CONFIG_SCHEMA_BYTES} bytes",
                    info.config_schema.len()
                ),
            ));
        }
        let config_schema = serde_json::from_str(&info.config_schema).unwrap_or_else(|_| json!({}));
        Ok(PluginInfo {
            name: truncate(&info.name, MAX_NAME_BYTES),
            version: truncate(&info.version, MAX_VERSION_BYTES),
            description: truncate(&info.description, MAX_DESCRIPTION_BYTES),
            config_schema,
        })
    }

    /// Run the plugin's `transform` on one event in a fresh instance, and validate its output.
    pub fn transform(
        &self,
        module: &Module,
        event: &EventInput,
        config: &str,
    ) -> Result<Execution, PluginFailure> {
        let wit_event = wit_event(event);
        let (outcome, logs, duration, fuel_consumed) = self.call(module, |bindings, store| {
            bindings.call_transform(store, &wit_event, config)
        })?;
        executed(
            check_outcome(outcome, &self.inner.limits),
            logs,
            duration,
            fuel_consumed,
        )
    }

    /// Instantiate `module` in a fresh store and run `f`, classifying every failure.
    #[allow(clippy::type_complexity)]
    fn call<R>(
        &self,
        module: &Module,
        f: impl FnOnce(&bindings::Transformer, &mut Store<State>) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<(R, Vec<LogLine>, Duration, u64), PluginFailure> {
        let start = Instant::now();
        let (mut store, stdout, stderr) = self.new_store();
        let result = module
            .inner
            .pre
            .instantiate(&mut store)
            .and_then(|bindings| f(&bindings, &mut store));
        self.conclude(result, &mut store, &stdout, &stderr, start)
    }

    /// A store with this runtime's limits, WASI without capabilities, and captured output.
    fn new_store(&self) -> (Store<State>, CappedPipe, CappedPipe) {
        let limits = &self.inner.limits;
        let stdout = CappedPipe::new(limits.max_log_lines * limits.max_log_line_bytes);
        let stderr = CappedPipe::new(limits.max_log_lines * limits.max_log_line_bytes);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .monotonic_clock(ProcessClock)
            .build();
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(limits.memory_bytes),
            log: LogSink::new(limits),
            deadline: tokio::time::Instant::now() + limits.timeout,
            moved: 0,
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        self.arm(&mut store);
        (store, stdout, stderr)
    }

    /// Gives a store the full fuel and a fresh deadline for the next call.
    fn arm(&self, store: &mut Store<State>) {
        store.data_mut().deadline = tokio::time::Instant::now() + self.inner.limits.timeout;
        store.data_mut().moved = 0;
        // Fuel and epochs are enabled on the engine, so this cannot fail.
        let _ = store.set_fuel(self.inner.limits.fuel);
        store.set_epoch_deadline(self.inner.epoch_ticks);
        store.epoch_deadline_trap();
    }

    /// Collects a call's logs and fuel from `store` (leaving it ready for another call) and
    /// classifies its result.
    #[allow(clippy::type_complexity)]
    fn conclude<R>(
        &self,
        result: wasmtime::Result<Result<R, String>>,
        store: &mut Store<State>,
        stdout: &CappedPipe,
        stderr: &CappedPipe,
        start: Instant,
    ) -> Result<(R, Vec<LogLine>, Duration, u64), PluginFailure> {
        let limits = &self.inner.limits;
        let fuel_consumed = limits.fuel - store.get_fuel().unwrap_or(0);
        let mut log = std::mem::replace(&mut store.data_mut().log, LogSink::new(limits));
        let (out, out_discarded) = stdout.take();
        let (err, err_discarded) = stderr.take();
        let state = store.data_mut();
        state.moved = [out.len(), out_discarded, err.len(), err_discarded]
            .into_iter()
            .fold(state.moved, usize::saturating_add);
        let memory_refused = state.limiter.memory_refused;
        log.push_output("stdout", &out, out_discarded);
        log.push_output("stderr", &err, err_discarded);
        let logs = log.finish();
        let duration = start.elapsed();

        let failure = |kind, message| PluginFailure {
            kind,
            message: bound_message(message),
            logs: logs.clone(),
            duration,
            fuel_consumed,
        };
        match result {
            // Finished, but late: a wait the deadline cut short (see `Until`) lets the plugin
            // return just after its time is up, before the next epoch check.
            Ok(_) if duration > limits.timeout => Err(failure(
                FailureKind::Timeout,
                format!(
                    "the plugin ran past its {} ms time limit",
                    limits.timeout.as_millis()
                ),
            )),
            Ok(Ok(value)) => Ok((value, logs, duration, fuel_consumed)),
            Ok(Err(message)) => Err(failure(FailureKind::PluginError, message)),
            Err(error) => {
                let (kind, message) = classify(&error, limits, &err, duration, memory_refused);
                Err(failure(kind, message))
            }
        }
    }

    /// Like [`Runtime::transform`], but may run in an instance that already transformed
    /// earlier events of the same `scope` (krog passes the subscription id) and module, up to
    /// [`RuntimeConfig::instance_reuse`] calls. An instance is thrown away after any failure
    /// and never crosses scopes, so what a plugin leaves in its memory can only be seen by
    /// later events of the same subscription — which is why plugins must not keep state
    /// between calls.
    pub fn transform_in(
        &self,
        scope: &str,
        module: &Module,
        event: &EventInput,
        config: &str,
    ) -> Result<Execution, PluginFailure> {
        let reuse = self.inner.instance_reuse;
        if reuse <= 1 {
            return self.transform(module, event, config);
        }
        let start = Instant::now();
        let key = (scope.to_owned(), module.inner.sha256.clone());
        let warm = match self.inner.idle.take(&key, |_| true) {
            Some(warm) => warm,
            None => {
                let (mut store, stdout, stderr) = self.new_store();
                let bindings = match module.inner.pre.instantiate(&mut store) {
                    Ok(bindings) => bindings,
                    Err(error) => {
                        let result: wasmtime::Result<Result<(), String>> = Err(error);
                        let failure = self
                            .conclude(result, &mut store, &stdout, &stderr, start)
                            .expect_err("an error stays an error");
                        return Err(failure);
                    }
                };
                Warm {
                    store,
                    bindings,
                    stdout,
                    stderr,
                    calls: 0,
                    stayed_quick: true,
                }
            }
        };
        self.run_warm(key, warm, event, config, start).0
    }

    /// [`Runtime::transform_in`], but only when it is sure to be quick: when an idle instance
    /// of this scope has already served [`QUICK_STREAK`] calls, each within the quick bounds:
    /// less than [`QUICK_FUEL`], at most [`QUICK_BYTES`] handed to the host (log messages,
    /// stdout and stderr, its output), at most [`QUICK_TIME`] of its thread's CPU time. Fuel
    /// alone does not do: lifting a 20 MiB log line costs the guest little fuel and the host
    /// tens of milliseconds. Then the caller may run it on a thread that must not block (krog
    /// runs it on its async workers, saving two thread switches per event); otherwise `None`,
    /// and the call belongs on a thread that may block for up to the timeout.
    ///
    /// A scope whose quick call went past any of those bounds, ran out of fuel or time, or made
    /// a WASI call that blocks (which panics on an async worker and is caught here), never runs
    /// quick again: a plugin that turns hostile can hold the caller's thread once.
    pub fn transform_quick(
        &self,
        scope: &str,
        module: &Module,
        event: &EventInput,
        config: &str,
    ) -> Option<Result<Execution, PluginFailure>> {
        if self.inner.instance_reuse <= 1 {
            return None;
        }
        let start = Instant::now();
        let key = (scope.to_owned(), module.inner.sha256.clone());
        if self.inner.idle.is_slow(&key) {
            return None;
        }
        let warm = self
            .inner
            .idle
            .take(&key, |warm| warm.calls >= QUICK_STREAK && warm.stayed_quick)?;
        let run =
            std::panic::AssertUnwindSafe(|| self.run_warm(key.clone(), warm, event, config, start));
        match std::panic::catch_unwind(run) {
            Ok((result, stayed_quick)) => {
                let ran_away = matches!(
                    &result,
                    Err(failure) if matches!(failure.kind, FailureKind::Timeout | FailureKind::OutOfFuel)
                );
                if ran_away || !stayed_quick {
                    self.inner.idle.mark_slow(key);
                }
                Some(result)
            }
            Err(_) => {
                // The instance unwound with the panic and is gone; the caller runs the event
                // again where blocking is allowed.
                self.inner.idle.mark_slow(key);
                None
            }
        }
    }

    /// Runs one transform in `warm`, and keeps it for the next call if all went well. Also
    /// says whether the call stayed within the quick bounds (see [`Runtime::transform_quick`]).
    fn run_warm(
        &self,
        key: Key,
        mut warm: Warm,
        event: &EventInput,
        config: &str,
        start: Instant,
    ) -> (Result<Execution, PluginFailure>, bool) {
        self.arm(&mut warm.store);
        let began = ThreadTime::now();
        let wit_event = wit_event(event);
        let result = warm
            .bindings
            .call_transform(&mut warm.store, &wit_event, config);
        let returned = match &result {
            Ok(Ok(outcome)) => outcome_bytes(outcome),
            Ok(Err(message)) => message.len(),
            Err(_) => 0,
        };
        let concluded = self.conclude(result, &mut warm.store, &warm.stdout, &warm.stderr, start);
        let moved = warm.store.data().moved.saturating_add(returned);
        let checked = concluded.map(|(outcome, logs, duration, fuel_consumed)| {
            (
                check_outcome(outcome, &self.inner.limits),
                logs,
                duration,
                fuel_consumed,
            )
        });
        let fuel_consumed = match &checked {
            Ok((.., fuel_consumed)) => *fuel_consumed,
            Err(failure) => failure.fuel_consumed,
        };
        let stayed_quick =
            fuel_consumed < QUICK_FUEL && moved <= QUICK_BYTES && began.elapsed() <= QUICK_TIME;
        let (checked, logs, duration, fuel_consumed) = match checked {
            Ok(checked) => checked,
            Err(failure) => return (Err(failure), stayed_quick),
        };
        warm.calls += 1;
        warm.stayed_quick &= stayed_quick;
        if checked.is_ok() && warm.calls < self.inner.instance_reuse {
            self.inner.idle.put(key, warm);
        }
        (
            executed(checked, logs, duration, fuel_consumed),
            stayed_quick,
        )
    }
}

/// Calls an instance must have served before [`Runtime::transform_quick`] uses it.
pub const QUICK_STREAK: usize = 8;

/// The fuel one call of an instance must have stayed under for [`Runtime::transform_quick`] to
/// use it: about a millisecond of CPU (the Slack formatter burns ~0.16 million).
pub const QUICK_FUEL: u64 = 5_000_000;

/// The most bytes one call of an instance may have handed the host (log messages, stdout and
/// stderr, its output body, headers, content type, skip reason or error) for
/// [`Runtime::transform_quick`] to use it. The host copies and checks each of them, work that
/// fuel does not meter; the Slack formatter hands over about 2 KB.
pub const QUICK_BYTES: usize = 64 * 1024;

/// The most time one call of an instance may have taken (instantiation aside) for
/// [`Runtime::transform_quick`] to use it: the backstop for host work that neither fuel nor
/// [`QUICK_BYTES`] sees. It is the CPU time of the calling thread (wall time where there is no
/// such clock), which is the work the call put on it: wall time also counts the time the
/// thread was preempted, and on a busy 2-core machine the rare call of a plugin that takes
/// 10 µs took 10-35 ms of it, which would disqualify quick instances, and mark quick scopes
/// slow, at random (CPU time stayed under 0.5 ms).
pub const QUICK_TIME: Duration = Duration::from_millis(5);

/// A point in the CPU time of the current thread, for [`QUICK_TIME`].
struct ThreadTime(Duration);

impl ThreadTime {
    fn now() -> Self {
        ThreadTime(thread_cpu_time())
    }

    /// The thread's CPU time since `self` (taken on the same thread).
    fn elapsed(&self) -> Duration {
        thread_cpu_time().saturating_sub(self.0)
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given, which outlives the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return wall_time();
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    wall_time()
}

/// Time since the first call, the fallback where a thread's CPU time cannot be read.
fn wall_time() -> Duration {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed()
}

/// The bytes of everything an outcome hands the host.
fn outcome_bytes(outcome: &wit::Outcome) -> usize {
    match outcome {
        wit::Outcome::Skip(reason) => reason.len(),
        wit::Outcome::Deliver(request) => request
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .fold(
                request
                    .content_type
                    .len()
                    .saturating_add(request.body.len()),
                usize::saturating_add,
            ),
    }
}

/// A call's checked outcome with what it cost, as an [`Execution`] or a [`PluginFailure`].
fn executed(
    checked: Result<Outcome, (FailureKind, String)>,
    logs: Vec<LogLine>,
    duration: Duration,
    fuel_consumed: u64,
) -> Result<Execution, PluginFailure> {
    match checked {
        Ok(outcome) => Ok(Execution {
            outcome,
            logs,
            duration,
            fuel_consumed,
        }),
        Err((kind, message)) => Err(PluginFailure {
            kind,
            message: bound_message(message),
            logs,
            duration,
            fuel_consumed,
        }),
    }
}

/// The wit form of an event (the strings are copied into the guest anyway).
fn wit_event(event: &EventInput) -> wit::Event {
    wit::Event {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        timestamp: event.timestamp.clone(),
        tenant: event.tenant.clone(),
        data: event.data.clone(),
    }
}

/// An instance kept for the next event of its scope.
struct Warm {
    store: Store<State>,
    bindings: bindings::Transformer,
    stdout: CappedPipe,
    stderr: CappedPipe,
    calls: usize,
    /// Every one of its calls so far stayed within the quick bounds (see
    /// [`Runtime::transform_quick`]).
    stayed_quick: bool,
}

/// Idle instances by (scope, module sha256), bounded in total so that memory stays bounded
/// whatever the number of subscriptions: when full, the instance being returned is dropped.
/// Which instances may serve each other's events: (scope, module sha256).
type Key = (String, String);

struct Idle {
    max: usize,
    /// The number of idle instances, and the instances by key.
    map: Mutex<(usize, HashMap<Key, Vec<Warm>>)>,
    /// Scopes that must not run quick (see [`Runtime::transform_quick`]).
    slow: Mutex<std::collections::HashSet<Key>>,
}

impl Idle {
    fn is_slow(&self, key: &Key) -> bool {
        self.slow
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    fn mark_slow(&self, key: Key) {
        self.slow
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
    }

    /// An idle instance of `key` that satisfies `suits`.
    fn take(&self, key: &Key, suits: impl Fn(&Warm) -> bool) -> Option<Warm> {
        let mut guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (count, map) = &mut *guard;
        let list = map.get_mut(key)?;
        let at = list.iter().rposition(suits)?;
        let warm = Some(list.swap_remove(at));
        if list.is_empty() {
            map.remove(key);
        }
        if warm.is_some() {
            *count -= 1;
        }
        warm
    }

    fn put(&self, key: Key, warm: Warm) {
        let mut guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (count, map) = &mut *guard;
        if *count >= self.max {
            drop(guard);
            return;
        }
        *count += 1;
        map.entry(key).or_default().push(warm);
    }
}

impl Runtime {
    /// Where the time of one `transform` goes: (new store, instantiate, call, drop). For the
    /// benchmark; not part of the API.
    #[doc(hidden)]
    pub fn phase_timings(
        &self,
        module: &Module,
        event: &EventInput,
        config: &str,
    ) -> [Duration; 4] {
        let t0 = Instant::now();
        let (mut store, _stdout, _stderr) = self.new_store();
        let t1 = Instant::now();
        let bindings = module
            .inner
            .pre
            .instantiate(&mut store)
            .expect("instantiate");
        let t2 = Instant::now();
        let wit_event = wit_event(event);
        let outcome = bindings.call_transform(&mut store, &wit_event, config);
        assert!(matches!(outcome, Ok(Ok(_))), "the benchmark call fails");
        let t3 = Instant::now();
        drop(store);
        let t4 = Instant::now();
        [t1 - t0, t2 - t1, t3 - t2, t4 - t3]
    }

    /// The linear memory (all the instance's memories together) a fresh instance of `module`
    /// holds after one `transform`: what an instance costs. For the benchmark; not part of the
    /// API.
    #[doc(hidden)]
    pub fn memory_after_call(&self, module: &Module, event: &EventInput, config: &str) -> usize {
        let (mut store, _stdout, _stderr) = self.new_store();
        let bindings = module
            .inner
            .pre
            .instantiate(&mut store)
            .expect("instantiate");
        let outcome = bindings.call_transform(&mut store, &wit_event(event), config);
        assert!(matches!(outcome, Ok(Ok(_))), "the benchmark call fails");
        store.data().limiter.memory_in_use
    }
}

fn build_engine(limits: &Limits) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .wasm_component_model(true)
        .parallel_compilation(true);

    // Round the memory limit up to whole wasm pages; the store limiter enforces the exact value.
    let page = 64 * 1024;
    let max_memory = limits.memory_bytes.div_ceil(page) * page;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_SLOTS)
        .total_core_instances(POOL_SLOTS * 4)
        .total_memories(POOL_SLOTS * 2)
        .total_tables(POOL_SLOTS * 4)
        .max_memory_size(max_memory)
        // Reset a used slot by scanning for resident pages and memset-ing them (Linux ≥ 6.7),
        // keeping them mapped, rather than madvise + page faults on the next use.
        // A used slot keeps its resident pages for reuse; bound how many such warm slots
        // exist so that resident memory stays bounded however many instances come and go.
        .max_unused_warm_slots(MAX_UNUSED_WARM_SLOTS)
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            tracing::warn!("pooling allocator unavailable ({e}); using on-demand allocation");
            Engine::new(&config).map_err(|e| anyhow::anyhow!("creating the wasm engine: {e:?}"))
        }
    }
}

/// Hands the compiler's freed working memory back to the system. Compiling a module allocates
/// tens of megabytes that glibc keeps in its arenas once freed: after the four built-in modules
/// an idle krog held 11–19 MB more than it used (BENCHMARKS.md). Only after a
/// real compile: loading an artifact from disk allocates little.
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
#[allow(unsafe_code)]
fn release_compiler_memory() {
    // SAFETY: malloc_trim only returns free pages of the allocator's arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The same for mimalloc (when krog is built with it). The compiler's worker threads (rayon's
/// pool) free each other's blocks, and mimalloc takes such frees back, and returns their pages,
/// only when the owning thread next allocates or collects, which an idle compiler thread never
/// does: collecting on every one of them took an idle krog from 69–72 MB to 64–67 MB (59 MB with
/// a single compiler thread, which starts 1.6 s slower; BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[allow(unsafe_code)]
fn release_compiler_memory() {
    // SAFETY: mi_collect only frees what the calling thread's heap no longer uses.
    rayon::broadcast(|_| unsafe { libmimalloc_sys::mi_collect(true) });
    unsafe { libmimalloc_sys::mi_collect(true) };
}

#[cfg(not(any(all(target_os = "linux", target_env = "gnu"), feature = "mimalloc")))]
fn release_compiler_memory() {}

/// Tell garbage and core modules apart from components before compiling.
fn check_header(wasm: &[u8]) -> Result<(), PluginFailure> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(PluginFailure::new(
            FailureKind::InvalidModule,
            "not a WebAssembly binary (it does not start with the `\\0asm` magic bytes)",
        ));
    }
    // Core modules have layer 0 (version 1); components have layer 1.
    if wasm[6..8] == [0, 0] {
        return Err(PluginFailure::new(
            FailureKind::InvalidModule,
            "this is a core WebAssembly module, not a component; build it with \
             `cargo build --target wasm32-wasip2`",
        ));
    }
    Ok(())
}

fn invalid_module(error: wasmtime::Error) -> PluginFailure {
    PluginFailure::new(
        FailureKind::InvalidModule,
        format!("the component does not compile: {}", error_chain(&error)),
    )
}

fn wrong_world(error: &wasmtime::Error) -> PluginFailure {
    PluginFailure::new(
        FailureKind::InvalidModule,
        format!(
            "the component does not match krog's `krog:plugin/transformer` world: {}",
            error_chain(error)
        ),
    )
}

/// `outer: inner: root` on one line.
fn error_chain(error: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// What a failed call's error means; `memory_refused`: the store's [`Limiter`] refused a
/// memory growth during the call.
fn classify(
    error: &wasmtime::Error,
    limits: &Limits,
    stderr: &[u8],
    duration: Duration,
    memory_refused: bool,
) -> (FailureKind, String) {
    if memory_refused {
        return (
            FailureKind::MemoryLimit,
            format!(
                "the plugin tried to use more than the {} MiB memory limit",
                limits.memory_bytes as f64 / (1024.0 * 1024.0)
            ),
        );
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => (
            FailureKind::OutOfFuel,
            format!(
                "the plugin used all its fuel ({} units) after {} ms; is it looping?",
                limits.fuel,
                duration.as_millis()
            ),
        ),
        Some(Trap::Interrupt) => (
            FailureKind::Timeout,
            format!(
                "the plugin ran past its {} ms time limit",
                limits.timeout.as_millis()
            ),
        ),
        Some(Trap::StackOverflow) => (
            FailureKind::Trap,
            "the plugin overflowed its stack (too deep recursion?)".to_string(),
        ),
        Some(trap) => {
            let message = match panic_message(stderr) {
                Some(panic) => format!("the plugin panicked: {panic} ({trap})"),
                None => format!("the plugin trapped: {trap}"),
            };
            (FailureKind::Trap, message)
        }
        None => {
            let message = match panic_message(stderr) {
                Some(panic) => format!("the plugin panicked: {panic} ({})", error_chain(error)),
                None => format!("the plugin failed: {}", error_chain(error)),
            };
            (FailureKind::Trap, message)
        }
    }
}

/// Find a Rust panic in captured stderr:
/// `thread '<unnamed>' panicked at src/lib.rs:1:2:\n<message>\nnote: …`.
fn panic_message(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let start = text.find("panicked at ")?;
    let rest = &text[start + "panicked at ".len()..];
    let (location, message) = match rest.split_once('\n') {
        Some((location, message)) => (location.trim_end_matches(':'), message),
        None => (rest.trim_end_matches(':'), ""),
    };
    let message: Vec<&str> = message
        .lines()
        .take_while(|l| !l.starts_with("note: ") && !l.starts_with("stack backtrace"))
        .collect();
    let message = message.join("\n");
    let message = truncate(message.trim(), 1024);
    if message.is_empty() {
        Some(format!("at {location}"))
    } else {
        Some(format!("{message} (at {location})"))
    }
}

// ---------------------------------------------------------------------------------------------
// Output validation

/// The output bounds shared with the plugin SDK, so that its native checks refuse what krog
/// refuses.
pub use krog_rules::{MAX_HEADER_BYTES, MAX_HEADERS, MAX_REASON_BYTES};
/// Longest plugin name [`Runtime::info`] returns (longer ones are truncated).
pub const MAX_NAME_BYTES: usize = 128;
/// Longest plugin version [`Runtime::info`] returns (longer ones are truncated).
pub const MAX_VERSION_BYTES: usize = 64;
/// Longest plugin description [`Runtime::info`] returns (longer ones are truncated).
pub const MAX_DESCRIPTION_BYTES: usize = 4 * 1024;
/// Longest config schema (JSON text) a plugin may declare; over it, [`Runtime::info`] refuses
/// the module as [`FailureKind::InvalidModule`].
pub const MAX_CONFIG_SCHEMA_BYTES: usize = 64 * 1024;

fn check_outcome(outcome: wit::Outcome, limits: &Limits) -> Result<Outcome, (FailureKind, String)> {
    let request = match outcome {
        wit::Outcome::Skip(reason) => {
            return Ok(Outcome::Skip {
                reason: truncate(&reason, MAX_REASON_BYTES),
            });
        }
        wit::Outcome::Deliver(request) => request,
    };
    let refused = |r: krog_rules::Refusal| (r.kind, r.message);
    krog_rules::check_body_size(request.body.len(), limits.max_output_bytes).map_err(refused)?;
    let content_type = krog_rules::check_head(&request.content_type, &request.headers)
        .map_err(refused)?
        .to_string();
    Ok(Outcome::Deliver {
        content_type,
        headers: request.headers,
        body: request.body,
    })
}

/// Why compiling in a child process did not give a component.
enum ChildCompile {
    /// The module is refused: the answer, as compiling here would have given it.
    Refused(PluginFailure),
    /// The child could not do its work (not startable, an artifact that does not load):
    /// compile here instead.
    Unavailable(String),
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "stopped".to_string(),
    }
}

/// The work of a [`RuntimeConfig::compiler`] child: reads wasm from stdin, compiles it for the
/// engine that a runtime with plugin memory limit `memory_bytes` builds, and writes the
/// artifact to stdout. Exit status 0: the artifact is on stdout; 3: not a valid module, with
/// the reason on stdout (the same words an in-process compile gives); anything else: a
/// failure, on stderr, after which the parent compiles by itself.
pub fn compile_in_child(memory_bytes: usize) -> std::process::ExitCode {
    use std::io::{Read, Write};
    use std::process::ExitCode;
    let mut wasm = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut wasm) {
        eprintln!("reading the module from stdin: {e}");
        return ExitCode::FAILURE;
    }
    let limits = Limits {
        memory_bytes,
        ..Limits::default()
    };
    let engine = match build_engine(&limits) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let (answer, code) = match engine.precompile_component(&wasm) {
        Ok(artifact) => (artifact, ExitCode::SUCCESS),
        Err(e) => (
            invalid_module(e).message.into_bytes(),
            ExitCode::from(INVALID_MODULE_EXIT as u8),
        ),
    };
    match stdout.write_all(&answer).and_then(|()| stdout.flush()) {
        Ok(()) => code,
        Err(e) => {
            eprintln!("writing the answer to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Bytes of the MAC trailer of an artifact file.
const ARTIFACT_MAC_BYTES: usize = 32;

/// The HMAC-SHA256 that authenticates an artifact file, keyed with the cache key, over the
/// sha256 of the wasm it was compiled from (its file name, so that a genuine artifact moved
/// to another module's name is rejected) and the artifact.
fn artifact_hmac(key: &[u8; 32], sha256: &str, artifact: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(b"krog-artifact-v1\0");
    mac.update(sha256.as_bytes());
    mac.update(b"\0");
    mac.update(artifact);
    mac
}

fn artifact_mac(key: &[u8; 32], sha256: &str, artifact: &[u8]) -> [u8; ARTIFACT_MAC_BYTES] {
    artifact_hmac(key, sha256, artifact)
        .finalize()
        .into_bytes()
        .into()
}

/// The cache key of runtimes configured without one: random, drawn once per process, so that
/// runtimes of one process share their artifacts and trust no other process's.
fn process_cache_key() -> [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    *KEY.get_or_init(rand::random)
}

/// Creates the cache dir (and its parents) readable by this user only, if it is missing.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The artifacts in the cache dir are native code that krog runs: a dir that another user owns
/// or may write to (the default for PostgreSQL is under the shared temp dir) could hand krog
/// someone else's code under a built-in module's well-known sha256.
fn check_private_dir(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
        if !meta.is_dir() {
            return Err("it is not a directory (a symlink?)".into());
        }
        if meta.permissions().mode() & 0o022 != 0 {
            return Err("other users (its group, or everyone) may write to it".into());
        }
        // Our own uid, without unsafe code: the owner of a file this process creates.
        let (probe, file) = tempfile_in(dir)?;
        let own = file.metadata().map(|m| m.uid());
        drop(file);
        let _ = std::fs::remove_file(&probe);
        let own = own.map_err(|e| e.to_string())?;
        if meta.uid() != own {
            return Err(format!(
                "it belongs to user {}, not to this process's user {own}",
                meta.uid()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A new file in `dir`, under a random name and created exclusively (`O_EXCL`), so that
/// nothing planted in the dir — a symlink to a file elsewhere — is opened instead.
#[cfg(unix)]
fn tempfile_in(dir: &Path) -> Result<(PathBuf, std::fs::File), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = hex::encode(rand::random::<[u8; 16]>());
    let path = dir.join(format!(".krog-owner-probe.{name}"));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map(|file| (path, file))
        .map_err(|e| format!("cannot write to it: {e}"))
}

/// Writes `artifact` and its MAC trailer to `path`, atomically (a temporary file renamed).
fn write_artifact(path: &Path, artifact: &[u8], mac: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    // Unique per write: two threads (or processes) may cache the same module at once.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("module"),
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        // Exclusive, never through a file or symlink already there, and private to krog's
        // user like the dir, whatever the umask.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(artifact)?;
        file.write_all(mac)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

// ---------------------------------------------------------------------------------------------
// The dry-run object

/// The `krog plugin run --json` object, shared by the CLI and the HTTP dry run.
///
/// Success: `{"outcome": "deliver", "content_type", "headers": [[name, value], …], "body"` (when
/// the body is UTF-8) or `"body_base64"` (otherwise)`, "logs", "duration_us", "fuel_consumed"}`,
/// or `{"outcome": "skip", "reason", "logs", "duration_us", "fuel_consumed"}`. Headers are a
/// list of pairs, so order and repeated names survive.
///
/// Failure: `{"outcome": "error", "error": {"kind", "message"}, "logs", "duration_us",
/// "fuel_consumed"}`.
pub fn dry_run_json(result: &Result<Execution, PluginFailure>) -> serde_json::Value {
    match result {
        Ok(execution) => {
            let mut object = match &execution.outcome {
                Outcome::Skip { reason } => json!({"outcome": "skip", "reason": reason}),
                Outcome::Deliver {
                    content_type,
                    headers,
                    body,
                } => {
                    let mut object = json!({
                        "outcome": "deliver",
                        "content_type": content_type,
                        "headers": headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                    });
                    match std::str::from_utf8(body) {
                        Ok(text) => object["body"] = json!(text),
                        Err(_) => {
                            object["body_base64"] =
                                json!(base64::engine::general_purpose::STANDARD.encode(body))
                        }
                    }
                    object
                }
            };
            object["logs"] = json!(execution.logs);
            object["duration_us"] = json!(duration_us(execution.duration));
            object["fuel_consumed"] = json!(execution.fuel_consumed);
            object
        }
        Err(failure) => json!({
            "outcome": "error",
            "error": {"kind": failure.kind, "message": failure.message},
            "logs": failure.logs,
            "duration_us": duration_us(failure.duration),
            "fuel_consumed": failure.fuel_consumed,
        }),
    }
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Paths of the test plugins, for this crate's tests. Not part of the API.
#[doc(hidden)]
pub mod test_plugins {
    /// `test-plugins/hostile`, behaviour chosen by the config string.
    pub const HOSTILE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hostile.wasm"));
    /// `test-plugins/wrong-world`, a component of another world.
    pub const WRONG_WORLD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wrong-world.wasm"));
}

#[cfg(test)]
mod output_properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    fn config() -> Config {
        Config {
            cases: 512,
            rng_seed: RngSeed::Fixed(0x6865_6164),
            failure_persistence: None,
            ..Config::default()
        }
    }

    /// Header names and values as a plugin might write them: tokens, reserved names in any
    /// case, and arbitrary text with control characters.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}",
            prop_oneof![
                Just("Webhook-Signature"),
                Just("HOST"),
                Just("content-length"),
                Just("Content-Type"),
                Just("Proxy-Authorization"),
                Just("transfer-encoding"),
                Just("Connection"),
            ]
            .prop_map(str::to_owned),
            ".{0,12}",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof!["[ -~]{0,40}", ".{0,20}", "[\t\r\n\0a-z]{0,8}"]
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn headers_krog_accepts_are_valid_http_and_never_its_own(
            headers in prop::collection::vec((name(), value()), 0..6),
            content_type in prop_oneof![Just("application/json".to_owned()), ".{0,30}"],
        ) {
            let outcome = wit::Outcome::Deliver(wit::Request {
                content_type: content_type.clone(),
                headers: headers.clone(),
                body: b"{}".to_vec(),
            });
            match check_outcome(outcome, &Limits::default()) {
                Ok(Outcome::Deliver { content_type, headers, .. }) => {
                    prop_assert!(http::HeaderValue::from_str(&content_type).is_ok());
                    for (name, value) in &headers {
                        prop_assert!(http::HeaderName::from_bytes(name.as_bytes()).is_ok(), "{name:?}");
                        prop_assert!(http::HeaderValue::from_str(value).is_ok(), "{value:?}");
                        let lower = name.to_ascii_lowercase();
                        prop_assert!(!lower.starts_with("webhook-") && !lower.starts_with("proxy-"));
                        prop_assert!(!["host", "content-length", "content-type", "connection", "transfer-encoding"].contains(&lower.as_str()));
                    }
                }
                Ok(Outcome::Skip { .. }) => prop_assert!(false, "a delivery became a skip"),
                Err((kind, message)) => {
                    prop_assert!(matches!(kind, FailureKind::ReservedHeader | FailureKind::InvalidOutput | FailureKind::OutputTooLarge), "{kind:?}");
                    prop_assert!(!message.is_empty());
                }
            }
        }
    }
}
