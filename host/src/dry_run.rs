//! The JSON object of a dry run, shared by `krog plugin run --json` and the HTTP dry run.

use base64::Engine as _;
use serde_json::json;
use std::time::Duration;

use crate::runtime::{Execution, Outcome, PluginFailure};

/// The `krog plugin run --json` object, shared by the CLI and the HTTP dry run.
///
/// Success: `{"outcome": "deliver", "content_type", "headers": [[name, value], …], "body"` (when
/// the body is UTF-8) or `"body_base64"` (otherwise)`, "logs", "duration_us", "fuel_consumed"}`,
/// or `{"outcome": "skip", "reason", "logs", "duration_us", "fuel_consumed"}`. Headers are a
/// list of pairs, so order and repeated names survive.
///
/// Failure: `{"outcome": "error", "error": {"kind", "message"}, "logs", "duration_us",
/// "fuel_consumed"}`.
pub fn dry_run_json(result: &Result<Execution, PluginFailure>) -> serde_json::Value {
    match result {
        Ok(execution) => {
            let mut object = match &execution.outcome {
                Outcome::Skip { reason } => json!({"outcome": "skip", "reason": reason}),
                Outcome::Deliver {
                    content_type,
                    headers,
                    body,
                } => {
                    let mut object = json!({
                        "outcome": "deliver",
                        "content_type": content_type,
                        "headers": headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                    });
                    match std::str::from_utf8(body) {
                        Ok(text) => object["body"] = json!(text),
                        Err(_) => {
                            object["body_base64"] =
                                json!(base64::engine::general_purpose::STANDARD.encode(body))
                        }
                    }
                    object
                }
            };
            object["logs"] = json!(execution.logs);
            object["duration_us"] = json!(duration_us(execution.duration));
            object["fuel_consumed"] = json!(execution.fuel_consumed);
            object
        }
        Err(failure) => json!({
            "outcome": "error",
            "error": {"kind": failure.kind, "message": failure.message},
            "logs": failure.logs,
            "duration_us": duration_us(failure.duration),
            "fuel_consumed": failure.fuel_consumed,
        }),
    }
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
