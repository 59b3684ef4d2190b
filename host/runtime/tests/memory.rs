//! Guest memory over a reused instance. krog-sdk's allocator hands a freed block out again only
//! for its own size class, so memory freed as one size is not available to another: this checks
//! that an instance serving many different events does not creep towards its memory limit.

mod common;

use krog_runtime::{FailureKind, Limits, Runtime, RuntimeConfig, catalog, command::parse_event};

/// Configs that take the formatter down different paths (locale, zone, contact details).
const CONFIGS: &[&str] = &[
    r#"{}"#,
    r#"{"locale":"en"}"#,
    r#"{"locale":"en","include_client_contact":true}"#,
    r#"{"timezone":"America/New_York","include_client_contact":true}"#,
    r#"{"locale":"da","timezone":"Asia/Tokyo"}"#,
];

/// The slack component's linear memory starts at 31 wasm pages (1,984 KiB: data, a 1 MiB stack
/// and the heap's first room). Two pages more is all an instance may grow by here.
const MEMORY_LIMIT: usize = 33 * 64 * 1024;

#[test]
fn a_reused_slack_instance_serves_256_mixed_events_without_growing_its_memory() {
    let runtime = Runtime::new(RuntimeConfig {
        instance_reuse: 256,
        limits: Limits {
            memory_bytes: MEMORY_LIMIT,
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("runtime");
    let module = runtime
        .load(catalog::builtin("slack").expect("builtin").wasm)
        .expect("the slack component fits the limit at all (its initial memory grew?)");
    let events: Vec<_> = common::FIXTURES
        .iter()
        .map(|(_, text)| parse_event(text).expect("fixture"))
        .collect();
    for call in 0..256 {
        let event = &events[call % events.len()];
        let config = CONFIGS[(call / events.len()) % CONFIGS.len()];
        match runtime.transform_in("sub_a", &module, event, config) {
            Ok(_) => {}
            Err(failure) if failure.kind == FailureKind::MemoryLimit => panic!(
                "call {call} of one instance ran out of its {MEMORY_LIMIT}-byte memory: \
                 the instance's memory crept up over the calls ({failure})"
            ),
            Err(failure) => panic!("call {call} failed: {failure}"),
        }
    }
}
