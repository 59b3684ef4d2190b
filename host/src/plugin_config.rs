//! A transform's config, read one way by both the service (saving a subscription, a dry run)
//! and `krog plugin run`: it is JSON (text that is not is refused, never handed to the plugin);
//! an absent config means the schema's default; and it must fit the plugin's config schema,
//! checked within bounds ([`crate::schema`]).

use serde_json::Value;

use crate::schema::SchemaError;

/// Why a config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text is not JSON.
    #[error(
        "the config is not valid JSON ({0}); write it as JSON, e.g. '{{\"locale\": \"en\"}}' \
         (keys and strings in double quotes)"
    )]
    NotJson(String),
    /// The config does not fit the schema; one line per problem.
    #[error("the config does not fit the module's config schema: {}", .0.join("; "))]
    DoesNotFit(Vec<String>),
    /// The schema cannot be used to check anything.
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// Parses config text given on a command line or in a file.
pub fn parse(text: &str) -> Result<Value, ConfigError> {
    serde_json::from_str(text).map_err(|e| ConfigError::NotJson(e.to_string()))
}

/// The config a plugin gets when none is given: the schema's `default`; without one, `null`
/// when the schema's type is null (a plugin without config, `type Config = ()`), else `{}`.
pub fn default_for(schema: Option<&Value>) -> Value {
    let Some(schema) = schema.filter(|s| s.is_object()) else {
        return Value::Object(Default::default());
    };
    if let Some(default) = schema.get("default") {
        return default.clone();
    }
    let null_only = match schema.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(types)) => types.iter().all(|t| t == "null"),
        _ => false,
    };
    if null_only {
        Value::Null
    } else {
        Value::Object(Default::default())
    }
}

/// The config to run with: `given`, or the schema's default when absent, checked against the
/// plugin's `schema` (a module that declares none accepts any JSON).
pub async fn resolve(schema: Option<&Value>, given: Option<Value>) -> Result<Value, ConfigError> {
    let config = given.unwrap_or_else(|| default_for(schema));
    if let Some(schema) = schema.filter(|s| s.is_object()) {
        let problems = crate::schema::validate(schema.clone(), config.clone()).await?;
        if !problems.is_empty() {
            return Err(ConfigError::DoesNotFit(problems));
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_absent_config_is_the_schemas_default() {
        let unit = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "null", "type": "null"});
        assert_eq!(default_for(Some(&unit)), Value::Null);
        let object = json!({"type": "object", "properties": {"locale": {"type": "string"}}});
        assert_eq!(default_for(Some(&object)), json!({}));
        let declared = json!({"type": "object", "default": {"locale": "da"}});
        assert_eq!(default_for(Some(&declared)), json!({"locale": "da"}));
        assert_eq!(default_for(None), json!({}));
    }

    #[test]
    fn text_that_is_not_json_is_refused_with_an_example() {
        let why = parse("{locale:en}").unwrap_err().to_string();
        assert!(why.contains("not valid JSON"), "{why}");
        assert!(why.contains(r#"{"locale": "en"}"#), "{why}");
        assert_eq!(
            parse(r#"{"locale": "en"}"#).unwrap(),
            json!({"locale": "en"})
        );
    }
}
