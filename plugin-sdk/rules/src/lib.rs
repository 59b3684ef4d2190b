//! The rules krog and its plugin SDK share, written once so that a plugin which passes its native
//! tests (`krog_sdk::run`) is not refused by the sandbox (`krog-runtime`) for its output.
//!
//! - [`check_head`] and [`check_header`]: what a plugin may put in the head of the request it
//!   delivers — which headers krog reserves, which characters names and values may hold, and how
//!   many bytes they may take ([`MAX_HEADERS`], [`MAX_HEADER_BYTES`], …).
//! - [`check_body_size`]: the body against the operator's limit ([`DEFAULT_MAX_OUTPUT_BYTES`] by
//!   default).
//! - [`EVENT_TYPES`]: the names of the three booking events; [`OPERATIONAL_EVENT_TYPES`]: the
//!   names of the events krog itself emits about a tenant's endpoints.
//! - [`FailureKind`]: the names of the ways a plugin call fails.
//!
//! A refusal is a [`Refusal`]: the failure kind krog records and the message it shows; the SDK
//! shows the same message.

#![deny(missing_docs)]

use std::fmt;

/// The three booking event types, as they appear on the wire.
pub const EVENT_TYPES: [&str; 3] = ["booking.created", "booking.updated", "booking.deleted"];

/// The operational events krog emits into a tenant's own stream: a subscription was stopped,
/// a delivery exhausted its retries. Only krog emits them (ingest refuses them), and only
/// subscriptions that name them receive them.
pub const OPERATIONAL_EVENT_TYPES: [&str; 2] =
    ["krog.subscription.disabled", "krog.delivery.failed"];

/// The prefix reserved for krog's own event types.
pub const OPERATIONAL_PREFIX: &str = "krog.";

/// Most extra headers a plugin may set.
pub const MAX_HEADERS: usize = 64;
/// Most bytes of all extra header names and values together.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Longest content type a plugin may give, after trimming.
pub const MAX_CONTENT_TYPE_BYTES: usize = 256;
/// Longest skip reason kept (longer ones are truncated).
pub const MAX_REASON_BYTES: usize = 1024;
/// The largest body a plugin may deliver unless the operator configures another limit.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1 << 20;

/// Hop-by-hop headers (RFC 9110 §7.6.1, plus the obsolete `keep-alive` and `trailers`): they
/// describe one connection, which krog owns.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Why a plugin failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum FailureKind {
    /// The wall-clock deadline passed.
    Timeout,
    /// The fuel ran out.
    OutOfFuel,
    /// Linear memory growth beyond the memory limit.
    MemoryLimit,
    /// Any other trap: a panic, a stack overflow, `unreachable`, out-of-bounds access…
    Trap,
    /// The body or headers are over their limits.
    OutputTooLarge,
    /// A header the host sets itself (`webhook-*`, `host`, `content-length`, hop-by-hop…).
    ReservedHeader,
    /// A header name or value that is not valid HTTP, or an empty content type.
    InvalidOutput,
    /// The plugin returned `err(..)`.
    PluginError,
    /// Not a component, not the `transformer` world, or imports krog does not provide.
    InvalidModule,
    /// Over `max_module_bytes`.
    ModuleTooLarge,
}

impl FailureKind {
    /// Every kind, in declaration order.
    pub const ALL: [FailureKind; 10] = [
        FailureKind::Timeout,
        FailureKind::OutOfFuel,
        FailureKind::MemoryLimit,
        FailureKind::Trap,
        FailureKind::OutputTooLarge,
        FailureKind::ReservedHeader,
        FailureKind::InvalidOutput,
        FailureKind::PluginError,
        FailureKind::InvalidModule,
        FailureKind::ModuleTooLarge,
    ];

