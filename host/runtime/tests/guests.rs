//! JavaScript and Python guests through the runtime: the catalog's `teams` (JS) and `reminder`
//! (Python) on the shared fixtures, and the hostile guests of both languages classified like
//! the Rust one, with the runtime usable after each. One runtime (and so one compile of each
//! component) serves every test here: a Python component takes seconds to compile.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use common::{FIXTURES, HOSTILE_JS, HOSTILE_PY, fixture};
use krog_runtime::{
    Execution, FailureKind, Limits, Module, Outcome, PluginFailure, Runtime, RuntimeConfig, catalog,
};

/// Default limits but for the time limit: an unoptimised test build on two busy cores is no
/// place to hold a Python call to 100 ms. Tests of the time limit build their own runtime.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        runtime_with(Limits {
            timeout: Duration::from_secs(10),
            ..Limits::default()
        })
    })
}

/// A runtime whose compiled components are kept on disk for every test here and in
/// `guest_rebuild.rs`: a Python component takes minutes to compile in a test build on a busy
/// machine, and milliseconds to load.
fn runtime_with(limits: Limits) -> Runtime {
    Runtime::new(RuntimeConfig {
        limits,
        instance_reuse: 16,
        cache_dir: Some(common::shared_cache_dir()),
        cache_key: Some(common::SHARED_CACHE_KEY),
        ..Default::default()
    })
    .expect("runtime")
}

fn load(wasm: &[u8]) -> Module {
    runtime().load(wasm).expect("the component loads")
}

fn builtin(name: &str) -> Module {
    load(catalog::builtin(name).expect("in the catalog").wasm)
}

fn run(module: &Module, event: &str, config: &str) -> Result<Execution, PluginFailure> {
    runtime().transform(module, &fixture(event), config)
}

fn body_json(execution: &Execution) -> serde_json::Value {
    match &execution.outcome {
        Outcome::Deliver {
            content_type, body, ..
        } => {
            assert_eq!(content_type, "application/json");
            serde_json::from_slice(body).expect("a JSON body")
        }
        other => panic!("expected a delivery, got {other:?}"),
    }
}

