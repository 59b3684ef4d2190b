//! `filter`: passes an event on unchanged when it matches the config (event types, therapists,
//! services, statuses), and skips it otherwise, saying what did not match.

use krog_sdk::{Error, Event, Outcome, Plugin};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The filter.
pub struct Filter;

/// An event type to let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum EventTypeName {
    /// A new booking.
    #[serde(rename = "booking.created")]
    Created,
    /// A changed booking.
    #[serde(rename = "booking.updated")]
    Updated,
    /// A deleted booking.
    #[serde(rename = "booking.deleted")]
    Deleted,
}

impl EventTypeName {
    fn as_str(self) -> &'static str {
        match self {
            EventTypeName::Created => "booking.created",
            EventTypeName::Updated => "booking.updated",
            EventTypeName::Deleted => "booking.deleted",
        }
    }
}

/// Config of the `filter` plugin. Every list is optional: a missing, `null` or empty list
/// matches anything; an event passes when it matches every list given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FilterConfig {
    /// Event types to pass, e.g. `["booking.created", "booking.deleted"]`.
    pub event_types: Option<Vec<EventTypeName>>,
    /// Therapist ids to pass, e.g. `["th_7"]`.
    pub therapist_ids: Option<Vec<String>>,
    /// Service ids to pass, e.g. `["svc_parterapi"]`.
    pub service_ids: Option<Vec<String>>,
    /// Booking statuses to pass: `confirmed`, `pending`, `cancelled`, `completed`, `no_show`
    /// (or any other status the booking system sends).
    pub statuses: Option<Vec<String>>,
}

impl Plugin for Filter {
    type Config = FilterConfig;
    const NAME: &str = "filter";
    const VERSION: &str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &str = "Passes on only the events that match the given event types, therapists, services and statuses.";

    fn transform(event: &Event, config: FilterConfig) -> Result<Outcome, Error> {
        let mismatches = mismatches(event, &config);
        if mismatches.is_empty() {
            Outcome::json(&event.envelope())
        } else {
            Ok(Outcome::skip(mismatches.join("; ")))
        }
    }
}

krog_sdk::export!(Filter);

/// Checks one list: `None` when it matches, else a reason like `therapist th_7 not in [th_1]`.
fn check(what: &str, value: Option<&str>, allowed: Option<&[String]>) -> Option<String> {
    let allowed = allowed.filter(|a| !a.is_empty())?;
    if value.is_some_and(|v| allowed.iter().any(|a| a == v)) {
        return None;
    }
    Some(format!(
        "{what} {} not in [{}]",
        value.filter(|v| !v.is_empty()).unwrap_or("(none)"),
        allowed.join(", ")
    ))
}

/// Everything about `event` that does not match `config`; empty when it passes.
pub fn mismatches(event: &Event, config: &FilterConfig) -> Vec<String> {
    let b = &event.booking;
    let event_types: Option<Vec<String>> = config
        .event_types
        .as_ref()
        .map(|types| types.iter().map(|t| t.as_str().to_string()).collect());
    [
        check(
            "event type",
            Some(event.event_type.as_str()),
            event_types.as_deref(),
        ),
        check(
            "therapist",
            b.therapist.as_ref().and_then(|t| t.id.as_deref()),
            config.therapist_ids.as_deref(),
        ),
        check(
            "service",
            b.service.as_ref().and_then(|s| s.id.as_deref()),
            config.service_ids.as_deref(),
        ),
        check(
            "status",
            b.status.as_ref().map(|s| s.as_str()),
            config.statuses.as_deref(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use krog_sdk::{RawEvent, Value};
    use serde_json::json;

    const CREATED: &str = include_str!("../../../fixtures/booking-created.json");
    const UPDATED: &str = include_str!("../../../fixtures/booking-updated.json");
    const ONLINE: &str = include_str!("../../../fixtures/booking-created-online.json");

    fn raw(envelope: &str) -> RawEvent {
        RawEvent::from_envelope(envelope, "t_test").unwrap()
    }

    fn run(envelope: &str, config: &str) -> Outcome {
        krog_sdk::run::<Filter>(&raw(envelope), config).unwrap()
    }

    fn original(envelope: &str) -> Value {
        let v: Value = serde_json::from_str(envelope).unwrap();
        let raw = raw(envelope);
        json!({"type": v["type"], "timestamp": raw.timestamp, "data": v["data"]})
    }

    #[test]
    fn without_config_every_event_passes_through_unchanged() {
        for fixture in [CREATED, UPDATED, ONLINE] {
            for config in ["", "null", "{}"] {
                let out = run(fixture, config);
                assert_eq!(out.content_type(), Some("application/json"));
                assert_eq!(out.body_json().unwrap(), original(fixture));
            }
        }
    }

    #[test]
    fn unknown_booking_fields_are_passed_on() {
        let body = run(ONLINE, "").body_json().unwrap();
        assert_eq!(
            body["data"]["intake_form"],
            json!({"answers": 12, "completed": true})
        );
    }

    #[test]
    fn a_matching_event_passes() {
        let config = r#"{"event_types": ["booking.created"], "therapist_ids": ["th_1", "th_7"],
                         "service_ids": ["svc_parterapi"], "statuses": ["confirmed"]}"#;
        assert_eq!(run(CREATED, config).body_json().unwrap(), original(CREATED));
    }

    #[test]
    fn another_therapist_is_skipped_with_the_reason() {
        let out = run(CREATED, r#"{"therapist_ids": ["th_1"]}"#);
        assert_eq!(out, Outcome::skip("therapist th_7 not in [th_1]"));
    }

    #[test]
    fn every_given_list_must_match_and_every_mismatch_is_named() {
        let config = r#"{"event_types": ["booking.created", "booking.deleted"], "statuses": ["confirmed"],
                         "service_ids": ["svc_parterapi"]}"#;
        assert_eq!(
            run(UPDATED, config),
            Outcome::skip("event type booking.updated not in [booking.created, booking.deleted]")
        );
        assert_eq!(
            run(ONLINE, config),
            Outcome::skip(
                "service svc_online not in [svc_parterapi]; status pending not in [confirmed]"
            )
        );
    }

    #[test]
    fn empty_lists_match_anything() {
        let config =
            r#"{"event_types": [], "therapist_ids": [], "service_ids": null, "statuses": []}"#;
        assert!(!run(UPDATED, config).is_skip());
    }

    #[test]
    fn a_missing_value_does_not_match_a_given_list() {
        let out = run(
            r#"{"type":"booking.created","data":{"id":"bk_1"}}"#,
            r#"{"therapist_ids":["th_7"]}"#,
        );
        assert_eq!(out, Outcome::skip("therapist (none) not in [th_7]"));
    }

    #[test]
    fn an_unknown_event_type_or_field_is_a_config_error() {
        let err = krog_sdk::run::<Filter>(&raw(CREATED), r#"{"event_types": ["booking.create"]}"#)
            .unwrap_err();
        assert!(err.contains("`event_types[0]`"), "{err}");
        let err =
            krog_sdk::run::<Filter>(&raw(CREATED), r#"{"therapists": ["th_7"]}"#).unwrap_err();
        assert!(err.contains("therapists"), "{err}");
    }
}
