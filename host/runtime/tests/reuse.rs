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
    assert_eq!(
        count(&runtime, "sub_a"),
        "1",
        "a failed instance was reused"
    );
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
    assert_eq!(
        second.outcome,
        Outcome::Deliver {
            content_type: "text/plain".into(),
            headers: Vec::new(),
            body: b"2".to_vec(),
        }
    );
    // Fuel is counted per call, not summed over the instance's life.
    assert!(
        second.fuel_consumed <= first.fuel_consumed,
        "first {} second {}",
        first.fuel_consumed,
        second.fuel_consumed
    );
}

/// Warms `scope` with `n` calls of `count` through the ordinary path.
fn warm_up(runtime: &Runtime, scope: &str, n: usize) {
    for _ in 0..n {
        count(runtime, scope);
    }
}

#[test]
fn the_quick_path_needs_an_instance_with_a_streak_of_quick_calls() {
    let runtime = runtime(100);
    let module = hostile(&runtime);
    assert!(
        runtime
            .transform_quick("sub_a", &module, &event(), "count")
            .is_none(),
        "no instance yet"
    );
    warm_up(&runtime, "sub_a", krog_runtime::QUICK_STREAK - 1);
    assert!(
        runtime
            .transform_quick("sub_a", &module, &event(), "count")
            .is_none(),
        "the streak is one call short"
    );
    warm_up(&runtime, "sub_a", 1);
    let quick = runtime
        .transform_quick("sub_a", &module, &event(), "count")
        .expect("a warm instance with a streak runs quick")
        .expect("count succeeds");
    let n = krog_runtime::QUICK_STREAK + 1;
    assert!(
        matches!(&quick.outcome, Outcome::Deliver { body, .. } if *body == n.to_string().into_bytes())
    );
}

#[test]
fn a_scope_whose_quick_call_runs_away_never_runs_quick_again() {
    let runtime = runtime(100);
    let module = hostile(&runtime);
    warm_up(&runtime, "sub_a", krog_runtime::QUICK_STREAK);
    let failure = runtime
        .transform_quick("sub_a", &module, &event(), "loop")
        .expect("the warm instance is used")
        .expect_err("the loop fails");
    // Fuel runs out first on an idle machine; on a busy one (CI shares two cores) the 100 ms
    // wall-clock limit may come first. Either is a runaway, and that is what this is about.
    assert!(
        matches!(
            failure.kind,
            krog_runtime::FailureKind::OutOfFuel | krog_runtime::FailureKind::Timeout
        ),
        "{failure}"
    );
    warm_up(&runtime, "sub_a", krog_runtime::QUICK_STREAK * 2);
    assert!(
        runtime
            .transform_quick("sub_a", &module, &event(), "count")
            .is_none()
    );
    // Other scopes are not affected.
    warm_up(&runtime, "sub_b", krog_runtime::QUICK_STREAK);
    assert!(
        runtime
            .transform_quick("sub_b", &module, &event(), "count")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_call_that_blocks_in_wasi_on_an_async_worker_falls_back_instead_of_panicking() {
    let runtime = runtime(100);
    let module = hostile(&runtime);
    warm_up(&runtime, "sub_a", krog_runtime::QUICK_STREAK);
    // On an async worker thread a blocking WASI call cannot block: the quick path must give the
    // event back (`None`) or finish it, and never let a panic out.
    let first = runtime.transform_quick("sub_a", &module, &event(), "sleep");
    match first {
        None => {}
        Some(result) => {
            let execution = result.expect("sleep succeeds");
            assert!(
                matches!(&execution.outcome, Outcome::Deliver { body, .. } if body == b"slept")
            );
        }
    }
    // Either way the ordinary path, on a blocking thread as krog runs it, still works.
    let result = tokio::task::spawn_blocking(move || {
        runtime.transform_in("sub_a", &module, &event(), "sleep")
    })
    .await
    .expect("no panic");
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn a_scope_whose_quick_call_logs_a_huge_line_never_runs_quick_again() {
    // A generous deadline: lifting 20 MiB takes a while in an unoptimised test build, and the
    // point is that it is cheap in fuel, not that it is slow enough to time out.
    let runtime = Runtime::new(RuntimeConfig {
        instance_reuse: 100,
        limits: krog_runtime::Limits {
            timeout: std::time::Duration::from_secs(10),
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("runtime");
    let module = hostile(&runtime);
    warm_up(&runtime, "sub_a", krog_runtime::QUICK_STREAK);
    let logged = runtime
        .transform_quick("sub_a", &module, &event(), "log-huge")
        .expect("the warm instance is used")
        .expect("log-huge succeeds");
    assert!(
        logged.fuel_consumed < krog_runtime::QUICK_FUEL,
        "the huge line is cheap in fuel ({}), which is the point",
        logged.fuel_consumed
    );
    warm_up(&runtime, "sub_a", krog_runtime::QUICK_STREAK * 2);
    assert!(
        runtime
            .transform_quick("sub_a", &module, &event(), "count")
            .is_none(),
        "a scope that moved 20 MiB on the quick path still runs quick"
    );
}

#[test]
fn an_instance_that_logged_a_huge_line_does_not_qualify_for_the_quick_path() {
    let runtime = Runtime::new(RuntimeConfig {
        instance_reuse: 100,
        limits: krog_runtime::Limits {
            timeout: std::time::Duration::from_secs(10),
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("runtime");
    let module = hostile(&runtime);
    runtime
        .transform_in("sub_a", &module, &event(), "log-huge")
        .expect("log-huge succeeds");
    warm_up(&runtime, "sub_a", krog_runtime::QUICK_STREAK);
    assert!(
        runtime
            .transform_quick("sub_a", &module, &event(), "count")
            .is_none(),
        "an instance with a heavy call in its streak runs quick"
    );
}
