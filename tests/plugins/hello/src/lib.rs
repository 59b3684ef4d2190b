//! `hello`: the example of `plugin-sdk/README.md`, word for word — a plugin without config.

use krog_sdk::{Error, Event, Outcome, Plugin};

pub struct Hello;

impl Plugin for Hello {
    type Config = (); // any serde + schemars type with a Default
    const NAME: &str = "hello";
    const VERSION: &str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &str = "Says hello.";

    fn transform(event: &Event, _config: ()) -> Result<Outcome, Error> {
        krog_sdk::info!("booking {}", event.booking.id);
        Outcome::json(&serde_json::json!({"hello": event.booking.client_name()}))
    }
}

krog_sdk::export!(Hello); // or put #[krog_sdk::plugin] on the impl
