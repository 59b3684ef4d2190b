//! The checks of a plugin's outcome, with the rules the plugin SDK applies natively
//! (`krog-rules`), and the event as it crosses the WIT boundary.

use super::*;

/// The wit form of an event (the strings are copied into the guest anyway).
pub(crate) fn wit_event(event: &EventInput) -> wit::Event {
    wit::Event {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        timestamp: event.timestamp.clone(),
        tenant: event.tenant.clone(),
        data: event.data.clone(),
    }
}

pub(crate) fn check_outcome(
    outcome: wit::Outcome,
    limits: &Limits,
) -> Result<Outcome, (FailureKind, String)> {
    let request = match outcome {
        wit::Outcome::Skip(reason) => {
            return Ok(Outcome::Skip {
                reason: truncate(&reason, MAX_REASON_BYTES),
            });
        }
        wit::Outcome::Deliver(request) => request,
    };
    let refused = |r: krog_rules::Refusal| (r.kind, r.message);
    krog_rules::check_body_size(request.body.len(), limits.max_output_bytes).map_err(refused)?;
    let content_type = krog_rules::check_head(&request.content_type, &request.headers)
        .map_err(refused)?
        .to_string();
    Ok(Outcome::Deliver {
        content_type,
        headers: request.headers,
        body: request.body,
    })
}

#[cfg(test)]
mod output_properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    fn config() -> Config {
        Config {
            cases: 512,
            rng_seed: RngSeed::Fixed(0x6865_6164),
            failure_persistence: None,
            ..Config::default()
        }
    }

    /// Header names and values as a plugin might write them: tokens, reserved names in any
    /// case, and arbitrary text with control characters.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}",
            prop_oneof![
                Just("Webhook-Signature"),
                Just("HOST"),
                Just("content-length"),
                Just("Content-Type"),
                Just("Proxy-Authorization"),
                Just("transfer-encoding"),
                Just("Connection"),
            ]
            .prop_map(str::to_owned),
            ".{0,12}",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof!["[ -~]{0,40}", ".{0,20}", "[\t\r\n\0a-z]{0,8}"]
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn headers_krog_accepts_are_valid_http_and_never_its_own(
            headers in prop::collection::vec((name(), value()), 0..6),
            content_type in prop_oneof![Just("application/json".to_owned()), ".{0,30}"],
        ) {
            let outcome = wit::Outcome::Deliver(wit::Request {
                content_type: content_type.clone(),
                headers: headers.clone(),
                body: b"{}".to_vec(),
            });
            match check_outcome(outcome, &Limits::default()) {
                Ok(Outcome::Deliver { content_type, headers, .. }) => {
                    prop_assert!(http::HeaderValue::from_str(&content_type).is_ok());
                    for (name, value) in &headers {
                        prop_assert!(http::HeaderName::from_bytes(name.as_bytes()).is_ok(), "{name:?}");
                        prop_assert!(http::HeaderValue::from_str(value).is_ok(), "{value:?}");
                        let lower = name.to_ascii_lowercase();
                        prop_assert!(!lower.starts_with("webhook-") && !lower.starts_with("proxy-"));
                        prop_assert!(!["host", "content-length", "content-type", "connection", "transfer-encoding"].contains(&lower.as_str()));
                    }
                }
                Ok(Outcome::Skip { .. }) => prop_assert!(false, "a delivery became a skip"),
                Err((kind, message)) => {
                    prop_assert!(matches!(kind, FailureKind::ReservedHeader | FailureKind::InvalidOutput | FailureKind::OutputTooLarge), "{kind:?}");
                    prop_assert!(!message.is_empty());
                }
            }
        }
    }
}
