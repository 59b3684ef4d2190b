//! The `#[krog_sdk::plugin]` attribute: the impl still works and the plugin is exported.

use krog_sdk::{Error, Event, Outcome, Plugin, RawEvent};

/// A plugin exported through the attribute.
pub struct Attributed;

#[krog_sdk::plugin]
impl Plugin for Attributed {
    type Config = ();
    const NAME: &str = "attributed";
    const VERSION: &str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &str = "Tests the attribute.";

    fn transform(event: &Event, _config: ()) -> Result<Outcome, Error> {
        Ok(Outcome::skip(format!("saw {}", event.booking.id)))
    }
}

#[test]
fn the_attribute_keeps_the_impl_usable() {
    let raw = RawEvent {
        data: r#"{"id":"bk_9"}"#.into(),
        ..RawEvent::default()
    };
    assert_eq!(
        krog_sdk::run::<Attributed>(&raw, "").unwrap(),
        Outcome::skip("saw bk_9")
    );
    assert_eq!(krog_sdk::info::<Attributed>().name, "attributed");
}

#[test]
fn a_unit_config_accepts_nothing_null_and_an_empty_object() {
    let raw = RawEvent {
        data: "{}".into(),
        ..RawEvent::default()
    };
    for config in ["", "null", "{}", " { } "] {
        assert!(
            krog_sdk::run::<Attributed>(&raw, config).is_ok(),
            "{config:?}"
        );
    }
    assert!(krog_sdk::run::<Attributed>(&raw, r#"{"x": 1}"#).is_err());
}
