//! Booking events: their types and a validated event.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The three booking events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub enum EventType {
    /// A booking was made.
    #[serde(rename = "booking.created")]
    Created,
    /// A booking changed (time, status, service …).
    #[serde(rename = "booking.updated")]
    Updated,
    /// A booking was removed.
    #[serde(rename = "booking.deleted")]
    Deleted,
}

impl EventType {
    /// All of them, for validation messages.
    pub const ALL: [&'static str; 3] = krog_rules::EVENT_TYPES;

    /// The event type with this wire name.
    pub fn parse(name: &str) -> Option<EventType> {
        [EventType::Created, EventType::Updated, EventType::Deleted]
            .into_iter()
            .find(|t| t.as_str() == name)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Created => "booking.created",
            EventType::Updated => "booking.updated",
            EventType::Deleted => "booking.deleted",
        }
    }
}

/// The `'static` name of any event type a subscription may listen to: a booking event or one of
/// krog's operational events ([`crate::model::operational`]).
pub fn known_type(name: &str) -> Option<&'static str> {
    krog_rules::known_event_type(name)
}

/// A validated event, ready to store.
#[derive(Debug)]
pub struct Event {
    /// Unique per tenant.
    pub id: String,
    /// Which booking event.
    pub event_type: &'static str,
    /// RFC 3339.
    pub timestamp: String,
    /// The booking JSON object, as received.
    pub data: String,
}

impl Event {
    /// The envelope `{"type","timestamp","data"}` sent without a transform; `data` is spliced
    /// in as received.
    pub fn envelope(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.data.len() + 96);
        body.extend_from_slice(b"{\"type\":");
        serde_json::to_writer(&mut body, &self.event_type).expect("strings serialize");
        body.extend_from_slice(b",\"timestamp\":");
        serde_json::to_writer(&mut body, &self.timestamp).expect("strings serialize");
        body.extend_from_slice(b",\"data\":");
        body.extend_from_slice(self.data.as_bytes());
        body.push(b'}');
        body
    }
}
