#![allow(dead_code)]

use std::sync::OnceLock;

use krog_runtime::{EventInput, Module, Runtime, RuntimeConfig};
use krog_test_components as test_plugins;

#[path = "common/envelope.rs"]
pub mod envelope;

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

/// A component of krog's `transformer` world written in WAT, for what a Rust plugin cannot do.
///
/// `info` returns a name, version, description and config schema of the given lengths in bytes
/// (all `a`s). `transform` runs `body` (core WAT instructions; `$grow_other` grows a second
/// core instance's own linear memory by its argument in pages and returns the old size, or -1,
/// like `memory.grow`), then skips with an empty reason.
pub fn wat_plugin(info_lengths: [usize; 4], body: &str) -> Vec<u8> {
    const PAGE: usize = 64 * 1024;
    // The strings go from the second page on; the first holds the returned records and the
    // bump allocator's heap.
    let total: usize = info_lengths.iter().sum();
    let pages = 2 + total / PAGE;
    let mut records = String::new();
    let mut at = PAGE;
    for (i, length) in info_lengths.iter().enumerate() {
        records.push_str(&format!(
            "(i32.store (i32.const {}) (i32.const {at})) (i32.store (i32.const {}) (i32.const {length}))\n",
            16 + 8 * i,
            20 + 8 * i,
        ));
        at += length;
    }
    let wat = format!(
        r#"(component
  (core module $other
    (memory 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
  (core module $main
    (import "other" "grow" (func $grow_other (param i32) (result i32)))
    (memory (export "memory") {pages})
    (global $heap (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $at) (local.get 3)))
      (local.get $at))
    (func (export "info") (result i32)
      (memory.fill (i32.const {PAGE}) (i32.const 97) (i32.const {total}))
      {records}
      (i32.const 16))
    (func (export "transform")
      (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      {body}
      ;; ok(skip("")): result tag, outcome tag, then the reason's pointer and length.
      (i32.store8 (i32.const 64) (i32.const 0))
      (i32.store8 (i32.const 68) (i32.const 0))
      (i32.store (i32.const 72) (i32.const 0))
      (i32.store (i32.const 76) (i32.const 0))
      (i32.const 64)))
  (core instance $o (instantiate $other))
  (core instance $m (instantiate $main (with "other" (instance $o))))
  (type $event' (record
    (field "id" string) (field "event-type" string) (field "timestamp" string)
    (field "tenant" string) (field "data" string)))
  (export $event "event" (type $event'))
  (type $request' (record
    (field "content-type" string)
    (field "headers" (list (tuple string string)))
    (field "body" (list u8))))
  (export $request "request" (type $request'))
  (type $outcome' (variant (case "skip" string) (case "deliver" $request)))
  (export $outcome "outcome" (type $outcome'))
  (type $info' (record
    (field "name" string) (field "version" string) (field "description" string)
    (field "config-schema" string)))
  (export $info "plugin-info" (type $info'))
  (func $info-func (result $info)
    (canon lift (core func $m "info") (memory (core memory $m "memory"))))
  (export "info" (func $info-func))
  (func $transform-func (param "event" $event) (param "config" string)
    (result (result $outcome (error string)))
    (canon lift (core func $m "transform") (memory (core memory $m "memory"))
      (realloc (core func $m "realloc"))))
  (export "transform" (func $transform-func))
)"#
    );
    wat::parse_str(wat).expect("the WAT plugin parses")
}

/// `test-plugins/hostile-js`: the JavaScript hostile guest (prebuilt, see
/// scripts/build-guest-plugins.sh), behaviour chosen by the config (a JSON string).
pub const HOSTILE_JS: &[u8] = include_bytes!("../../../test-plugins/prebuilt/hostile-js.wasm");
/// `test-plugins/hostile-py`: the same in Python.
pub const HOSTILE_PY: &[u8] = include_bytes!("../../../test-plugins/prebuilt/hostile-py.wasm");

/// A fixture as the event a plugin gets.
pub fn fixture(name: &str) -> EventInput {
    let (_, text) = FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    envelope::parse_event(text).expect("the fixture parses")
}

/// A cache of compiled components shared by the runtime's test binaries (content addressed, so
/// sharing is safe), for components too slow to compile in each: the Python ones.
pub fn shared_cache_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifact-cache-runtime")
}

/// The MAC key of [`shared_cache_dir`]'s artifacts.
pub const SHARED_CACHE_KEY: [u8; 32] = [9; 32];
