//! The engine and compilation: building the [`wasmtime::Engine`], compiling a component in
//! this process or in a child process ([`compile_in_child`]), and checking that a component
//! implements krog's world with nothing but WASI 0.2 and `log`.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;
use wasmtime::Config;
use wasmtime::Enabled;
use wasmtime::Engine;
use wasmtime::InstanceAllocationStrategy;
use wasmtime::PoolingAllocationConfig;
use wasmtime::component::Component;

use super::*;

/// How long a compile in a child process may take by default: the largest module accepted
/// (32 MiB) compiles in far less on the 2-core reference machine, where the 1.3 MB Slack
/// formatter takes 0.4-0.5 s.
pub const DEFAULT_COMPILE_TIMEOUT: Duration = Duration::from_secs(120);

/// The subcommand a [`RuntimeConfig::compiler`] program runs [`compile_in_child`] for.
pub const COMPILE_SUBCOMMAND: &str = "internal-compile-module";

/// How a compiler child says the wasm is not a valid module (the reason is on its stdout).
pub(crate) const INVALID_MODULE_EXIT: i32 = 3;

/// Freed pool slots that keep their memory resident for the next instance (wasmtime's default
/// is 100, up to ~4 MiB each here).
pub(crate) const MAX_UNUSED_WARM_SLOTS: u32 = 8;

pub(crate) fn build_engine(limits: &Limits) -> anyhow::Result<Engine> {
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
/// an idle krog held 11–19 MB more than it used (BENCHMARKS.md, "Memory"). Only after a
/// real compile: loading an artifact from disk allocates little.
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
#[allow(unsafe_code)]
pub(crate) fn release_compiler_memory() {
    // SAFETY: malloc_trim only returns free pages of the allocator's arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The same for mimalloc (when krog is built with it). The compiler's worker threads (rayon's
/// pool) free each other's blocks, and mimalloc takes such frees back, and returns their pages,
/// only when the owning thread next allocates or collects, which an idle compiler thread never
/// does: collecting on every one of them took an idle krog from 69–72 MB to 64–67 MB (59 MB with
/// a single compiler thread, which starts 1.6 s slower; BENCHMARKS.md, "Memory").
#[cfg(feature = "mimalloc")]
#[allow(unsafe_code)]
pub(crate) fn release_compiler_memory() {
    // SAFETY: mi_collect only frees what the calling thread's heap no longer uses.
    rayon::broadcast(|_| unsafe { libmimalloc_sys::mi_collect(true) });
    unsafe { libmimalloc_sys::mi_collect(true) };
}

#[cfg(not(any(all(target_os = "linux", target_env = "gnu"), feature = "mimalloc")))]
pub(crate) fn release_compiler_memory() {}

/// Tell garbage and core modules apart from components before compiling.
pub(crate) fn check_header(wasm: &[u8]) -> Result<(), PluginFailure> {
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

/// Why compiling in a child process did not give a component.
pub(crate) enum ChildCompile {
    /// The module is refused: the answer, as compiling here would have given it.
    Refused(PluginFailure),
    /// The child could not do its work (not startable, an artifact that does not load):
    /// compile here instead.
    Unavailable(String),
}

pub(crate) fn describe_exit(status: std::process::ExitStatus) -> String {
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

impl Runtime {
    /// The artifact and component from the compiler child, if there is one and it did its
    /// work; `None` leaves the compile to this process.
    pub(crate) fn compile_by_child(
        &self,
        wasm: &[u8],
    ) -> Result<Option<(Vec<u8>, Component)>, PluginFailure> {
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
    pub(crate) fn compile_here(&self, wasm: &[u8]) -> Result<(Vec<u8>, Component), PluginFailure> {
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
    pub(crate) fn compile_in_child_process(
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

    #[allow(unsafe_code)]
    pub(crate) fn deserialize_trusted(&self, artifact: &[u8]) -> Result<Component, String> {
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
    pub(crate) fn validate(
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
}
