//! Every failure kind, with the real hostile component; after each, the runtime still works.

mod common;

use std::time::Duration;

use common::{assert_still_ok, event, hostile, runtime};
use krog_runtime::{FailureKind, Limits, Runtime, RuntimeConfig};
use krog_test_components as test_plugins;

fn fail(runtime: &Runtime, behaviour: &str) -> krog_runtime::PluginFailure {
    let module = hostile(runtime);
    match runtime.transform(&module, &event(), behaviour) {
        Ok(execution) => panic!("{behaviour}: expected a failure, got {execution:?}"),
        Err(failure) => failure,
    }
}

fn runtime_with(limits: Limits) -> Runtime {
    Runtime::new(RuntimeConfig {
        limits,
        cache_dir: None,
        ..Default::default()
    })
    .expect("runtime")
}

#[test]
fn an_endless_loop_runs_out_of_the_default_fuel() {
    // The default fuel, and a wall-clock limit no busy machine reaches first: fuel is counted
    // in instructions, so running out of it is the one outcome whatever the machine's speed,
    // while the default 100 ms can pass first on two shared cores (the time it took is printed
    // for BENCHMARKS.md, "Guests: what a transform costs in each language"; a loop with no fuel
    // limit is the timeout's test below).
    let runtime = runtime_with(Limits {
        timeout: Duration::from_secs(60),
        ..Limits::default()
    });
    let failure = fail(&runtime, "loop");
    assert_eq!(failure.kind, FailureKind::OutOfFuel, "{failure}");
    assert_eq!(failure.fuel_consumed, Limits::default().fuel);
    assert!(
        failure.message.contains("200000000 units"),
        "{}",
        failure.message
    );
    eprintln!("200M fuel burnt in {:?}", failure.duration);
    assert_still_ok(&runtime);
}

#[test]
fn an_endless_loop_with_unlimited_fuel_is_stopped_by_the_timeout() {
    let runtime = runtime_with(Limits {
        fuel: 1 << 60,
        timeout: Duration::from_millis(50),
        ..Limits::default()
    });
    let failure = fail(&runtime, "loop");
    assert_eq!(failure.kind, FailureKind::Timeout, "{failure}");
    assert!(failure.message.contains("50 ms"), "{}", failure.message);
    assert!(
        failure.duration >= Duration::from_millis(50),
        "{:?}",
        failure.duration
    );
    // Stopped near the deadline, not when the loop would end (never): the bound is wide
    // because the epoch thread and the call share two busy cores with the other tests.
    assert!(
        failure.duration < Duration::from_secs(5),
        "{:?}",
        failure.duration
    );
    assert_still_ok(&runtime);
}

#[test]
fn a_small_fuel_budget_stops_a_loop_as_out_of_fuel() {
    let runtime = runtime_with(Limits {
        fuel: 2_000_000,
        ..Limits::default()
    });
    let failure = fail(&runtime, "loop");
    assert_eq!(failure.kind, FailureKind::OutOfFuel, "{failure}");
    assert_eq!(failure.fuel_consumed, 2_000_000);
    assert_still_ok(&runtime);
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    // Touching 64 MiB takes tens of milliseconds in an unoptimised test build while the other
    // tests load the cores, so the deadline is relaxed here: this test is about memory.
    let runtime = runtime_with(Limits {
        timeout: Duration::from_secs(5),
        ..Limits::default()
    });
    let failure = fail(&runtime, "memory");
    assert_eq!(failure.kind, FailureKind::MemoryLimit, "{failure}");
    assert!(failure.message.contains("64 MiB"), "{}", failure.message);
    assert_still_ok(&runtime);
}

#[test]
fn endless_recursion_is_a_trap() {
    let runtime = runtime();
    let failure = fail(runtime, "recursion");
    assert_eq!(failure.kind, FailureKind::Trap, "{failure}");
    assert_still_ok(runtime);
}

#[test]
fn a_panic_is_a_trap_that_quotes_the_panic_message() {
    let runtime = runtime();
    let failure = fail(runtime, "panic");
    assert_eq!(failure.kind, FailureKind::Trap, "{failure}");
    assert!(
        failure
            .message
            .contains("boom: the plugin panicked on purpose"),
        "{}",
        failure.message
    );
    assert!(
        failure.logs.iter().any(|l| l.level == "stderr"),
        "{:?}",
        failure.logs
    );
    assert_still_ok(runtime);
}

#[test]
fn a_ten_mebibyte_body_is_output_too_large() {
    // A generous timeout: in the unoptimised test build, copying 10 MiB out of the guest takes
    // longer than 100 ms, and the epoch check on the post-return call would report a timeout.
    let runtime = &runtime_with(Limits {
        timeout: Duration::from_secs(10),
        ..Limits::default()
    });
    let failure = fail(runtime, "big");
    assert_eq!(failure.kind, FailureKind::OutputTooLarge, "{failure}");
    assert!(failure.message.contains("10485760"), "{}", failure.message);
    assert_still_ok(runtime);
}

