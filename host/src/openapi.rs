//! `GET /openapi.json`: the API's OpenAPI 3.1 document — every route, its method, what it
//! does and whether it needs a key. Request and response bodies are described in the README
//! and DESIGN.md; generating their schemas (utoipa) is still to do.

use axum::Json;
use serde_json::{Map, Value, json};

/// (method, path, summary, needs a key)
const ROUTES: &[(&str, &str, &str, bool)] = &[
    ("get", "/healthz", "Liveness", false),
    ("get", "/readyz", "Readiness (the database answers)", false),
    ("get", "/metrics", "Prometheus metrics", false),
    ("get", "/openapi.json", "This document", false),
    ("post", "/v1/tenants", "Create a tenant (admin)", true),
    ("get", "/v1/tenants", "List tenants (admin)", true),
    (
        "post",
        "/v1/tenants/{tenant}/keys",
        "Create a tenant key, shown once (admin); optional name and expiry",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/keys",
        "List a tenant's keys (never the key)",
        true,
    ),
    (
        "delete",
        "/v1/tenants/{tenant}/keys/{id}",
        "Revoke a tenant key",
        true,
    ),
    (
        "post",
        "/v1/admin/keys",
        "Create an admin key (admin)",
        true,
    ),
    ("get", "/v1/admin/keys", "List admin keys (admin)", true),
    (
        "delete",
        "/v1/admin/keys/{id}",
        "Revoke an admin key, never the last (admin)",
        true,
    ),
    (
        "patch",
        "/v1/tenants/{tenant}",
        "Change a tenant's retention (or, admin, its name)",
        true,
    ),
    (
        "delete",
        "/v1/tenants/{tenant}",
        "Delete a tenant and all it owns (admin)",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenant}/erasures",
        "Erase one person's data by booking id, client email or phone",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/erasures",
        "List erasures (counts, never the value)",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/export",
        "Everything stored about the tenant, as JSON Lines",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenant}/events",
        "Ingest a booking event (202)",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenant}/subscriptions",
        "Create a subscription; answers its secret once",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/subscriptions",
        "List subscriptions",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/subscriptions/{id}",
        "Read a subscription",
        true,
    ),
    (
        "patch",
        "/v1/tenants/{tenant}/subscriptions/{id}",
        "Change a subscription",
        true,
    ),
    (
        "delete",
        "/v1/tenants/{tenant}/subscriptions/{id}",
        "Delete a subscription",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenant}/subscriptions/{id}/rotate-secret",
        "Rotate the secret; the old one signs on for the overlap",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenant}/subscriptions/{id}/test",
        "Send a sample booking event",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/deliveries",
        "The delivery log (filters: subscription_id, status, event_id)",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenant}/deliveries/retry",
        "Retry every failed delivery since a time",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/deliveries/{id}",
        "A delivery with its attempts and the request sent",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenant}/deliveries/{id}/retry",
        "Retry one delivery",
        true,
    ),
    (
        "get",
        "/v1/modules",
        "The shared catalog (latest version of each module)",
        true,
    ),
    (
        "put",
        "/v1/modules/{name}",
        "Upload a catalog module version (admin, application/wasm)",
        true,
    ),
    (
        "get",
        "/v1/modules/{name}",
        "All versions of a catalog module",
        true,
    ),
    (
        "post",
        "/v1/modules/{name}/run",
        "Dry run of the latest version",
        true,
    ),
    (
        "get",
        "/v1/modules/{name}/versions/{version}",
        "One version",
        true,
    ),
    (
        "delete",
        "/v1/modules/{name}/versions/{version}",
        "Delete a version no subscription pins (admin)",
        true,
    ),
    (
        "get",
        "/v1/modules/{name}/versions/{version}/wasm",
        "Download the component",
        true,
    ),
    (
        "post",
        "/v1/modules/{name}/versions/{version}/run",
        "Dry run of one version",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/modules",
        "The tenant's own modules",
        true,
    ),
    (
        "put",
        "/v1/tenants/{tenant}/modules/{name}",
        "Upload a tenant module version (application/wasm)",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/modules/{name}",
        "All versions of a tenant module",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenant}/modules/{name}/run",
        "Dry run of the latest version",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/modules/{name}/versions/{version}",
        "One version",
        true,
    ),
    (
        "delete",
        "/v1/tenants/{tenant}/modules/{name}/versions/{version}",
        "Delete a version no subscription pins",
        true,
    ),
    (
        "get",
        "/v1/tenants/{tenant}/modules/{name}/versions/{version}/wasm",
        "Download the component",
        true,
    ),
    (
        "post",
        "/v1/tenants/{tenant}/modules/{name}/versions/{version}/run",
        "Dry run of one version",
        true,
    ),
];

/// The document.
pub async fn document() -> Json<Value> {
    let mut paths = Map::new();
    for (method, path, summary, secured) in ROUTES {
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut operation = json!({
            "summary": summary,
            "parameters": parameters,
            "responses": {
                "default": {"description": "JSON; errors are {\"code\", \"message\"} with a 4xx status"}
            }
        });
        if *secured {
            operation["security"] = json!([{"bearer": []}]);
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = operation;
    }
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "krog", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Signed booking-event webhooks with WebAssembly transforms"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }))
}