#[test]
fn teams_renders_every_fixture_as_an_adaptive_card() {
    let teams = builtin("teams");
    for (name, title) in [
        ("booking-created", "Ny booking"),
        ("booking-created-online", "Ny booking"),
        ("booking-updated", "Booking ændret"),
        ("booking-deleted", "Booking aflyst"),
    ] {
        let execution = run(&teams, name, r#"{"locale":"da"}"#).expect(name);
        let card = &body_json(&execution)["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard", "{name}");
        assert_eq!(card["body"][0]["text"], title, "{name}");
        assert_eq!(execution.logs.len(), 1, "{name}: {:?}", execution.logs);
        assert_eq!(execution.logs[0].level, "debug");
    }
}

#[test]
fn reminder_writes_the_sms_for_every_fixture_with_a_phone() {
    let reminder = builtin("reminder");
    let created = run(&reminder, "booking-created", "{}").unwrap();
    let sms = body_json(&created);
    assert_eq!(sms["to"], "+4520123456");
    assert_eq!(sms["send_at"], "2026-12-02T14:00:00+01:00");
    assert!(
        sms["text"]
            .as_str()
            .unwrap()
            .starts_with("Hej Jens, husk din tid til Parterapi hos Mette Søndergaard")
    );
    assert_eq!(
        created.logs[0].message,
        "reminder for bk_1042: 1 part(s), GSM-7"
    );
    assert_eq!(
        body_json(&run(&reminder, "booking-updated", "{}").unwrap())["kind"],
        "moved"
    );
    assert_eq!(
        body_json(&run(&reminder, "booking-deleted", "{}").unwrap())["kind"],
        "cancelled"
    );
    let online = run(&reminder, "booking-created-online", "{}").unwrap();
    assert_eq!(
        online.outcome,
        Outcome::Skip {
            reason: "the client has no phone number".into()
        }
    );
}

#[test]
fn an_exception_in_a_catalog_guest_is_its_error_with_the_message() {
    let failure = run(
        &builtin("reminder"),
        "booking-created",
        r#"{"locale":"fr"}"#,
    )
    .unwrap_err();
    assert_eq!(failure.kind, FailureKind::PluginError);
    assert_eq!(failure.message, "locale 'fr' is not one of en, da, de");
    let failure = run(&builtin("teams"), "booking-created", r#"{"locale":"fr"}"#).unwrap_err();
    assert_eq!(failure.message, r#"locale "fr" is not one of en, da, de"#);
}

#[test]
fn the_guests_describe_themselves_with_their_config_schema() {
    for (name, wasm) in [
        ("teams", None),
        ("reminder", None),
        ("hostile-js", Some(HOSTILE_JS)),
        ("hostile-py", Some(HOSTILE_PY)),
    ] {
        let module = match wasm {
            Some(wasm) => load(wasm),
            None => builtin(name),
        };
        let info = runtime().info(&module).expect(name);
        assert_eq!(info.name, name);
        assert!(info.config_schema.is_object(), "{name}");
    }
}

/// The hostile guests, with what each behaviour must be classified as.
fn hostile(language: &str) -> Module {
    load(match language {
        "js" => HOSTILE_JS,
        _ => HOSTILE_PY,
    })
}

fn fail(runtime: &Runtime, module: &Module, behaviour: &str) -> PluginFailure {
    match runtime.transform(
        module,
        &fixture("booking-created"),
        &format!("{behaviour:?}"),
    ) {
        Ok(execution) => panic!("{behaviour}: expected a failure, got {execution:?}"),
        Err(failure) => failure,
    }
}

fn assert_still_ok(runtime: &Runtime, module: &Module) {
    let execution = runtime
        .transform(module, &fixture("booking-created"), r#""ok""#)
        .expect("the ok behaviour succeeds");
    assert_eq!(
        execution.outcome,
        Outcome::Skip {
            reason: "fine: bk_1042".into()
        }
    );
}

#[test]
fn an_endless_loop_in_either_language_runs_out_of_fuel() {
    for language in ["js", "py"] {
        let module = hostile(language);
        let failure = fail(runtime(), &module, "loop");
        assert_eq!(
            failure.kind,
            FailureKind::OutOfFuel,
            "{language}: {failure}"
        );
        assert_still_ok(runtime(), &module);
    }
}

#[test]
fn an_endless_loop_with_unlimited_fuel_is_stopped_by_the_timeout() {
    let runtime = runtime_with(Limits {
        fuel: 1 << 60,
        timeout: Duration::from_millis(200),
        ..Limits::default()
    });
    for (language, wasm) in [("js", HOSTILE_JS), ("py", HOSTILE_PY)] {
        let module = runtime.load(wasm).unwrap();
        let failure = fail(&runtime, &module, "loop");
        assert_eq!(failure.kind, FailureKind::Timeout, "{language}: {failure}");
        assert!(
            failure.duration < Duration::from_secs(5),
            "{:?}",
            failure.duration
        );
    }
}

#[test]
fn a_memory_bomb_in_either_language_hits_the_memory_limit() {
    for language in ["js", "py"] {
        let module = hostile(language);
        let failure = fail(runtime(), &module, "memory");
        assert_eq!(
            failure.kind,
            FailureKind::MemoryLimit,
            "{language}: {failure}"
        );
        assert!(failure.message.contains("64 MiB"), "{}", failure.message);
        assert_still_ok(runtime(), &module);
    }
}

#[test]
fn a_thrown_javascript_error_is_the_plugins_error_with_its_message_and_stack() {
    let module = hostile("js");
    let failure = fail(runtime(), &module, "throw");
    assert_eq!(failure.kind, FailureKind::PluginError, "{failure}");
    let mut lines = failure.message.lines();
    assert_eq!(
        lines.next(),
        Some("RangeError: no room for booking bk_1042")
    );
    let stack: Vec<&str> = lines.collect();
    assert!(
        stack
            .iter()
            .any(|l| l.contains("explode") && l.contains("/src/index.js:")),
        "the stack names the author's function and line: {}",
        failure.message
    );
    assert!(
        !failure.message.contains("@krog/plugin-sdk"),
        "the stack ends at the author's frames, not the SDK's: {}",
        failure.message
    );
    assert_eq!(failure.logs[0].message, "about to throw");
    assert_still_ok(runtime(), &module);
}

#[test]
fn a_thrown_javascript_value_that_is_not_an_error_is_the_plugins_error_with_the_value() {
    let module = hostile("js");
    let failure = fail(runtime(), &module, "throw-value");
    assert_eq!(failure.kind, FailureKind::PluginError, "{failure}");
    assert_eq!(
        failure.message,
        r#"a non-Error value was thrown: {"refused":"bk_1042"} (throw an Error to get a stack)"#
    );
    assert_still_ok(runtime(), &module);
}

#[test]
fn a_python_sys_exit_in_a_helper_is_the_plugins_error_with_its_traceback_not_a_trap() {
    let module = hostile("py");
    let failure = fail(runtime(), &module, "exit");
    assert_eq!(failure.kind, FailureKind::PluginError, "{failure}");
    let mut lines = failure.message.lines();
    assert_eq!(lines.next(), Some("SystemExit: giving up on bk_1042"));
    assert_eq!(lines.next(), Some("Traceback (most recent call last):"));
    assert!(
        failure.message.contains("hostile.py\", line") && failure.message.contains("in give_up"),
        "the traceback names the author's helper and line: {}",
        failure.message
    );
    assert_still_ok(runtime(), &module);
}

#[test]
fn a_malformed_delivery_in_either_language_is_the_plugins_error_naming_the_field() {
    let js = fail(runtime(), &hostile("js"), "malformed");
    assert_eq!(js.kind, FailureKind::PluginError, "{js}");
    assert!(
        js.message
            .starts_with("the delivery's headers are [[\"x-count\",")
            && js.message.ends_with("not a list of [name, value] strings"),
        "{}",
        js.message
    );
    let py = fail(runtime(), &hostile("py"), "malformed");
    assert_eq!(py.kind, FailureKind::PluginError, "{py}");
    assert_eq!(py.message, "the delivery's content_type is None, not a str");
    assert_still_ok(runtime(), &hostile("js"));
    assert_still_ok(runtime(), &hostile("py"));
}

#[test]
fn a_python_exception_is_the_plugins_error_with_its_type_message_and_traceback() {
    let module = hostile("py");
    let failure = fail(runtime(), &module, "throw");
    assert_eq!(failure.kind, FailureKind::PluginError, "{failure}");
    let mut lines = failure.message.lines();
    assert_eq!(lines.next(), Some("KeyError: 'bk_1042'"));
    assert_eq!(lines.next(), Some("Traceback (most recent call last):"));
    assert!(
        failure.message.contains("hostile.py\", line") && failure.message.contains("in explode"),
        "the traceback names the author's file, line and function: {}",
        failure.message
    );
    assert!(
        !failure.message.contains("krog_plugin"),
        "the traceback starts at the author's frames, not the SDK's: {}",
        failure.message
    );
    assert_eq!(failure.logs[0].message, "about to throw");
    assert_still_ok(runtime(), &module);
}

#[test]
fn a_ten_mebibyte_body_in_either_language_is_output_too_large() {
    for language in ["js", "py"] {
        let module = hostile(language);
        let failure = fail(runtime(), &module, "big");
        assert_eq!(
            failure.kind,
            FailureKind::OutputTooLarge,
            "{language}: {failure}"
        );
        assert_still_ok(runtime(), &module);
    }
}

#[test]
fn a_guest_instance_is_reused_within_a_scope_and_thrown_away_after_a_failure() {
    for language in ["js", "py"] {
        let module = hostile(language);
        let count = |scope: &str| match runtime()
            .transform_in(scope, &module, &fixture("booking-created"), r#""count""#)
            .unwrap()
            .outcome
        {
            Outcome::Deliver { body, .. } => String::from_utf8(body).unwrap(),
            other => panic!("{other:?}"),
        };
        let scope = format!("sub_{language}");
        assert_eq!(count(&scope), "1");
        assert_eq!(
            count(&scope),
            "2",
            "{language}: the instance serves the scope's next event"
        );
        assert_eq!(count("sub_other"), "1", "{language}: never across scopes");
        runtime()
            .transform_in(&scope, &module, &fixture("booking-created"), r#""throw""#)
            .unwrap_err();
        assert_eq!(
            count(&scope),
            "1",
            "{language}: a failed instance is not reused"
        );
    }
}

/// What a realistic guest costs against the default limits, printed for BENCHMARKS.md,
/// "Guests: what a transform costs in each language": a
/// tenth of the fuel at most, so that a plugin ten times the size of these still runs.
#[test]
fn the_default_limits_leave_the_catalog_guests_a_wide_margin() {
    let limits = Limits::default();
    let mut most = 0;
    for name in ["teams", "reminder"] {
        let module = builtin(name);
        for (fixture_name, _) in FIXTURES {
            let Ok(execution) = run(&module, fixture_name, "{}") else {
                panic!("{name} on {fixture_name}");
            };
            let memory = runtime().memory_after_call(&module, &fixture(fixture_name), "{}");
            eprintln!(
                "{name} {fixture_name}: fuel {}, memory {:.1} MiB",
                execution.fuel_consumed,
                memory as f64 / f64::from(1 << 20)
            );
            most = most.max(execution.fuel_consumed);
            assert!(
                memory < limits.memory_bytes / 2,
                "{name} on {fixture_name} holds {memory} bytes"
            );
        }
    }
    assert!(
        most < limits.fuel / 10,
        "a catalog guest burnt {most} of {} fuel",
        limits.fuel
    );
    let size = catalog::builtin("reminder").unwrap().wasm.len();
    assert!(
        size < limits.max_module_bytes * 3 / 4,
        "a Python component ({size} bytes) fits the upload limit with room for the author's code"
    );
}
