//! Instance reuse: an instance serves later events of its own scope only, a bounded number of
//! times, and never after a failure.

mod common;

use common::{event, hostile};
use krog_runtime::{Outcome, Runtime, RuntimeConfig};

fn runtime(reuse: usize) -> Runtime {
    Runtime::new(RuntimeConfig {
        instance_reuse: reuse,
        ..Default::default()
    })
    .expect("runtime")
}

/// What the `count` behaviour says: how often its instance has been called.
fn count(runtime: &Runtime, scope: &str) -> String {
    let module = hostile(runtime);
    match runtime.transform_in(scope, &module, &event(), "count") {
        Ok(execution) => match execution.outcome {
            Outcome::Deliver { body, .. } => String::from_utf8(body).unwrap(),
            other => panic!("expected a delivery, got {other:?}"),
        },
        Err(failure) => panic!("count failed: {failure}"),
    }
}

#[test]
fn an_instance_is_reused_for_its_scope_up_to_the_limit_then_replaced() {
    let runtime = runtime(3);
    let seen: Vec<String> = (0..7).map(|_| count(&runtime, "sub_a")).collect();
    assert_eq!(seen, ["1", "2", "3", "1", "2", "3", "1"]);
}

#[test]
fn instances_never_cross_scopes() {
    let runtime = runtime(100);
    assert_eq!(count(&runtime, "sub_a"), "1");
    assert_eq!(count(&runtime, "sub_a"), "2");
    assert_eq!(count(&runtime, "sub_b"), "1", "sub_b got sub_a's instance");
    assert_eq!(count(&runtime, "sub_a"), "3");
    assert_eq!(count(&runtime, "sub_b"), "2");
}

#[test]
fn an_instance_that_failed_is_thrown_away() {
    let runtime = runtime(100);
    let module = hostile(&runtime);
    assert_eq!(count(&runtime, "sub_a"), "1");
    assert_eq!(count(&runtime, "sub_a"), "2");
    let failure = runtime
        .transform_in("sub_a", &module, &event(), "err")
        .expect_err("err fails");
    assert_eq!(failure.kind, krog_runtime::FailureKind::PluginError);
    assert_eq!(count(&runtime, "sub_a"), "1", "a failed instance was reused");
}

#[test]
fn a_trapped_instance_is_never_entered_again() {
    let runtime = runtime(100);
    let module = hostile(&runtime);
    assert_eq!(count(&runtime, "sub_a"), "1");
    let failure = runtime
        .transform_in("sub_a", &module, &event(), "panic")
        .expect_err("panic traps");
    assert_eq!(failure.kind, krog_runtime::FailureKind::Trap);
    assert_eq!(count(&runtime, "sub_a"), "1");
}

#[test]
fn reuse_of_one_means_a_fresh_instance_every_time() {
    let runtime = runtime(1);
    assert_eq!(count(&runtime, "sub_a"), "1");
    assert_eq!(count(&runtime, "sub_a"), "1");
}

#[test]
fn a_reused_instance_gets_fresh_fuel_and_a_fresh_deadline_for_each_call() {
    let runtime = runtime(100);
    let module = hostile(&runtime);
    let call = || {
        runtime
            .transform_in("sub_a", &module, &event(), "count")
            .expect("count succeeds")
    };
    let first = call();
    // Longer than the 100 ms timeout: a deadline left over from the first call would fire.
    std::thread::sleep(runtime.limits().timeout + std::time::Duration::from_millis(50));
    let second = call();
    assert_eq!(second.outcome, Outcome::Deliver {
        content_type: "text/plain".into(),
        headers: Vec::new(),
        body: b"2".to_vec(),
    });
    // Fuel is counted per call, not summed over the instance's life.
    assert!(
        second.fuel_consumed <= first.fuel_consumed,
        "first {} second {}",
        first.fuel_consumed,
        second.fuel_consumed
    );
}
