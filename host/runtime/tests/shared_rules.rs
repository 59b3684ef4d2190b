//! The plugin SDK and the sandbox judge a plugin's output by the same rules (`krog-rules`): one
//! table of heads goes through `krog_sdk`'s native check and through a real call in the runtime,
//! and both must give the same verdict with the same words.

use krog_runtime::{EventInput, FailureKind, Outcome, Runtime, RuntimeConfig};

/// A component of krog's `transformer` world that delivers an empty body with the content type
/// given as its config and one header: the event's `tenant` as the name, its `data` as the
/// value. So any head can be produced by one module.
fn echo_head_plugin() -> Vec<u8> {
    let wat = r#"(component
  (core module $main
    (memory (export "memory") 4)
    (global $heap (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $at) (local.get 3)))
      (local.get $at))
    (func (export "info") (result i32)
      ;; Four empty strings.
      (memory.fill (i32.const 16) (i32.const 0) (i32.const 32))
      (i32.const 16))
    (func (export "transform")
      (param $id i32) (param $id_len i32) (param $ty i32) (param $ty_len i32)
      (param $ts i32) (param $ts_len i32) (param $tenant i32) (param $tenant_len i32)
      (param $data i32) (param $data_len i32) (param $config i32) (param $config_len i32)
      (result i32)
      ;; The one header, (tenant, data), at 128.
      (i32.store (i32.const 128) (local.get $tenant))
      (i32.store (i32.const 132) (local.get $tenant_len))
      (i32.store (i32.const 136) (local.get $data))
      (i32.store (i32.const 140) (local.get $data_len))
      ;; ok(deliver({content-type: config, headers: [at 128; 1], body: []})).
      (i32.store8 (i32.const 64) (i32.const 0))
      (i32.store8 (i32.const 68) (i32.const 1))
      (i32.store (i32.const 72) (local.get $config))
      (i32.store (i32.const 76) (local.get $config_len))
      (i32.store (i32.const 80) (i32.const 128))
      (i32.store (i32.const 84) (i32.const 1))
      (i32.store (i32.const 88) (i32.const 0))
      (i32.store (i32.const 92) (i32.const 0))
      (i32.const 64)))
  (core instance $m (instantiate $main))
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
)"#;
    wat::parse_str(wat).expect("the WAT plugin parses")
}

/// (content type, header name, header value, the kind krog refuses it with, if it does).
fn table() -> Vec<(String, String, String, Option<FailureKind>)> {
    use FailureKind::{InvalidOutput, OutputTooLarge, ReservedHeader};
    let row = |ct: &str, name: &str, value: &str, kind: Option<FailureKind>| {
        (ct.to_string(), name.to_string(), value.to_string(), kind)
    };
    let long = "v".repeat(krog_rules::MAX_HEADER_BYTES);
    vec![
        row("application/json", "x-request-id", "abc 123", None),
        row("text/plain; charset=utf-8", "X-Custom", "tab\tinside", None),
        row("application/json", "authorization", "Bearer t", None),
        row("application/json", "x-unicode", "café ☕", None),
        row("  application/json  ", "x-a", "b", None),
        row(
            "application/json",
            "content-type",
            "text/plain",
            Some(ReservedHeader),
        ),
        row(
            "application/json",
            "Content-Type",
            "text/plain",
            Some(ReservedHeader),
        ),
        row(
            "application/json",
            "proxy-authorization",
            "Basic x",
            Some(ReservedHeader),
        ),
        row(
            "application/json",
            "Proxy-Connection",
            "close",
            Some(ReservedHeader),
        ),
        row(
            "application/json",
            "webhook-signature",
            "v1,x",
            Some(ReservedHeader),
        ),
        row(
            "application/json",
            "Webhook-Id",
            "msg_1",
            Some(ReservedHeader),
        ),
        row(
            "application/json",
            "host",
            "example.com",
            Some(ReservedHeader),
        ),
        row(
            "application/json",
            "Content-Length",
            "0",
            Some(ReservedHeader),
        ),
        row(
            "application/json",
            "connection",
            "close",
            Some(ReservedHeader),
        ),
        row("application/json", "keep-alive", "5", Some(ReservedHeader)),
        row("application/json", "te", "trailers", Some(ReservedHeader)),
        row("application/json", "trailer", "x", Some(ReservedHeader)),
        row("application/json", "trailers", "x", Some(ReservedHeader)),
        row(
            "application/json",
            "Transfer-Encoding",
            "chunked",
            Some(ReservedHeader),
        ),
        row("application/json", "upgrade", "h2c", Some(ReservedHeader)),
        row("application/json", "x-a", "a\r\nb", Some(InvalidOutput)),
        row("application/json", "x-a", "a\nb", Some(InvalidOutput)),
        row("application/json", "x-a", "nul\0", Some(InvalidOutput)),
        row(
            "application/json",
            "x-a",
            "escape\u{1b}[0m",
            Some(InvalidOutput),
        ),
        row("application/json", "x-a", "del\u{7f}", Some(InvalidOutput)),
        row("application/json", "x a", "b", Some(InvalidOutput)),
        row("application/json", "x:a", "b", Some(InvalidOutput)),
        row("application/json", "", "b", Some(InvalidOutput)),
        row("application/json", "x-é", "b", Some(InvalidOutput)),
        row("application/json", "x-long", &long, Some(OutputTooLarge)),
        row("", "x-a", "b", Some(InvalidOutput)),
        row("   ", "x-a", "b", Some(InvalidOutput)),
        row("text/plain\r\nx: y", "x-a", "b", Some(InvalidOutput)),
        row(&"a".repeat(257), "x-a", "b", Some(InvalidOutput)),
    ]
}

