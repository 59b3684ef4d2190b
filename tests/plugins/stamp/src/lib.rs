//! `stamp`: a small custom transform. It sends `{"stamp", "booking", "event"}` with an
//! `x-stamp` header, and skips cancelled bookings.

use krog_sdk::{Error, Event, Outcome, Plugin};
use serde::Deserialize;

/// The plugin.
pub struct Stamp;

/// Its config.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StampConfig {
    /// Put in the body and the `x-stamp` header.
    pub stamp: String,
}

impl Plugin for Stamp {
    type Config = StampConfig;
    const NAME: &str = "stamp";
    const VERSION: &str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &str = "Stamps each booking event with a word.";

    fn transform(event: &Event, config: StampConfig) -> Result<Outcome, Error> {
        if event.data()["status"] == "cancelled" {
            return Ok(Outcome::skip("cancelled bookings are not stamped"));
        }
        krog_sdk::info!("stamping {}", event.booking.id);
        let body = serde_json::json!({
            "stamp": config.stamp,
            "booking": event.booking.id,
            "event": event.event_type.as_str(),
        });
        Ok(Outcome::json(&body)?.with_header("x-stamp", config.stamp))
    }
}

krog_sdk::export!(Stamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booking_is_stamped() {
        let raw = krog_sdk::RawEvent {
            event_type: "booking.created".into(),
            data: r#"{"id": "bk_1", "status": "confirmed"}"#.into(),
            ..Default::default()
        };
        let out = krog_sdk::run::<Stamp>(&raw, r#"{"stamp": "hej"}"#).unwrap();
        let body: serde_json::Value = serde_json::from_slice(out.body().unwrap()).unwrap();
        assert_eq!(body["stamp"], "hej");
        assert_eq!(body["booking"], "bk_1");
    }
}
