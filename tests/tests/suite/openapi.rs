//! `/openapi.json` is the router, described: every operation in it is a route of the running
//! service (and needs a key where the document says so), no other method answers on its paths,
//! every route in the source is registered through the document, and each operation has an id,
//! its parameters, its bodies' schemas and its error answer. The client generated from it is
//! driven in `tests/tests/openapi_client.rs`.

use std::collections::BTreeSet;

use crate::common::TestApp;
use reqwest::Method;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "the document is served as JSON"
    );
    response.json().await.unwrap()
}

/// `path` with every `{parameter}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|part| match part {
            "{version}" => "1",
            p if p.starts_with('{') => "nobody",
            p => p,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_operation_is_a_route_and_no_undocumented_method_answers_on_its_paths() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{} paths", paths.len());
    for (path, item) in paths {
        let url = app.url(&concrete(path));
        for method in METHODS {
            let documented = item.get(method).is_some();
            let response = app
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &url,
                )
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            if !documented {
                assert_eq!(
                    status, 405,
                    "{method} {path} is not documented but answered {status}: {body}"
                );
                continue;
            }
            assert!(
                !body.contains("route not found") && status != 405,
                "{method} {path} is documented but is no route: {status} {body}"
            );
            if path.starts_with("/v1/") {
                assert_eq!(status, 401, "{method} {path} without a key: {body}");
                assert!(
                    item[method]["security"]
                        .as_array()
                        .is_some_and(|s| !s.is_empty()),
                    "{method} {path} needs a key, and the document must say so"
                );
            } else {
                assert_eq!(status, 200, "{method} {path}: {body}");
                assert!(
                    item[method].get("security").is_none(),
                    "{method} {path} is public"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_operation_has_an_id_its_parameters_a_success_schema_and_the_error_answer() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|p| p.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no operationId"));
            assert!(ids.insert(id.to_owned()), "{what}: operationId {id} twice");
            assert!(op.get("summary").is_some(), "{what}: no summary");
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(declared, in_path, "{what}: path parameters");
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{what}: no success answer"
            );
            assert_eq!(
                responses["4XX"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{what}: the error answer"
            );
        }
    }
    // Every reference leads somewhere.
    let text = doc.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(
            schemas.contains_key(name),
            "$ref to {name}, which is not in components"
        );
    }
    // The bodies a client writes, described field by field.
    for (method, path, schema, field) in [
        ("post", "/v1/tenants", "NewTenant", "name"),
        (
            "post",
            "/v1/tenants/{tenant}/subscriptions",
            "NewSubscription",
            "event_types",
        ),
        (
            "patch",
            "/v1/tenants/{tenant}/subscriptions/{id}",
            "Changes",
            "transform",
        ),
        ("post", "/v1/tenants/{tenant}/events", "Incoming", "data"),
        (
            "post",
            "/v1/tenants/{tenant}/erasures",
            "ErasureRequest",
            "client_email",
        ),
        (
            "post",
            "/v1/tenants/{tenant}/deliveries/retry",
            "RetryFailed",
            "since",
        ),
        ("post", "/v1/modules/{name}/run", "DryRun", "event"),
    ] {
        let body =
            &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(
            body["$ref"],
            format!("#/components/schemas/{schema}"),
            "{method} {path}"
        );
        assert!(
            schemas[schema]["properties"].get(field).is_some(),
            "{schema} describes {field}"
        );
        assert!(
            schemas[schema].get("example").is_some()
                || schemas[schema]["properties"][field]
                    .get("description")
                    .is_some(),
            "{schema} has an example or its fields are described"
        );
    }
    let upload =
        &doc["paths"]["/v1/tenants/{tenant}/modules/{name}"]["put"]["requestBody"]["content"];
    assert!(
        upload.get("application/wasm").is_some(),
        "an upload is application/wasm: {upload}"
    );
    let list = &doc["paths"]["/v1/tenants/{tenant}/deliveries"]["get"]["parameters"];
    let query: BTreeSet<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        query,
        BTreeSet::from(["subscription_id", "status", "event_id", "limit", "after"])
    );
    let created = &doc["paths"]["/v1/tenants/{tenant}/subscriptions"]["post"]["responses"]["201"];
    assert_eq!(
        created["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Subscription"
    );
}

#[test]
fn every_route_in_the_source_is_registered_through_the_document() {
    // axum's `Router::route` would add a route the document does not list; utoipa-axum's
    // `routes!` adds both from the handler's annotation. So outside the one line that serves
    // the document, no `.route(` may appear in the service's source — except in the console,
    // whose HTML pages for people are not part of the JSON API the document describes.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src");
    let mut offenders = Vec::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("console") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    if line.contains(".route(")
                        || line.contains(".route_service(")
                        || line.contains(".nest(")
                    {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes added outside `routes!` are missing from /openapi.json:\n{}",
        offenders.join("\n")
    );
}