    /// The snake_case name krog records on a delivery attempt and answers in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::OutOfFuel => "out_of_fuel",
            FailureKind::MemoryLimit => "memory_limit",
            FailureKind::Trap => "trap",
            FailureKind::OutputTooLarge => "output_too_large",
            FailureKind::ReservedHeader => "reserved_header",
            FailureKind::InvalidOutput => "invalid_output",
            FailureKind::PluginError => "plugin_error",
            FailureKind::InvalidModule => "invalid_module",
            FailureKind::ModuleTooLarge => "module_too_large",
        }
    }

    /// Whether the same call would fail the same way again: a plugin has no I/O, so its
    /// error, trap, output, fuel and memory depend only on the module, the event and the config.
    /// Only the wall-clock deadline depends on the machine's load; and a module that could not
    /// be loaded may be there at the next try.
    pub fn fails_again(self) -> bool {
        match self {
            FailureKind::PluginError
            | FailureKind::Trap
            | FailureKind::ReservedHeader
            | FailureKind::InvalidOutput
            | FailureKind::OutputTooLarge
            | FailureKind::OutOfFuel
            | FailureKind::MemoryLimit => true,
            FailureKind::Timeout | FailureKind::InvalidModule | FailureKind::ModuleTooLarge => {
                false
            }
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a plugin's output is refused: the kind krog records, and the message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// [`FailureKind::OutputTooLarge`], [`FailureKind::ReservedHeader`] or
    /// [`FailureKind::InvalidOutput`].
    pub kind: FailureKind,
    /// What is wrong, in the words krog shows on the delivery.
    pub message: String,
}

impl Refusal {
    fn new(kind: FailureKind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// RFC 9110 `tchar`: the bytes a header name is made of.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible characters, spaces and tabs; no control characters (so no CR/LF injection).
pub fn valid_header_value(value: &str) -> bool {
    value
        .chars()
        .all(|c| c == '\t' || (c >= ' ' && c != '\u{7f}'))
}

/// Whether krog sets this header itself (any case): the signature (`webhook-*`), `host`,
/// `content-length`, `proxy-*` and hop-by-hop headers. `content-type` is refused separately
/// (see [`check_header`]): it has its own field.
pub fn is_reserved_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("webhook-")
        || lower.starts_with("proxy-")
        || lower == "host"
        || lower == "content-length"
        || HOP_BY_HOP.contains(&lower.as_str())
}

/// Checks one extra header: a `tchar` name, not one krog sets (nor `content-type`), and a value
/// without control characters other than tab.
pub fn check_header(name: &str, value: &str) -> Result<(), Refusal> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(Refusal::new(
            FailureKind::InvalidOutput,
            format!("{name:?} is not a valid header name"),
        ));
    }
    if is_reserved_header(name) {
        return Err(Refusal::new(
            FailureKind::ReservedHeader,
            format!(
                "the plugin may not set the `{name}` header: krog sets the signature \
                 (`webhook-*`), `host`, `content-length` and hop-by-hop headers itself"
            ),
        ));
    }
    if name.eq_ignore_ascii_case("content-type") {
        return Err(Refusal::new(
            FailureKind::ReservedHeader,
            "the plugin may not set `content-type` as a header; use the request's \
             content-type field",
        ));
    }
    if !valid_header_value(value) {
        return Err(Refusal::new(
            FailureKind::InvalidOutput,
            format!("the value of the `{name}` header is not a valid header value"),
        ));
    }
    Ok(())
}

/// Checks the content type, returning it trimmed as krog sends it.
pub fn check_content_type(content_type: &str) -> Result<&str, Refusal> {
    let content_type = content_type.trim();
    if content_type.is_empty() {
        return Err(Refusal::new(
            FailureKind::InvalidOutput,
            "the content type is empty",
        ));
    }
    if content_type.len() > MAX_CONTENT_TYPE_BYTES || !valid_header_value(content_type) {
        return Err(Refusal::new(
            FailureKind::InvalidOutput,
            format!("the content type {content_type:?} is not a valid header value"),
        ));
    }
    Ok(content_type)
}

