//! Guest memory over a reused instance. krog-sdk's allocator hands a freed block out again only
//! for its own size class, so memory freed as one size is not available to another: this checks
//! that an instance serving many different events does not creep towards its memory limit.

mod common;

use common::envelope::parse_event;
use krog_runtime::{FailureKind, Limits, Runtime, RuntimeConfig, catalog};

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

/// A WAT plugin whose `transform` grows its own memory and a second core instance's memory by
/// `pages` each (both start at one page, plus one more for the first), trapping if either
/// growth is refused softly.
fn two_memories_growing_by(pages: usize) -> Vec<u8> {
    common::wat_plugin(
        [1, 1, 1, 2],
        &format!(
            "(if (i32.eq (memory.grow (i32.const {pages})) (i32.const -1)) (then unreachable))
             (if (i32.eq (call $grow_other (i32.const {pages})) (i32.const -1)) (then unreachable))"
        ),
    )
}

#[test]
fn the_memory_limit_caps_all_the_memories_of_a_call_together() {
    const PAGE: usize = 64 * 1024;
    let limit = 64 * PAGE;
    let runtime = Runtime::new(RuntimeConfig {
        limits: Limits {
            memory_bytes: limit,
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("runtime");
    let event = common::event();

    // Two memories of 18 and 17 pages: 55 % of the limit together.
    let module = runtime
        .load(&two_memories_growing_by(16))
        .expect("the WAT plugin loads");
    let execution = runtime.transform(&module, &event, "");
    assert!(execution.is_ok(), "{execution:?}");

    // 38 and 37 pages: each 58-59 % of the limit, 117 % together.
    let module = runtime
        .load(&two_memories_growing_by(36))
        .expect("the WAT plugin loads");
    let failure = runtime
        .transform(&module, &event, "")
        .expect_err("two memories over the limit together");
    assert_eq!(failure.kind, FailureKind::MemoryLimit, "{failure}");
    assert!(failure.message.contains("4 MiB"), "{}", failure.message);
}
