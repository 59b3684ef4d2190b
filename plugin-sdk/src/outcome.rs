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
        /// Extra headers. `webhook-*`, `host`, `content-length` and hop-by-hop headers are
        /// refused (see [`check_header`]).
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
}

/// Headers a plugin may not set: krog owns them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Checks that a plugin may set this header: not `webhook-*`, `host`, `content-length` or a
/// hop-by-hop header, and a syntactically valid name and value. [`run`](crate::run) applies it
/// to every outcome, so a mistake shows up in a native unit test, not only in krog.
pub fn check_header(name: &str, value: &str) -> Result<(), Error> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("webhook-") || RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(Error::msg(format!(
            "a plugin may not set the `{name}` header: krog sets it"
        )));
    }
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(Error::msg(format!("invalid header name {name:?}")));
    }
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(Error::msg(format!(
            "invalid value for header `{name}`: it contains a line break or NUL"
        )));
    }
    Ok(())
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

    /// Checks every header with [`check_header`].
    pub fn check(&self) -> Result<(), Error> {
        if let Outcome::Deliver { headers, .. } = self {
            for (name, value) in headers {
                check_header(name, value)?;
            }
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
