//! The `krog plugin` subcommands, and the dry-run JSON that `krog plugin run --json` prints
//! (the same object as the HTTP dry run's).

use std::process::ExitCode;

use krog::cli::plugin::{CheckArgs, RunArgs, check, parse_event, run};
use krog::dry_run::dry_run_json;
use krog::runtime::{EventInput, Limits, Runtime, RuntimeConfig};

/// A file of its own for each call: the tests run in parallel threads of one process, and a
/// shared name let one test read another's half-written file. They go under cargo's
/// `target/tmp`, not the system's temp dir, so that runs do not leave files behind there.
fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("krog-cmd-{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

/// The service's config check lives in the host; here a config is passed on as given.
fn as_given(_schema: &serde_json::Value, given: Option<&str>) -> anyhow::Result<String> {
    Ok(given.unwrap_or("{}").to_owned())
}

fn run_to_string(args: RunArgs) -> (ExitCode, String) {
    let mut out = Vec::new();
    let code = run(&args, Limits::default(), &mut out, &as_given).unwrap();
    (code, String::from_utf8(out).unwrap())
}

fn event_file() -> std::path::PathBuf {
    temp_file(
        "event.json",
        include_bytes!("../../fixtures/booking-updated.json"),
    )
}

#[test]
fn run_with_json_prints_the_dry_run_object_for_a_catalog_module() {
    let (code, out) = run_to_string(RunArgs {
        module: "slack".to_string(),
        event: event_file(),
        config: Some(r#"{"locale":"en"}"#.to_string()),
        json: true,
    });
    assert_eq!(code, ExitCode::SUCCESS);
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["outcome"], "deliver");
    assert_eq!(value["content_type"], "application/json");
    assert!(value["body"].as_str().unwrap().contains("blocks"));
    assert!(value["fuel_consumed"].as_u64().unwrap() > 0);
}

#[test]
fn run_prints_a_human_summary_and_reads_config_from_a_file() {
    let config = temp_file("config.json", br#"{"locale":"da"}"#);
    let (code, out) = run_to_string(RunArgs {
        module: "slack".to_string(),
        event: event_file(),
        config: Some(format!("@{}", config.display())),
        json: false,
    });
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    assert!(out.starts_with("outcome: deliver\n"), "{out}");
    assert!(out.contains("content-type: application/json"), "{out}");
    assert!(out.contains("fuel: "), "{out}");
}

#[test]
fn a_failing_plugin_exits_with_code_two_naming_the_kind() {
    let wasm = temp_file("hostile.wasm", krog_test_components::HOSTILE);
    let (code, out) = run_to_string(RunArgs {
        module: wasm.display().to_string(),
        event: event_file(),
        config: Some("err".to_string()),
        json: false,
    });
    assert_eq!(code, ExitCode::from(2));
    assert!(
        out.contains("error: plugin_error: the plugin said no"),
        "{out}"
    );
    let (code, out) = run_to_string(RunArgs {
        module: wasm.display().to_string(),
        event: event_file(),
        config: Some("panic".to_string()),
        json: true,
    });
    assert_eq!(code, ExitCode::from(2));
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["outcome"], "error");
    assert_eq!(value["error"]["kind"], "trap");
}

#[test]
fn an_unknown_module_name_is_a_usage_error_listing_the_catalog() {
    let err = run(
        &RunArgs {
            module: "nope".to_string(),
            event: event_file(),
            config: None,
            json: false,
        },
        Limits::default(),
        &mut Vec::new(),
        &as_given,
    )
    .unwrap_err();
    assert!(err.to_string().contains("slack"), "{err}");
}

#[test]
fn a_missing_wasm_file_asks_whether_the_crate_is_a_cdylib() {
    let missing = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("target/wasm32-wasip2/release/greeter.wasm");
    let args = RunArgs {
        module: missing.display().to_string(),
        event: event_file(),
        config: None,
        json: false,
    };
    let err = run(&args, Limits::default(), &mut Vec::new(), &as_given).unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"did you set crate-type = ["cdylib", "rlib"]"#),
        "{err}"
    );
    let err = check(
        &CheckArgs {
            module: missing.display().to_string(),
        },
        Limits::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("cdylib"), "{err}");
}

#[test]
fn check_prints_info_schema_size_and_sha256() {
    let mut out = Vec::new();
    let code = check(
        &CheckArgs {
            module: "sheets".to_string(),
        },
        Limits::default(),
        &mut out,
    )
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    assert!(out.contains("name: sheets"), "{out}");
    assert!(out.contains("sha256: "), "{out}");
    assert!(out.contains("config schema:\n{"), "{out}");
}

#[test]
fn check_refuses_an_invalid_module_with_exit_code_two() {
    let wasm = temp_file("wrong.wasm", krog_test_components::WRONG_WORLD);
    let mut out = Vec::new();
    let code = check(
        &CheckArgs {
            module: wasm.display().to_string(),
        },
        Limits::default(),
        &mut out,
    )
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, ExitCode::from(2));
    assert!(out.starts_with("invalid: invalid_module: "), "{out}");
}

#[test]
fn the_event_envelope_gets_defaults_for_id_timestamp_and_tenant() {
    let event = parse_event(r#"{"type":"booking.created","data":{"id":"bk_1"}}"#).unwrap();
    assert_eq!(event.id, "evt_local");
    assert_eq!(event.tenant, "local");
    assert!(event.timestamp.ends_with('Z'));
    assert_eq!(event.data, r#"{"id":"bk_1"}"#);
    assert!(parse_event(r#"{"data":{}}"#).is_err());
    assert!(parse_event("[]").is_err());
}

/// The event the dry-run JSON test hands the hostile plugin.
fn event() -> EventInput {
    EventInput {
        id: "evt_test".to_string(),
        event_type: "booking.created".to_string(),
        timestamp: "2026-11-27T09:30:00Z".to_string(),
        tenant: "acme".to_string(),
        data: r#"{"id":"bk_1"}"#.to_string(),
    }
}

#[test]
fn the_dry_run_json_has_the_documented_shape() {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let module = runtime
        .load(krog_test_components::HOSTILE)
        .expect("the hostile plugin loads");
    let ok = runtime.transform(&module, &event(), "ok");
    let value = dry_run_json(&ok);
    assert_eq!(value["outcome"], "deliver");
    assert_eq!(value["content_type"], "text/plain");
    assert_eq!(value["headers"], serde_json::json!([["x-hostile", "ok"]]));
    assert_eq!(value["body"], "ok booking.created acme");
    assert_eq!(value["logs"][0]["message"], "handling evt_test");
    assert!(value["fuel_consumed"].as_u64().unwrap() > 0);
    assert!(value["duration_us"].is_u64());

    let err = runtime.transform(&module, &event(), "err");
    let value = dry_run_json(&err);
    assert_eq!(value["outcome"], "error");
    assert_eq!(value["error"]["kind"], "plugin_error");
    assert_eq!(value["error"]["message"], "the plugin said no");
}
