//! Events: the raw form that crosses the WIT boundary and the typed view plugins work with.

use std::fmt;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::{Booking, Error};

/// An event exactly as it crosses the WIT boundary (`krog:plugin/types.event`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// The event id (`evt_…`), the same on every retry.
    pub id: String,
    /// `booking.created`, `booking.updated` or `booking.deleted`.
    pub event_type: String,
    /// RFC 3339 time of the event.
    pub timestamp: String,
    /// The tenant the event belongs to.
    pub tenant: String,
    /// The booking object as JSON text, exactly as the booking system sent it.
    pub data: String,
}

impl RawEvent {
    /// Builds a raw event from an event envelope as the booking system posts it
    /// (`{"id", "type", "timestamp", "data"}`), for tests and local runs. The envelope is parsed
    /// and checked as krog's API does (`krog-envelope`): what krog refuses fails here too.
    ///
    /// A missing `id` becomes `evt_local`, a missing `timestamp` `1970-01-01T00:00:00Z`; `data`
    /// is kept as the exact text given.
    ///
    /// ```
    /// let raw = krog_sdk::RawEvent::from_envelope(
    ///     r#"{"type": "booking.created", "data": {"id": "bk_1"}}"#,
    ///     "t_test",
    /// ).unwrap();
    /// assert_eq!(raw.event_type, "booking.created");
    /// assert_eq!(raw.tenant, "t_test");
    /// ```
    pub fn from_envelope(envelope_json: &str, tenant: &str) -> Result<RawEvent, Error> {
        let envelope = krog_envelope::parse(envelope_json).map_err(Error::msg)?;
        Ok(RawEvent {
            id: envelope.id.unwrap_or_else(|| "evt_local".to_string()),
            event_type: envelope.event_type.to_string(),
            timestamp: envelope
                .timestamp
                .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string()),
            tenant: tenant.to_string(),
            data: envelope.data,
        })
    }
}

/// The kind of an event. Unknown type strings are kept as [`EventType::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `booking.created`
    BookingCreated,
    /// `booking.updated`
    BookingUpdated,
    /// `booking.deleted`
    BookingDeleted,
    /// Any other type string, as sent.
    Other(String),
}

impl EventType {
    /// The type as it appears on the wire, e.g. `booking.created`.
    pub fn as_str(&self) -> &str {
        match self {
            EventType::BookingCreated => "booking.created",
            EventType::BookingUpdated => "booking.updated",
            EventType::BookingDeleted => "booking.deleted",
            EventType::Other(s) => s,
        }
    }
}

impl From<&str> for EventType {
    fn from(s: &str) -> EventType {
        match s {
            "booking.created" => EventType::BookingCreated,
            "booking.updated" => EventType::BookingUpdated,
            "booking.deleted" => EventType::BookingDeleted,
            other => EventType::Other(other.to_string()),
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed view of one event.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event id (`evt_…`), the same on every retry.
    pub id: String,
    /// What happened.
    pub event_type: EventType,
    /// RFC 3339 time of the event.
    pub timestamp: String,
    /// The tenant the event belongs to.
    pub tenant: String,
    /// The booking, typed.
    pub booking: Booking,
    /// The booking's JSON text as received.
    raw_data: String,
    /// `raw_data` as a `Value`, parsed on first use of [`Event::data`].
    data: OnceLock<Value>,
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.id == other.id
            && self.event_type == other.event_type
            && self.timestamp == other.timestamp
            && self.tenant == other.tenant
            && self.booking == other.booking
            && self.data() == other.data()
    }
}

impl Event {
    /// Parses the booking JSON of a raw event. Fails when `data` is not a JSON object.
    pub fn from_raw(raw: &RawEvent) -> Result<Event, Error> {
        Event::from_raw_owned(raw.clone())
    }

    /// [`Event::from_raw`] without copying the event's strings.
    pub fn from_raw_owned(raw: RawEvent) -> Result<Event, Error> {
        let booking = Booking::from_json(&raw.data)?;
        Ok(Event {
            id: raw.id,
            event_type: EventType::from(raw.event_type.as_str()),
            timestamp: raw.timestamp,
            tenant: raw.tenant,
            booking,
            raw_data: raw.data,
            data: OnceLock::new(),
        })
    }

    /// The booking exactly as sent, as raw JSON (including fields the SDK does not know).
    /// Parsed on first use, so plugins that only read [`Event::booking`] never pay for it.
    pub fn data(&self) -> &Value {
        self.data.get_or_init(|| {
            // `from_raw` already parsed this text as a JSON object.
            serde_json::from_str(&self.raw_data).unwrap_or(Value::Null)
        })
    }

    /// The booking's JSON text exactly as received.
    pub fn data_json(&self) -> &str {
        &self.raw_data
    }

    /// The envelope krog delivers when a subscription has no transform:
    /// `{"type", "timestamp", "data"}` with the original booking JSON as `data`.
    pub fn envelope(&self) -> Value {
        self.envelope_with(self.data().clone())
    }

    /// Like [`Event::envelope`], with `data` replaced (e.g. by a redacted copy).
    pub fn envelope_with(&self, data: Value) -> Value {
        json!({
            "type": self.event_type.as_str(),
            "timestamp": self.timestamp,
            "data": data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_event_type_does_not_panic() {
        let raw = RawEvent {
            event_type: "booking.exploded".into(),
            data: "{}".into(),
            ..RawEvent::default()
        };
        let event = Event::from_raw(&raw).unwrap();
        assert_eq!(
            event.event_type,
            EventType::Other("booking.exploded".into())
        );
        assert_eq!(event.event_type.as_str(), "booking.exploded");
    }

    #[test]
    fn invalid_data_is_an_error_that_says_so() {
        let raw = RawEvent {
            data: "{not json".into(),
            ..RawEvent::default()
        };
        let err = Event::from_raw(&raw).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }

    #[test]
    fn the_envelope_keeps_unknown_fields() {
        let raw = RawEvent::from_envelope(
            r#"{"type":"booking.created","timestamp":"2026-01-01T00:00:00Z","data":{"id":"bk_1","x":[1]}}"#,
            "t",
        )
        .unwrap();
        let event = Event::from_raw(&raw).unwrap();
        assert_eq!(
            event.envelope(),
            json!({"type":"booking.created","timestamp":"2026-01-01T00:00:00Z","data":{"id":"bk_1","x":[1]}})
        );
        assert_eq!(event.booking.extra["x"], json!([1]));
    }
}
