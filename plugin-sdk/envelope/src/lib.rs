//! The event envelope as the booking system posts it — `{"id"?, "type", "timestamp"?, "data"}` —
//! parsed and validated once, for `POST /v1/tenants/{t}/events`, `krog plugin run` and the plugin
//! SDK's test helpers, so that all three accept and refuse the same envelopes.
//!
//! - `id`: absent or `null`, or 1 to 255 bytes without whitespace or control characters.
//! - `type`: one of [`krog_rules::EVENT_TYPES`].
//! - `timestamp`: absent or `null`, or RFC 3339.
//! - `data`: a JSON object, kept as the exact text received (unknown fields and their order pass
//!   on untouched).
//!
//! Other fields are ignored. What an absent `id` or `timestamp` becomes is the caller's choice:
//! the service generates a unique id and takes the current time; local runs use fixed values.

#![deny(missing_docs)]

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

/// A valid envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The event id, if the envelope gives one.
    pub id: Option<String>,
    /// One of [`krog_rules::EVENT_TYPES`].
    pub event_type: &'static str,
    /// The RFC 3339 time of the event, if the envelope gives one, as given.
    pub timestamp: Option<String>,
    /// The booking: a JSON object, exactly as received.
    pub data: String,
}

/// Why an envelope is refused.
#[derive(Debug)]
pub enum EnvelopeError {
    /// Not JSON, or not the envelope's shape (a field missing or of the wrong JSON type).
    Json(serde_json::Error),
    /// `type` is not one of [`krog_rules::EVENT_TYPES`].
    UnknownType(String),
    /// `id` is empty, too long or holds whitespace or control characters.
    InvalidId,
    /// `timestamp` is not RFC 3339.
    InvalidTimestamp {
        /// The timestamp given.
        timestamp: String,
        /// What the RFC 3339 parser says.
        reason: String,
    },
    /// `data` is not a JSON object.
    DataNotObject,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::Json(e) => write!(f, "the event is not a valid envelope: {e}"),
            EnvelopeError::UnknownType(name) => write!(
                f,
                "type {name:?} is not one of {}",
                krog_rules::EVENT_TYPES.join(", ")
            ),
            EnvelopeError::InvalidId => {
                f.write_str("id must be 1 to 255 characters without spaces or control characters")
            }
            EnvelopeError::InvalidTimestamp { timestamp, reason } => {
                write!(f, "timestamp {timestamp:?} is not RFC 3339: {reason}")
            }
            EnvelopeError::DataNotObject => f.write_str("data must be a JSON object (the booking)"),
        }
    }
}

impl std::error::Error for EnvelopeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EnvelopeError::Json(e) => Some(e),
            _ => None,
        }
    }
}

/// The envelope's fields as JSON gives them, before validation. The service's own request type
/// (`krog::api::events::Incoming`) has the same fields with the same types, so both refuse the same
/// shapes.
#[derive(Deserialize)]
struct Wire<'a> {
    id: Option<String>,
    #[serde(rename = "type")]
    event_type: String,
    timestamp: Option<String>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Parses and validates an envelope.
///
/// ```
/// let envelope = krog_envelope::parse(r#"{"type": "booking.created", "data": {"id": "bk_1"}}"#)
///     .unwrap();
/// assert_eq!(envelope.event_type, "booking.created");
/// assert_eq!(envelope.id, None);
/// assert!(krog_envelope::parse(r#"{"type": "booking.moved", "data": {}}"#).is_err());
/// ```
pub fn parse(text: &str) -> Result<Envelope, EnvelopeError> {
    let wire: Wire<'_> = serde_json::from_str(text).map_err(EnvelopeError::Json)?;
    let event_type = event_type(&wire.event_type)?;
    validate(
        wire.id.as_deref(),
        wire.timestamp.as_deref(),
        wire.data.get(),
    )?;
    Ok(Envelope {
        id: wire.id,
        event_type,
        timestamp: wire.timestamp,
        data: wire.data.get().to_owned(),
    })
}

/// The event type with this name, as the `'static` name of [`krog_rules::EVENT_TYPES`].
pub fn event_type(name: &str) -> Result<&'static str, EnvelopeError> {
    krog_rules::EVENT_TYPES
        .into_iter()
        .find(|t| *t == name)
        .ok_or_else(|| EnvelopeError::UnknownType(name.to_owned()))
}

/// Validates the fields of an envelope whose JSON shape is already read: the `id` (if given),
/// then the `timestamp` (if given), then that `data` (JSON text) is an object. The service calls
/// this on its request type; [`parse`] calls it on the text.
pub fn validate(
    id: Option<&str>,
    timestamp: Option<&str>,
    data: &str,
) -> Result<(), EnvelopeError> {
    if let Some(id) = id
        && (id.is_empty()
            || id.len() > 255
            || id.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return Err(EnvelopeError::InvalidId);
    }
    if let Some(timestamp) = timestamp {
        chrono::DateTime::parse_from_rfc3339(timestamp).map_err(|e| {
            EnvelopeError::InvalidTimestamp {
                timestamp: timestamp.to_owned(),
                reason: e.to_string(),
            }
        })?;
    }
    // `data` is valid JSON text here, so an object is exactly what starts with `{`.
    if !data.trim_start().starts_with('{') {
        return Err(EnvelopeError::DataNotObject);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_is_kept_as_the_exact_text_received() {
        let envelope =
            parse(r#"{"type":"booking.updated","data": { "b" : 1, "a" : [ ] } , "x": 1}"#).unwrap();
        assert_eq!(envelope.data, r#"{ "b" : 1, "a" : [ ] }"#);
        assert_eq!(envelope.event_type, "booking.updated");
    }

    #[test]
    fn null_id_and_timestamp_are_absent() {
        let envelope =
            parse(r#"{"id":null,"type":"booking.deleted","timestamp":null,"data":{}}"#).unwrap();
        assert_eq!((envelope.id, envelope.timestamp), (None, None));
    }

    #[test]
    fn each_refusal_names_what_is_wrong() {
        let refused = |text: &str| parse(text).unwrap_err().to_string();
        assert!(refused("[]").starts_with("the event is not a valid envelope"));
        assert!(refused(r#"{"type":"booking.moved","data":{}}"#).contains("booking.moved"));
        assert!(refused(r#"{"id":"a b","type":"booking.created","data":{}}"#).starts_with("id "));
        assert!(
            refused(r#"{"type":"booking.created","timestamp":"today","data":{}}"#)
                .starts_with("timestamp \"today\" is not RFC 3339")
        );
        assert_eq!(
            refused(r#"{"type":"booking.created","data":[1]}"#),
            "data must be a JSON object (the booking)"
        );
    }
}
