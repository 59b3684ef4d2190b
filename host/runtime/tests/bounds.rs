//! Every string a plugin controls is bounded before it leaves the runtime: callers store them.

mod common;

use std::time::Duration;

use common::{assert_still_ok, event, hostile, wat_plugin};
use krog_runtime::{
    FailureKind, Limits, MAX_CONFIG_SCHEMA_BYTES, MAX_DESCRIPTION_BYTES, MAX_ERROR_BYTES,
    MAX_NAME_BYTES, MAX_VERSION_BYTES, Runtime, RuntimeConfig,
};

/// Default limits but a generous deadline: moving megabytes out of the guest takes a while in
/// an unoptimised test build on a loaded machine, and these tests are about size, not time.
fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        limits: Limits {
            timeout: Duration::from_secs(10),
            ..Limits::default()
        },
        ..Default::default()
    })
    .expect("runtime")
}

#[test]
fn an_err_message_of_16_mib_is_cut_to_the_limit() {
    let runtime = runtime();
    let failure = runtime
        .transform(&hostile(&runtime), &event(), "err-huge")
        .expect_err("err-huge fails");
    assert_eq!(failure.kind, FailureKind::PluginError);
    assert!(
        failure.message.len() <= MAX_ERROR_BYTES,
        "the message is {} bytes",
        failure.message.len()
    );
    // Cut on a char boundary (the text is all two-byte `é`s), saying how much was cut.
    let (kept, marker) = failure.message.split_once('…').expect("the cut is marked");
    assert!(kept.chars().all(|c| c == 'é'), "{kept:?}");
    assert!(
        kept.len() > MAX_ERROR_BYTES / 2,
        "{} bytes kept",
        kept.len()
    );
    assert_eq!(
        marker,
        format!(" [{} more bytes cut]", (16 << 20) - kept.len())
    );
    assert_still_ok(&runtime);
}

#[test]
fn a_panic_message_with_a_60_kb_location_is_cut_to_the_limit() {
    let runtime = runtime();
    let failure = runtime
        .transform(&hostile(&runtime), &event(), "fake-panic")
        .expect_err("fake-panic traps");
    assert_eq!(failure.kind, FailureKind::Trap, "{failure}");
    assert!(
        failure
            .message
            .starts_with("the plugin panicked: forged (at LLL"),
        "{}",
        &failure.message[..100]
    );
    assert!(
        failure.message.len() <= MAX_ERROR_BYTES,
        "the message is {} bytes",
        failure.message.len()
    );
    assert!(
        failure.message.ends_with(" more bytes cut]"),
        "{}",
        &failure.message[failure.message.len() - 100..]
    );
    assert_still_ok(&runtime);
}

#[test]
fn info_cuts_a_long_name_version_and_description_to_their_limits() {
    let runtime = runtime();
    let module = runtime
        .load(&wat_plugin([1 << 20, 1 << 20, 1 << 20, 2], ""))
        .expect("the WAT plugin loads");
    let info = runtime.info(&module).expect("info answers");
    assert!(info.name.len() <= MAX_NAME_BYTES, "{}", info.name.len());
    assert!(
        info.version.len() <= MAX_VERSION_BYTES,
        "{}",
        info.version.len()
    );
    assert!(
        info.description.len() <= MAX_DESCRIPTION_BYTES,
        "{}",
        info.description.len()
    );
    assert!(info.name.starts_with("aaaa") && info.name.ends_with('…'));
    // A schema that fits is kept (`aa` is not JSON, so it reads as `{}`).
    assert_eq!(info.config_schema, serde_json::json!({}));
}

#[test]
fn a_config_schema_over_the_limit_makes_the_module_invalid() {
    let runtime = runtime();
    let fits = runtime
        .load(&wat_plugin([4, 4, 4, MAX_CONFIG_SCHEMA_BYTES], ""))
        .expect("the WAT plugin loads");
    assert!(runtime.info(&fits).is_ok());
    let module = runtime
        .load(&wat_plugin([4, 4, 4, MAX_CONFIG_SCHEMA_BYTES + 1], ""))
        .expect("the WAT plugin loads");
    let failure = runtime
        .info(&module)
        .expect_err("a schema over the limit is refused");
    assert_eq!(failure.kind, FailureKind::InvalidModule);
    assert_eq!(
        failure.message,
        format!(
            "the plugin's config schema is {} bytes; the limit is {MAX_CONFIG_SCHEMA_BYTES} bytes",
            MAX_CONFIG_SCHEMA_BYTES + 1
        )
    );
}
