//! `schema-bomb`: delivers the event unchanged; its config schema is the JSON in
//! `KROG_TEST_SCHEMA` at build time.

use std::borrow::Cow;

use krog_sdk::{Error, Event, Outcome, Plugin};
use serde::Deserialize;

/// The plugin.
pub struct SchemaBomb;

/// Any config; its schema is set at build time.
#[derive(Debug, Default, Deserialize)]
pub struct Config {}

impl schemars::JsonSchema for Config {
    fn schema_name() -> Cow<'static, str> {
        "Config".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let text = option_env!("KROG_TEST_SCHEMA").unwrap_or(r#"{"type": "object"}"#);
        let value: serde_json::Value = serde_json::from_str(text).expect("KROG_TEST_SCHEMA is JSON");
        schemars::Schema::try_from(value).expect("KROG_TEST_SCHEMA is a schema object")
    }
}

impl Plugin for SchemaBomb {
    type Config = Config;
    const NAME: &str = "schema-bomb";
    const VERSION: &str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &str = "Carries the config schema it was built with.";

    fn transform(event: &Event, _config: Config) -> Result<Outcome, Error> {
        Ok(Outcome::json(event.data())?)
    }
}

krog_sdk::export!(SchemaBomb);
