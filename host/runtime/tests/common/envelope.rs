//! The booking system's envelope as the event a plugin gets, as `krog plugin run` makes it
//! (`krog::cli::plugin::parse_event`, in the host crate, which the runtime's tests and
//! benchmarks cannot depend on): the parser and the rules of `krog-envelope`, `id` defaulting to
//! `evt_local`, `timestamp` to now, the tenant `local`. Shared by `tests/common.rs` and the
//! benchmarks through `#[path]`.

use krog_runtime::EventInput;

/// The event of an envelope's text.
pub fn parse_event(text: &str) -> anyhow::Result<EventInput> {
    let envelope = krog_envelope::parse(text)?;
    Ok(EventInput {
        id: envelope.id.unwrap_or_else(|| "evt_local".to_string()),
        event_type: envelope.event_type.to_string(),
        timestamp: envelope.timestamp.unwrap_or_else(|| {
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        }),
        tenant: "local".to_string(),
        data: envelope.data,
    })
}
