//! Every example plugin gives the same outcome natively (`krog_sdk::run`) and through the
//! compiled component in the runtime, for every fixture and a few configs.

mod common;

use common::envelope::parse_event;
use krog_runtime::{EventInput, Outcome, catalog};

/// Both sides mapped to one comparable form; errors compare by presence only.
#[derive(Debug, PartialEq)]
enum Comparable {
    Skip(String),
    Deliver(String, Vec<(String, String)>, Vec<u8>),
    Error,
}

fn native(outcome: Result<krog_sdk::Outcome, String>) -> Comparable {
    match outcome {
        Ok(krog_sdk::Outcome::Skip(reason)) => Comparable::Skip(reason),
        Ok(krog_sdk::Outcome::Deliver {
            content_type,
            headers,
            body,
        }) => Comparable::Deliver(content_type, headers, body),
        Err(_) => Comparable::Error,
    }
}

fn wasm(name: &str, event: &EventInput, config: &str) -> Comparable {
    let runtime = common::runtime();
    let module = runtime
        .load(catalog::builtin(name).expect("builtin").wasm)
        .expect("the builtin loads");
    match runtime.transform(&module, event, config) {
        Ok(execution) => match execution.outcome {
            Outcome::Skip { reason } => Comparable::Skip(reason),
            Outcome::Deliver {
                content_type,
                headers,
                body,
            } => Comparable::Deliver(content_type, headers, body),
        },
        Err(failure) => {
            assert_eq!(
                failure.kind,
                krog_runtime::FailureKind::PluginError,
                "{name}: {failure}"
            );
            Comparable::Error
        }
    }
}

fn raw(event: &EventInput) -> krog_sdk::RawEvent {
    krog_sdk::RawEvent {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        timestamp: event.timestamp.clone(),
        tenant: event.tenant.clone(),
        data: event.data.clone(),
    }
}

fn compare(
    name: &str,
    configs: &[&str],
    run: fn(&krog_sdk::RawEvent, &str) -> Result<krog_sdk::Outcome, String>,
) {
    let mut compared = 0;
    for (fixture, text) in common::FIXTURES {
        let event = parse_event(text).expect("fixture parses");
        for config in configs {
            let expected = native(run(&raw(&event), config));
            let actual = wasm(name, &event, config);
            assert_eq!(actual, expected, "{name} on {fixture} with {config}");
            compared += 1;
        }
    }
    assert_eq!(compared, common::FIXTURES.len() * configs.len());
}

#[test]
fn slack_gives_the_same_outcome_natively_and_as_wasm() {
    compare(
        "slack",
        &[
            "{}",
            r#"{"locale":"en"}"#,
            r#"{"locale":"da","timezone":"America/New_York","include_client_contact":true,"include_notes":true}"#,
            r#"{"locale":"xx"}"#,
        ],
        krog_sdk::run::<krog_plugin_slack::Slack>,
    );
}

#[test]
fn sheets_gives_the_same_outcome_natively_and_as_wasm() {
    compare(
        "sheets",
        &[
            "{}",
            r#"{"columns":["booking_id","client_email","notes"]}"#,
            "not json",
        ],
        krog_sdk::run::<krog_plugin_sheets::Sheets>,
    );
}

#[test]
fn filter_gives_the_same_outcome_natively_and_as_wasm() {
    compare(
        "filter",
        &[
            "{}",
            r#"{"event_types":["booking.created"]}"#,
            r#"{"therapist_ids":["th_7"],"statuses":["confirmed"]}"#,
            r#"{"service_ids":["nope"]}"#,
        ],
        krog_sdk::run::<krog_plugin_filter::Filter>,
    );
}

#[test]
fn redact_gives_the_same_outcome_natively_and_as_wasm() {
    compare(
        "redact",
        &[
            "{}",
            r#"{"mode":"mask"}"#,
            r#"{"paths":["/therapist/email"],"mode":"remove"}"#,
        ],
        krog_sdk::run::<krog_plugin_redact::Redact>,
    );
}

#[test]
fn every_builtin_loads_and_names_itself() {
    let runtime = common::runtime();
    // The JavaScript and Python ones are checked in guests.rs, on a cache of their compiles.
    for builtin in catalog::builtins()
        .iter()
        .filter(|b| !["teams", "reminder"].contains(&b.name))
    {
        let module = runtime.load(builtin.wasm).expect(builtin.name);
        let info = runtime.info(&module).expect(builtin.name);
        assert_eq!(info.name, builtin.name);
        assert!(info.config_schema.is_object(), "{}", builtin.name);
    }
    assert!(catalog::builtin("nope").is_none());
}
