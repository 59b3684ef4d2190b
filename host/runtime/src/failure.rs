//! Why a plugin failed: [`PluginFailure`], the classification of traps and errors into a
//! [`FailureKind`] (whose names live in `krog-rules`), and the bounding of failure messages.

use std::time::Duration;
use wasmtime::Trap;

use super::*;

/// A failed load or call. Always a plugin's fault, never the host's.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct PluginFailure {
    /// Which way it failed.
    pub kind: FailureKind,
    /// What went wrong, for humans: at most [`MAX_ERROR_BYTES`].
    pub message: String,
    /// What the plugin logged and printed before it failed.
    pub logs: Vec<LogLine>,
    /// Wall time until the failure.
    pub duration: Duration,
    /// The fuel burnt until the failure.
    pub fuel_consumed: u64,
}

impl PluginFailure {
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>) -> Self {
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

/// `message` cut to [`MAX_ERROR_BYTES`] on a char boundary, ending with how much was cut.
pub(crate) fn bound_message(message: String) -> String {
    cut_with_count(message, MAX_ERROR_BYTES)
}

/// `s` cut to at most `max` bytes on a char boundary, ending with a marker that says how many
/// bytes were cut; `s` itself when it fits.
pub(crate) fn cut_with_count(mut s: String, max: usize) -> String {
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

/// A call's checked outcome with what it cost, as an [`Execution`] or a [`PluginFailure`].
pub(crate) fn executed(
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

pub(crate) fn invalid_module(error: wasmtime::Error) -> PluginFailure {
    PluginFailure::new(
        FailureKind::InvalidModule,
        format!("the component does not compile: {}", error_chain(&error)),
    )
}

pub(crate) fn wrong_world(error: &wasmtime::Error) -> PluginFailure {
    PluginFailure::new(
        FailureKind::InvalidModule,
        format!(
            "the component does not match krog's `krog:plugin/transformer` world: {}",
            error_chain(error)
        ),
    )
}

/// `outer: inner: root` on one line.
pub(crate) fn error_chain(error: &wasmtime::Error) -> String {
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
pub(crate) fn classify(
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
pub(crate) fn panic_message(stderr: &[u8]) -> Option<String> {
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
