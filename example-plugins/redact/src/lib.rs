//! `redact`: passes the event envelope `{"type", "timestamp", "data"}` on with personal data
//! removed or masked (GDPR), chosen by JSON pointers into the booking.

use krog_sdk::{Error, Event, Outcome, Plugin, Value};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The redactor.
pub struct Redact;

/// What happens to the data at each path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Remove the field (the default).
    #[default]
    Remove,
    /// Keep the field but mask its value: every string (also inside an object or array at the
    /// path) becomes `***`, except that an e-mail address keeps its domain (`***@example.com`);
    /// numbers and booleans become `***` too; `null` stays `null`.
    Mask,
}

/// Config of the `redact` plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RedactConfig {
    /// JSON pointers (RFC 6901) into the booking object, e.g. `/client/email`. Default:
    /// `/client/email`, `/client/phone`, `/notes`. Paths the booking lacks are ignored. The same
    /// data inside `changes` of an updated booking is redacted too (`/notes` also covers
    /// `/changes/notes`; `/client/email` covers `/changes/client/from/email` and `.../to/email`).
    pub paths: Vec<String>,
    /// `remove` (default) or `mask`.
    pub mode: Mode,
}

impl Default for RedactConfig {
    fn default() -> Self {
        RedactConfig {
            paths: vec![
                "/client/email".to_string(),
                "/client/phone".to_string(),
                "/notes".to_string(),
            ],
            mode: Mode::Remove,
        }
    }
}

impl Plugin for Redact {
    type Config = RedactConfig;
    const NAME: &str = "redact";
    const VERSION: &str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &str =
        "Removes or masks personal data (e-mail, phone, notes, …) before passing the event on.";

    fn transform(event: &Event, config: RedactConfig) -> Result<Outcome, Error> {
        let mut data = event.data().clone();
        for (i, path) in config.paths.iter().enumerate() {
            let tokens = parse_pointer(path).map_err(|why| {
                Error::msg(format!("invalid config at `paths[{i}]`: {path:?} {why}"))
            })?;
            redact(&mut data, &tokens, config.mode);
            if let Some((first, rest)) = tokens.split_first()
                && first != "changes"
            {
                let change = ["changes".to_string(), first.clone()];
                if rest.is_empty() {
                    redact(&mut data, &change, config.mode);
                } else {
                    for side in ["from", "to"] {
                        let mut inner = change.to_vec();
                        inner.push(side.to_string());
                        inner.extend(rest.iter().cloned());
                        redact(&mut data, &inner, config.mode);
                    }
                }
            }
        }
        Outcome::json(&event.envelope_with(data))
    }
}

krog_sdk::export!(Redact);

/// Splits a JSON pointer into its unescaped tokens.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, &'static str> {
    if pointer.is_empty() {
        return Err("points at the whole booking; name a field such as \"/notes\"");
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err("is not a JSON pointer: it must start with `/`, e.g. \"/client/email\"");
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// Removes or masks the value at `tokens` inside `data`; a missing path is ignored.
fn redact(data: &mut Value, tokens: &[String], mode: Mode) {
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut parent = data;
    for token in parents {
        parent = match parent {
            Value::Object(map) => match map.get_mut(token) {
                Some(child) => child,
                None => return,
            },
            Value::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get_mut(i))
            {
                Some(child) => child,
                None => return,
            },
            _ => return,
        };
    }
    match (parent, mode) {
        (Value::Object(map), Mode::Remove) => {
            map.remove(last);
        }
        (Value::Array(items), Mode::Remove) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < items.len()) {
                items.remove(i);
            }
        }
        (Value::Object(map), Mode::Mask) => {
            if let Some(value) = map.get_mut(last) {
                mask(value);
            }
        }
        (Value::Array(items), Mode::Mask) => {
            if let Some(value) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                mask(value);
            }
        }
        _ => {}
    }
}

/// Masks a value in place (see [`Mode::Mask`]).
pub fn mask(value: &mut Value) {
    match value {
        Value::Null => {}
        Value::String(s) => *s = mask_str(s),
        Value::Bool(_) | Value::Number(_) => *value = Value::String("***".to_string()),
        Value::Array(items) => items.iter_mut().for_each(mask),
        Value::Object(map) => map.values_mut().for_each(mask),
    }
}