/// Checks a body of `len` bytes against the limit `max` (the operator's, or
/// [`DEFAULT_MAX_OUTPUT_BYTES`]).
pub fn check_body_size(len: usize, max: usize) -> Result<(), Refusal> {
    if len > max {
        return Err(Refusal::new(
            FailureKind::OutputTooLarge,
            format!("the body is {len} bytes; the limit is {max} bytes"),
        ));
    }
    Ok(())
}

/// Checks the head of a delivery: how many headers and bytes, the content type, then every
/// header with [`check_header`]. Returns the content type trimmed. The first problem found is
/// the answer, in the order krog checks.
pub fn check_head<'a>(
    content_type: &'a str,
    headers: &[(String, String)],
) -> Result<&'a str, Refusal> {
    if headers.len() > MAX_HEADERS {
        return Err(Refusal::new(
            FailureKind::OutputTooLarge,
            format!(
                "the plugin set {} headers; the limit is {MAX_HEADERS}",
                headers.len()
            ),
        ));
    }
    let header_bytes: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(Refusal::new(
            FailureKind::OutputTooLarge,
            format!("the headers take {header_bytes} bytes; the limit is {MAX_HEADER_BYTES}"),
        ));
    }
    let content_type = check_content_type(content_type)?;
    for (name, value) in headers {
        check_header(name, value)?;
    }
    Ok(content_type)
}

/// Whether `name` is one of the [`EVENT_TYPES`].
pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.contains(&name)
}

/// Whether `name` is in krog's own namespace ([`OPERATIONAL_PREFIX`]): one of the
/// [`OPERATIONAL_EVENT_TYPES`], or a name reserved for them.
pub fn is_operational(name: &str) -> bool {
    name.starts_with(OPERATIONAL_PREFIX)
}

/// Every event type a subscription may listen to, as the `'static` name: the booking events,
/// then the operational ones.
pub fn known_event_type(name: &str) -> Option<&'static str> {
    EVENT_TYPES
        .into_iter()
        .chain(OPERATIONAL_EVENT_TYPES)
        .find(|t| *t == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operational_event_types_are_in_krogs_namespace_and_booking_types_are_not() {
        assert!(OPERATIONAL_EVENT_TYPES.iter().all(|t| is_operational(t)));
        assert!(!EVENT_TYPES.iter().any(|t| is_operational(t)));
        assert_eq!(
            known_event_type("krog.delivery.failed"),
            Some("krog.delivery.failed")
        );
        assert_eq!(known_event_type("booking.created"), Some("booking.created"));
        assert_eq!(known_event_type("krog.anything"), None);
    }

    #[test]
    fn every_failure_kind_has_a_distinct_snake_case_name() {
        let names: std::collections::BTreeSet<&str> =
            FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), FailureKind::ALL.len());
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
    }

    #[test]
    fn reserved_headers_are_refused_in_any_case() {
        for name in [
            "Webhook-Signature",
            "HOST",
            "content-length",
            "Proxy-Authorization",
            "proxy-anything",
            "Trailers",
            "Keep-Alive",
        ] {
            let refusal = check_header(name, "x").unwrap_err();
            assert_eq!(refusal.kind, FailureKind::ReservedHeader, "{name}");
        }
        assert_eq!(
            check_header("Content-Type", "text/plain").unwrap_err().kind,
            FailureKind::ReservedHeader
        );
        assert!(check_header("x-ok", "fine\tvalue").is_ok());
    }

    #[test]
    fn control_characters_in_a_value_are_invalid_output() {
        for value in ["a\r\nb", "a\0b", "a\u{1b}b", "a\u{7f}b"] {
            let refusal = check_header("x-a", value).unwrap_err();
            assert_eq!(refusal.kind, FailureKind::InvalidOutput, "{value:?}");
        }
    }

    #[test]
    fn the_content_type_is_trimmed_and_must_not_be_empty() {
        assert_eq!(check_content_type("  text/plain "), Ok("text/plain"));
        assert_eq!(
            check_content_type(" ").unwrap_err().message,
            "the content type is empty"
        );
        assert!(check_content_type(&"a".repeat(MAX_CONTENT_TYPE_BYTES + 1)).is_err());
    }
}