#[test]
fn a_webhook_signature_header_is_refused_as_reserved() {
    let runtime = runtime();
    let failure = fail(runtime, "reserved-header");
    assert_eq!(failure.kind, FailureKind::ReservedHeader, "{failure}");
    assert!(
        failure.message.contains("webhook-signature"),
        "{}",
        failure.message
    );
    assert_still_ok(runtime);
}

#[test]
fn the_plugins_own_error_is_a_plugin_error() {
    let runtime = runtime();
    let failure = fail(runtime, "err");
    assert_eq!(failure.kind, FailureKind::PluginError);
    assert_eq!(failure.message, "the plugin said no");
    assert_eq!(failure.to_string(), "plugin_error: the plugin said no");
    assert_still_ok(runtime);
}

fn refuse(wasm: &[u8]) -> krog_runtime::PluginFailure {
    match runtime().load(wasm) {
        Ok(module) => panic!("expected a refusal, loaded {module:?}"),
        Err(failure) => failure,
    }
}

#[test]
fn a_core_module_is_refused_with_a_hint_to_build_a_component() {
    let wasm = wat::parse_str("(module)").unwrap();
    let failure = refuse(&wasm);
    assert_eq!(failure.kind, FailureKind::InvalidModule);
    assert!(
        failure
            .message
            .contains("core WebAssembly module, not a component")
    );
    assert!(
        failure
            .message
            .contains("cargo build --target wasm32-wasip2")
    );
    assert_still_ok(runtime());
}

#[test]
fn a_component_of_another_world_is_refused_naming_the_missing_export() {
    let failure = refuse(test_plugins::WRONG_WORLD);
    assert_eq!(failure.kind, FailureKind::InvalidModule);
    assert!(failure.message.contains("`info`"), "{}", failure.message);
    assert!(failure.message.contains("hello"), "{}", failure.message);
    assert_still_ok(runtime());
}

#[test]
fn an_import_krog_does_not_provide_is_refused_by_name() {
    let wasm = wat::parse_str(
        r#"(component
            (import "wasi:http/outgoing-handler@0.2.0" (instance))
        )"#,
    )
    .unwrap();
    let failure = refuse(&wasm);
    assert_eq!(failure.kind, FailureKind::InvalidModule);
    assert!(
        failure.message.contains("wasi:http/outgoing-handler"),
        "{}",
        failure.message
    );
}

#[test]
fn garbage_bytes_are_an_invalid_module() {
    let failure = refuse(b"this is not wasm at all");
    assert_eq!(failure.kind, FailureKind::InvalidModule);
    let mut truncated = test_plugins::HOSTILE[..1000].to_vec();
    truncated.extend_from_slice(b"garbage");
    let failure = refuse(&truncated);
    assert_eq!(failure.kind, FailureKind::InvalidModule, "{failure}");
    assert!(
        failure.message.contains("does not compile"),
        "{}",
        failure.message
    );
    assert_still_ok(runtime());
}

#[test]
fn a_module_over_the_size_limit_is_refused_before_compiling() {
    let runtime = runtime_with(Limits {
        max_module_bytes: 1000,
        ..Limits::default()
    });
    let failure = runtime.load(test_plugins::HOSTILE).unwrap_err();
    assert_eq!(failure.kind, FailureKind::ModuleTooLarge);
    assert!(
        failure.message.contains("limit is 1000 bytes"),
        "{}",
        failure.message
    );
    assert_eq!(runtime.stats().compiled, 0);
}

#[test]
fn info_describes_the_plugin_and_parses_its_schema() {
    let runtime = runtime();
    let info = runtime.info(&hostile(runtime)).unwrap();
    assert_eq!(info.name, "hostile");
    assert_eq!(info.config_schema["type"], "string");
}

#[test]
fn loading_the_same_bytes_twice_compiles_once() {
    let runtime = runtime_with(Limits::default());
    let a = runtime.load(test_plugins::HOSTILE).unwrap();
    let b = runtime.load(test_plugins::HOSTILE).unwrap();
    assert_eq!(a.sha256(), b.sha256());
    assert_eq!(a.size(), test_plugins::HOSTILE.len());
    assert_eq!(runtime.stats().compiled, 1);
    assert!(runtime.get(a.sha256()).is_some());
    assert!(runtime.get("00").is_none());
}

#[test]
fn a_plugin_sleeping_in_wasi_is_stopped_by_the_deadline() {
    let runtime = runtime();
    let started = std::time::Instant::now();
    let failure = fail(runtime, "sleep-long");
    let took = started.elapsed();
    assert_eq!(failure.kind, FailureKind::Timeout, "{failure}");
    assert!(
        took < Duration::from_secs(1),
        "the sleep held the thread for {took:?}"
    );
    assert_still_ok(runtime);
}
