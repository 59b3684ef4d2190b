//! Per-call store state: the resource limiter that caps all of a store's memories together,
//! the monotonic clock and deadline-bounded waits plugins see, the bounded log sink, and how a
//! store is made, armed for a call and read back after it.

use crate::pipe::CappedPipe;
use std::time::Duration;
use std::time::Instant;
use wasmtime::ResourceLimiter;
use wasmtime::Store;
use wasmtime::component::Linker;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::WasiCtxView;
use wasmtime_wasi::WasiView;

use super::*;

pub(crate) struct State {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) log: LogSink,
    /// When the current call's time is up: sleeps the plugin asks WASI for end there.
    pub(crate) deadline: tokio::time::Instant,
    /// Bytes the current call has handed the host so far (log messages, stdout and stderr;
    /// its output is added when it returns). Lifting them is host work that fuel does not
    /// meter, which [`Runtime::transform_quick`] must not let onto an async thread.
    pub(crate) moved: usize,
}

/// The store's resource limiter. Unlike wasmtime's `StoreLimits`, whose memory cap applies to
/// each linear memory on its own (so a component with [`MAX_MEMORIES`] memories could use 16
/// times the limit), it caps the sum of all the store's memories at [`Limits::memory_bytes`].
///
/// Growth past a cap traps rather than failing softly: a guest allocator that sees
/// `memory.grow` fail usually aborts anyway, and a trap ends the call at once and is reported
/// as [`FailureKind::MemoryLimit`] (from `memory_refused`, not from the error's text).
pub(crate) struct Limiter {
    pub(crate) memory_bytes: usize,
    /// What the store's memories hold now, all together.
    pub(crate) memory_in_use: usize,
    /// A memory growth was refused or failed: the call's trap is the memory limit's.
    pub(crate) memory_refused: bool,
}

impl Limiter {
    pub(crate) fn new(memory_bytes: usize) -> Self {
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
pub(crate) struct Until(pub(crate) tokio::time::Instant);

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for Until {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.0).await;
    }
}

/// The monotonic clock plugins see: nanoseconds since the process's first use of it. Ours,
/// rather than WASI's default, so that `subscribe-instant` can tell how far off an instant is.
pub(crate) struct ProcessClock;

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
pub(crate) fn bound_clock_subscriptions(linker: &mut Linker<State>) -> wasmtime::Result<()> {
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
pub(crate) struct LogSink {
    pub(crate) lines: Vec<LogLine>,
    pub(crate) dropped: usize,
    pub(crate) max_lines: usize,
    pub(crate) max_line_bytes: usize,
}

impl LogSink {
    pub(crate) fn new(limits: &Limits) -> Self {
        LogSink {
            lines: Vec::new(),
            dropped: 0,
            max_lines: limits.max_log_lines,
            max_line_bytes: limits.max_log_line_bytes,
        }
    }

    pub(crate) fn push(&mut self, level: &str, message: &str) {
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
    pub(crate) fn push_output(&mut self, level: &str, bytes: &[u8], discarded: usize) {
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

    pub(crate) fn finish(mut self) -> Vec<LogLine> {
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
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let end = floor_char_boundary(s, max.saturating_sub('…'.len_utf8()));
    format!("{}…", &s[..end])
}

/// The largest char boundary of `s` at or below `at`.
pub(crate) fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut end = at.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

impl Runtime {
    /// A store with this runtime's limits, WASI without capabilities, and captured output.
    pub(crate) fn new_store(&self) -> (Store<State>, CappedPipe, CappedPipe) {
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
    pub(crate) fn arm(&self, store: &mut Store<State>) {
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
    pub(crate) fn conclude<R>(
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
}