#[test]
fn the_sdk_and_the_runtime_give_every_head_the_same_verdict_and_message() {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let module = runtime.load(&echo_head_plugin()).expect("the plugin loads");
    for (content_type, name, value, expected) in table() {
        let shown: String = value.chars().take(40).collect();
        let case = format!("content type {content_type:?}, header {name:?}: {shown:?}");
        let event = EventInput {
            id: "evt_1".to_string(),
            event_type: "booking.created".to_string(),
            timestamp: "2026-12-02T10:00:00Z".to_string(),
            tenant: name.clone(),
            data: value.clone(),
        };
        let in_krog = runtime.transform(&module, &event, &content_type);
        let in_sdk = krog_sdk::Outcome::deliver(content_type.as_str(), Vec::new())
            .with_header(name.as_str(), value.as_str())
            .check();
        match (&in_krog, &in_sdk, expected) {
            (Ok(execution), Ok(()), None) => {
                let Outcome::Deliver { headers, .. } = &execution.outcome else {
                    panic!("{case}: a skip");
                };
                assert_eq!(headers, &vec![(name.clone(), value.clone())], "{case}");
            }
            (Err(failure), Err(error), Some(kind)) => {
                assert_eq!(failure.kind, kind, "{case}");
                assert_eq!(failure.message, error.message(), "{case}");
            }
            _ => panic!(
                "{case}: krog says {:?}, the SDK says {in_sdk:?}, the table says {expected:?}",
                in_krog.as_ref().map(|e| &e.outcome)
            ),
        }
    }
}

/// A plugin whose config names the one header it sets.
struct SetsHeader;

impl krog_sdk::Plugin for SetsHeader {
    type Config = String;
    const NAME: &str = "sets-header";
    const VERSION: &str = "0.1.0";
    const DESCRIPTION: &str = "Delivers `{}` with the header its config names.";

    fn transform(
        _event: &krog_sdk::Event,
        header: String,
    ) -> Result<krog_sdk::Outcome, krog_sdk::Error> {
        Ok(krog_sdk::Outcome::deliver("application/json", "{}").with_header(header, "x"))
    }
}

#[test]
fn a_plugin_setting_content_type_or_proxy_authorization_fails_natively_as_in_krog() {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let module = runtime.load(&echo_head_plugin()).expect("the plugin loads");
    let raw = krog_sdk::RawEvent {
        id: "evt_1".into(),
        event_type: "booking.created".into(),
        timestamp: "2026-12-02T10:00:00Z".into(),
        tenant: "t_1".into(),
        data: r#"{"id":"bk_1"}"#.into(),
    };
    for header in ["content-type", "proxy-authorization"] {
        let config = serde_json::to_string(header).unwrap();
        let native = krog_sdk::run::<SetsHeader>(&raw, &config).unwrap_err();
        let event = EventInput {
            id: "evt_1".to_string(),
            event_type: "booking.created".to_string(),
            timestamp: "2026-12-02T10:00:00Z".to_string(),
            tenant: header.to_string(),
            data: "x".to_string(),
        };
        let failure = runtime
            .transform(&module, &event, "application/json")
            .unwrap_err();
        assert_eq!(failure.kind, FailureKind::ReservedHeader, "{header}");
        assert_eq!(native, failure.message, "{header}");
    }
}
