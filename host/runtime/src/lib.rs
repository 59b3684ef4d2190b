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
//!
//! The modules follow those seams: [`limits`](crate::Limits) (the bounds), `store` (per-call
//! store state: limiter, clock, log sink), `compile` (engine, in process and in a child),
//! `cache` (in memory and on disk), `pool` (instance reuse), `failure` (classification) and
//! `outcome` (output checks, with the rules the plugin SDK shares in `krog-rules`).

#![deny(missing_docs)]

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;
use std::time::Instant;
use wasmtime::Engine;
use wasmtime::Store;
use wasmtime::component::HasSelf;
use wasmtime::component::Linker;

pub mod catalog;

mod cache;
mod compile;
mod failure;
mod limits;
mod outcome;
mod pipe;
mod pool;
mod store;

pub use cache::*;
pub use compile::*;
pub use failure::*;
pub use limits::*;
use outcome::*;
pub use pool::*;
use store::*;

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

/// How to build a [`Runtime`].
#[derive(Clone, Default)]
pub struct RuntimeConfig {
    /// The limits of every call.
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
    /// in this process's heap (BENCHMARKS.md, "Memory"); in a child they go when it
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
    /// The event id, the same on every retry.
    pub id: String,
    /// One of the three booking event types.
    pub event_type: String,
    /// RFC 3339 time of the event.
    pub timestamp: String,
    /// The tenant the event belongs to.
    pub tenant: String,
    /// The booking object as JSON text.
    pub data: String,
}

/// What a plugin says about itself.
#[derive(Clone, Debug, Serialize)]
pub struct PluginInfo {
    /// Its name, at most [`MAX_NAME_BYTES`].
    pub name: String,
    /// Its version, at most [`MAX_VERSION_BYTES`].
    pub version: String,
    /// What it does, at most [`MAX_DESCRIPTION_BYTES`].
    pub description: String,
    /// The JSON Schema of its config (`{}` when the plugin's text is not valid JSON).
    pub config_schema: serde_json::Value,
}

/// What a plugin decided for one event (validated).
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Nothing is sent.
    Skip {
        /// Why, at most [`MAX_REASON_BYTES`].
        reason: String,
    },
    /// This request body is signed and sent.
    Deliver {
        /// The content type, trimmed.
        content_type: String,
        /// Extra headers, in the plugin's order (none krog sets itself).
        headers: Vec<(String, String)>,
        /// The body, at most [`Limits::max_output_bytes`].
        body: Vec<u8>,
    },
}

/// One line of a call's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `debug`, `info`, `warn`, `error` (the `log` import), `stdout` or `stderr`.
    pub level: String,
    /// The line, at most [`Limits::max_log_line_bytes`].
    pub message: String,
}

/// A successful call.
#[derive(Debug)]
pub struct Execution {
    /// What the plugin decided, checked.
    pub outcome: Outcome,
    /// What it logged and printed.
    pub logs: Vec<LogLine>,
    /// Wall time of the call, instantiation included.
    pub duration: Duration,
    /// The fuel the call burnt (about one unit per wasm instruction).
    pub fuel_consumed: u64,
}

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

    /// The limits every call of this runtime runs under.
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

    /// Drops the compiled module with this hash from memory. Its artifact stays on disk, so a
    /// later use loads it again (milliseconds) without compiling; holders of the module keep
    /// theirs.
    pub fn forget(&self, sha256: &str) {
        let mut modules = self.inner.modules.lock().unwrap_or_else(|e| e.into_inner());
        modules.entries.remove(sha256);
    }

    /// How many compiled modules the cache holds now.
    pub fn cached_modules(&self) -> usize {
        let modules = self.inner.modules.lock().unwrap_or_else(|e| e.into_inner());
        modules.entries.len()
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
}
