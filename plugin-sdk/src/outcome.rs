//! What a plugin decides for one event.

use serde::Serialize;

use crate::Error;

/// What a plugin decides for one event (`krog:plugin/types.outcome`).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Filtered out: nothing is sent; the reason is recorded on the delivery.
    Skip(String),
    /// Send this request body to the subscriber (krog signs it and POSTs it).
    Deliver {
        /// The `content-type` of the body.
        content_type: String,
        /// Extra headers. `webhook-*`, `host`, `content-length`, `content-type`, `proxy-*` and
        /// hop-by-hop headers are refused (see [`check_header`]).
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
}

/// Checks that a plugin may set this header, with the rule krog applies (`krog-rules`): a valid
/// name, not one krog sets (`webhook-*`, `host`, `content-length`, `proxy-*`, hop-by-hop) nor
/// `content-type` (it has its own field), and a value without control characters other than tab.
/// The error's message is the one krog records. [`run`](crate::run) applies it to every outcome,
/// so a mistake shows up in a native unit test, not only in krog.
pub fn check_header(name: &str, value: &str) -> Result<(), Error> {
    krog_rules::check_header(name, value).map_err(|refusal| Error::msg(refusal.message))
}

impl Outcome {
    /// Skip the event; `reason` is recorded on the delivery.
    pub fn skip(reason: impl Into<String>) -> Outcome {
        Outcome::Skip(reason.into())
    }

    /// Deliver `body` with this content type and no extra headers.
    pub fn deliver(content_type: impl Into<String>, body: impl Into<Vec<u8>>) -> Outcome {
        Outcome::Deliver {
            content_type: content_type.into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Deliver `value` serialized as JSON, with content type `application/json`.
    pub fn json(value: &impl Serialize) -> Result<Outcome, Error> {
        Ok(Outcome::deliver(
            "application/json",
            serde_json::to_vec(value)?,
        ))
    }

    /// Adds an extra header to a [`Outcome::Deliver`] (a [`Outcome::Skip`] is returned as is).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Outcome {
        if let Outcome::Deliver { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// Whether this is a [`Outcome::Skip`].
    pub fn is_skip(&self) -> bool {
        matches!(self, Outcome::Skip(_))
    }

    /// The skip reason, if this is a [`Outcome::Skip`].
    pub fn skip_reason(&self) -> Option<&str> {
        match self {
            Outcome::Skip(reason) => Some(reason),
            Outcome::Deliver { .. } => None,
        }
    }

    /// The content type, if this is a [`Outcome::Deliver`].
    pub fn content_type(&self) -> Option<&str> {
        match self {
            Outcome::Deliver { content_type, .. } => Some(content_type),
            Outcome::Skip(_) => None,
        }
    }

    /// The body, if this is a [`Outcome::Deliver`].
    pub fn body(&self) -> Option<&[u8]> {
        match self {
            Outcome::Deliver { body, .. } => Some(body),
            Outcome::Skip(_) => None,
        }
    }

    /// The body parsed as JSON — handy in tests. Fails for a skip or a non-JSON body.
    pub fn body_json(&self) -> Result<serde_json::Value, Error> {
        let body = self
            .body()
            .ok_or_else(|| Error::msg("the outcome is a skip, not a delivery"))?;
        Ok(serde_json::from_slice(body)?)
    }

    /// Checks a delivery's head as krog does (`krog-rules`): the number and size of the headers,
    /// the content type, then every header with [`check_header`]. The body's size is not checked
    /// here: its limit is the operator's ([`krog_rules::DEFAULT_MAX_OUTPUT_BYTES`] by default).
    pub fn check(&self) -> Result<(), Error> {
        if let Outcome::Deliver {
            content_type,
            headers,
            ..
        } = self
        {
            krog_rules::check_head(content_type, headers)
                .map_err(|refusal| Error::msg(refusal.message))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_outcomes_have_the_json_content_type() {
        let o = Outcome::json(&json!({"a": 1}))
            .unwrap()
            .with_header("x-a", "b");
        assert_eq!(o.content_type(), Some("application/json"));
        assert_eq!(o.body_json().unwrap(), json!({"a": 1}));
        assert_eq!(
            o,
            Outcome::Deliver {
                content_type: "application/json".into(),
                headers: vec![("x-a".into(), "b".into())],
                body: br#"{"a":1}"#.to_vec()
            }
        );
    }

    #[test]
    fn reserved_headers_are_refused() {
        for name in [
            "Webhook-Signature",
            "host",
            "Content-Length",
            "Transfer-Encoding",
        ] {
            assert!(check_header(name, "x").is_err(), "{name}");
        }
        assert!(check_header("x-ok", "fine").is_ok());
        assert!(check_header("bad name", "x").is_err());
        assert!(check_header("x-a", "a\r\nb").is_err());
    }

    #[test]
    fn a_skip_ignores_headers() {
        let o = Outcome::skip("nope").with_header("x-a", "b");
        assert_eq!(o, Outcome::Skip("nope".into()));
        assert_eq!(o.skip_reason(), Some("nope"));
    }
}
