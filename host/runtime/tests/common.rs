#![allow(dead_code)]

use std::sync::OnceLock;

use krog_runtime::{EventInput, Module, Runtime, RuntimeConfig, test_plugins};

/// The booking fixtures of `fixtures/`, by name.
pub const FIXTURES: &[(&str, &str)] = &[
    (
        "booking-created",
        include_str!("../../../fixtures/booking-created.json"),
    ),
    (
        "booking-created-online",
        include_str!("../../../fixtures/booking-created-online.json"),
    ),
    (
        "booking-updated",
        include_str!("../../../fixtures/booking-updated.json"),
    ),
    (
        "booking-deleted",
        include_str!("../../../fixtures/booking-deleted.json"),
    ),
];

/// One runtime with default limits, shared by the tests of a binary.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime"))
}

pub fn hostile(runtime: &Runtime) -> Module {
    runtime
        .load(test_plugins::HOSTILE)
        .expect("the hostile plugin loads")
}

pub fn event() -> EventInput {
    EventInput {
        id: "evt_test".to_string(),
        event_type: "booking.created".to_string(),
        timestamp: "2026-11-27T09:30:00Z".to_string(),
        tenant: "acme".to_string(),
        data: r#"{"id":"bk_1"}"#.to_string(),
    }
}

/// The `ok` behaviour still works on this runtime.
pub fn assert_still_ok(runtime: &Runtime) {
    let module = hostile(runtime);
    let execution = runtime
        .transform(&module, &event(), "ok")
        .expect("the ok behaviour succeeds");
    assert_eq!(
        execution.outcome,
        krog_runtime::Outcome::Deliver {
            content_type: "text/plain".to_string(),
            headers: vec![("x-hostile".to_string(), "ok".to_string())],
            body: b"ok booking.created acme".to_vec(),
        }
    );
}
