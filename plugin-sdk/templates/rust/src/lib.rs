use krog_sdk::{Error, Event, EventType, Outcome, Plugin};
use serde::Deserialize;

/// Greets new clients in plain text.
pub struct Greeter;

/// The subscription's config (its JSON Schema is shown to users and checked by krog).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Put before the client's name (default `Hello`).
    pub greeting: Option<String>,
}

impl Plugin for Greeter {
    type Config = Config;
    const NAME: &str = "{{name}}";
    const VERSION: &str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &str = "Greets new clients in plain text.";

    fn transform(event: &Event, config: Config) -> Result<Outcome, Error> {
        if event.event_type != EventType::BookingCreated {
            return Ok(Outcome::skip("only new bookings are greeted"));
        }
        krog_sdk::info!("greeting booking {}", event.booking.id);
        let greeting = config.greeting.as_deref().unwrap_or("Hello");
        Ok(Outcome::deliver(
            "text/plain; charset=utf-8",
            format!("{greeting}, {}!", event.booking.client_name()),
        ))
    }
}

krog_sdk::export!(Greeter);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_booking_is_greeted() {
        let event = krog_sdk::RawEvent::from_envelope(include_str!("../event.json"), "local").unwrap();
        let out = krog_sdk::run::<Greeter>(&event, r#"{"greeting": "Hej"}"#).unwrap();
        assert_eq!(out.body(), Some("Hej, Jens Ødegård!".as_bytes()));
    }
}
