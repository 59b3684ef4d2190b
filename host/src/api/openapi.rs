//! `GET /openapi.json`: the API's OpenAPI 3.1 document, made from the code. Each handler
//! carries its `#[utoipa::path]` (method, path, operation id, parameters, bodies), the bodies
//! are the Rust types the handlers take and give (`ToSchema`), and every router registers its
//! handlers with utoipa-axum's `routes!`, which adds the route and its document entry from the
//! same annotation — so the router and the document cannot disagree
//! (`tests/tests/suite/openapi.rs` checks it from outside).
//!
//! What every operation shares is added here once: the `{code, message}` error answers and,
//! under `/v1/`, the bearer key.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, ToSchema};

/// The document's fixed parts: what krog is, and the schemas no handler names itself.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "krog",
        description = "Signed booking-event webhooks with WebAssembly transforms. Every route \
                       under /v1/ needs `Authorization: Bearer <key>`; errors are \
                       `{\"code\", \"message\"}` with a 4xx status.",
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// The body of every error answer.
#[derive(ToSchema)]
#[schema(example = json!({"code": "validation", "message": "event_types must name at least one of booking.created, booking.updated, booking.deleted"}))]
pub struct ErrorBody {
    /// A stable machine-readable code: `bad_request`, `validation`, `unauthorized`,
    /// `forbidden`, `not_found`, `conflict`, `payload_too_large`, `quota_exceeded`,
    /// `rate_limited`, or a plugin failure kind for refused modules.
    pub code: String,
    /// What went wrong and what to do, for people.
    pub message: String,
}

/// A WebAssembly component's bytes, as uploaded and downloaded (`application/wasm`).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Component(pub Vec<u8>);

/// `{tenant}` in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// The tenant's id.
    pub tenant: String,
}

/// `{tenant}` and `{id}` in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantItemPath {
    /// The tenant's id.
    pub tenant: String,
    /// The item's id.
    pub id: String,
}

/// `{id}` in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ItemPath {
    /// The item's id.
    pub id: String,
}

/// `{name}` of a catalog module.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CatalogModulePath {
    /// The module's name.
    pub name: String,
}

/// `{name}` and `{version}` of a catalog module.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CatalogVersionPath {
    /// The module's name.
    pub name: String,
    /// The version number.
    pub version: i64,
}

/// `{tenant}` and `{name}` of a tenant's module.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantModulePath {
    /// The tenant's id.
    pub tenant: String,
    /// The module's name.
    pub name: String,
}

/// `{tenant}`, `{name}` and `{version}` of a tenant's module.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantVersionPath {
    /// The tenant's id.
    pub tenant: String,
    /// The module's name.
    pub name: String,
    /// The version number.
    pub version: i64,
}

/// Adds what every operation shares to the document the routers built: the error answers,
/// and the bearer key on every route under `/v1/`.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A tenant key, or an admin key (`krog_…`)"))
                    .build(),
            ),
        );
    let error = || -> RefOr<Response> {
        ResponseBuilder::new()
            .description("`{code, message}`: what went wrong and what to do")
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build()
            .into()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let secured = path.starts_with("/v1/");
        let operations: [&mut Option<Operation>; 5] = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .responses
                .responses
                .entry("4XX".to_owned())
                .or_insert_with(error);
            if secured {
                operation.security = Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
            }
        }
    }
    doc
}

/// The document as JSON, for the route.
pub fn to_json(doc: &OpenApi) -> serde_json::Value {
    serde_json::to_value(doc).expect("an OpenAPI document serializes")
}
