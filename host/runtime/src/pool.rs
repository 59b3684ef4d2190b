//! Instance reuse: idle instances kept per (scope, module) for the next event of the same
//! subscription ([`Runtime::transform_in`]), and the quick path that runs a proven-quick
//! instance on a thread that must not block ([`Runtime::transform_quick`]).

use crate::pipe::CappedPipe;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;
use wasmtime::Store;

use super::*;

/// The most idle instances kept for reuse, over all scopes.
pub(crate) const MAX_IDLE_INSTANCES: usize = 32;

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
pub(crate) struct ThreadTime(pub(crate) Duration);

impl ThreadTime {
    pub(crate) fn now() -> Self {
        ThreadTime(thread_cpu_time())
    }

    /// The thread's CPU time since `self` (taken on the same thread).
    pub(crate) fn elapsed(&self) -> Duration {
        thread_cpu_time().saturating_sub(self.0)
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
pub(crate) fn thread_cpu_time() -> Duration {
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
pub(crate) fn thread_cpu_time() -> Duration {
    wall_time()
}

/// Time since the first call, the fallback where a thread's CPU time cannot be read.
pub(crate) fn wall_time() -> Duration {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed()
}

/// The bytes of everything an outcome hands the host.
pub(crate) fn outcome_bytes(outcome: &wit::Outcome) -> usize {
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

/// An instance kept for the next event of its scope.
pub(crate) struct Warm {
    pub(crate) store: Store<State>,
    pub(crate) bindings: bindings::Transformer,
    pub(crate) stdout: CappedPipe,
    pub(crate) stderr: CappedPipe,
    pub(crate) calls: usize,
    /// Every one of its calls so far stayed within the quick bounds (see
    /// [`Runtime::transform_quick`]).
    pub(crate) stayed_quick: bool,
}

/// Idle instances by (scope, module sha256), bounded in total so that memory stays bounded
/// whatever the number of subscriptions: when full, the instance being returned is dropped.
/// Which instances may serve each other's events: (scope, module sha256).
pub(crate) type Key = (String, String);

pub(crate) struct Idle {
    pub(crate) max: usize,
    /// The number of idle instances, and the instances by key.
    pub(crate) map: Mutex<(usize, HashMap<Key, Vec<Warm>>)>,
    /// Scopes that must not run quick (see [`Runtime::transform_quick`]).
    pub(crate) slow: Mutex<std::collections::HashSet<Key>>,
}

impl Idle {
    pub(crate) fn is_slow(&self, key: &Key) -> bool {
        self.slow
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    pub(crate) fn mark_slow(&self, key: Key) {
        self.slow
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
    }

    /// An idle instance of `key` that satisfies `suits`.
    pub(crate) fn take(&self, key: &Key, suits: impl Fn(&Warm) -> bool) -> Option<Warm> {
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

    pub(crate) fn put(&self, key: Key, warm: Warm) {
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
    pub(crate) fn run_warm(
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