/// `***`, or `***@domain` for an e-mail address.
fn mask_str(s: &str) -> String {
    match s.rsplit_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.contains(char::is_whitespace) =>
        {
            format!("***@{domain}")
        }
        _ => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use krog_sdk::RawEvent;
    use serde_json::json;

    const CREATED: &str = include_str!("../../../fixtures/booking-created.json");
    const UPDATED: &str = include_str!("../../../fixtures/booking-updated.json");
    const ONLINE: &str = include_str!("../../../fixtures/booking-created-online.json");

    fn raw(envelope: &str) -> RawEvent {
        RawEvent::from_envelope(envelope, "t_test").unwrap()
    }

    fn run(envelope: &str, config: &str) -> Value {
        let out = krog_sdk::run::<Redact>(&raw(envelope), config).unwrap();
        assert_eq!(out.content_type(), Some("application/json"));
        out.body_json().unwrap()
    }

    #[test]
    fn by_default_email_phone_and_notes_are_removed() {
        let out = run(CREATED, "");
        assert_eq!(out["type"], "booking.created");
        assert_eq!(out["timestamp"], "2026-11-27T09:30:12Z");
        assert_eq!(
            out["data"]["client"],
            json!({"id": "cl_3301", "name": "Jens Ødegård"})
        );
        assert!(out["data"].get("notes").is_none());
        let body = out.to_string();
        for secret in [
            "jens.odegaard@example.com",
            "+45 20 12 34 56",
            "Første samtale",
        ] {
            assert!(!body.contains(secret), "{secret} leaked: {body}");
        }
        // Everything else is untouched, the therapist's work e-mail included.
        assert_eq!(
            out["data"]["therapist"]["email"],
            "mette@klinik-noerrebro.dk"
        );
        assert_eq!(out["data"]["service"]["price"]["amount"], 95000);
    }

    #[test]
    fn mask_mode_keeps_the_fields_and_the_email_domain() {
        let out = run(CREATED, r#"{"mode": "mask"}"#);
        assert_eq!(out["data"]["client"]["email"], "***@example.com");
        assert_eq!(out["data"]["client"]["phone"], "***");
        assert_eq!(out["data"]["notes"], "***");
        assert_eq!(out["data"]["client"]["name"], "Jens Ødegård");
    }

    #[test]
    fn missing_paths_are_ignored_and_unknown_fields_kept() {
        let out = run(
            ONLINE,
            r#"{"paths": ["/client/email", "/no/such/path", "/location/url/x"]}"#,
        );
        let original: Value = serde_json::from_str(ONLINE).unwrap();
        assert_eq!(out["data"], original["data"]);
    }

    #[test]
    fn custom_paths_reach_nested_objects_arrays_and_escaped_keys() {
        let envelope = r#"{"type":"booking.created","data":{"client":{"name":"A B","tags":["vip","x"]},"a/b":1,"intake_form":{"answers":12}}}"#;
        let out = run(
            envelope,
            r#"{"paths": ["/client/name", "/client/tags/0", "/a~1b", "/intake_form"]}"#,
        );
        assert_eq!(out["data"], json!({"client": {"tags": ["x"]}}));
        let masked = run(
            envelope,
            r#"{"mode":"mask","paths":["/intake_form","/client"]}"#,
        );
        assert_eq!(
            masked["data"],
            json!({"client":{"name":"***","tags":["***","***"]},"a/b":1,"intake_form":{"answers":"***"}})
        );
    }

    #[test]
    fn the_same_data_inside_changes_is_redacted_too() {
        let envelope = r#"{"type":"booking.updated","data":{"id":"bk_1","notes":"new secret",
            "client":{"email":"new@example.com"},
            "changes":{"notes":{"from":"old secret","to":"new secret"},
                       "client":{"from":{"email":"old@example.com","name":"A"},"to":{"email":"new@example.com","name":"A"}},
                       "start":{"from":"x","to":"y"}}}}"#;
        let out = run(envelope, "");
        let body = out.to_string();
        assert!(
            !body.contains("secret") && !body.contains("@example.com"),
            "{body}"
        );
        assert_eq!(
            out["data"]["changes"],
            json!({"client":{"from":{"name":"A"},"to":{"name":"A"}},"start":{"from":"x","to":"y"}})
        );
        // The fixture's changes (start, end) are left alone.
        let updated = run(UPDATED, "");
        let original: Value = serde_json::from_str(UPDATED).unwrap();
        assert_eq!(updated["data"]["changes"], original["data"]["changes"]);
    }

    #[test]
    fn a_path_that_is_not_a_pointer_is_a_config_error() {
        let err =
            krog_sdk::run::<Redact>(&raw(CREATED), r#"{"paths": ["/notes", "client.email"]}"#)
                .unwrap_err();
        assert!(
            err.contains("`paths[1]`") && err.contains("must start with `/`"),
            "{err}"
        );
        let err = krog_sdk::run::<Redact>(&raw(CREATED), r#"{"mode": "shred"}"#).unwrap_err();
        assert!(err.contains("`mode`"), "{err}");
    }

    #[test]
    fn masking_only_keeps_a_real_looking_domain() {
        assert_eq!(mask_str("a@b.dk"), "***@b.dk");
        assert_eq!(mask_str("@b.dk"), "***");
        assert_eq!(mask_str("not an email"), "***");
    }
}
