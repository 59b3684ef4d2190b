//! Plugin modules: the shared catalog (admin uploads, the built-in formatters) and each
//! tenant's own modules. Every accepted upload is a new version, content addressed by sha256;
//! the bytes live in the database so that every node can compile them, and the compiled
//! artifacts live in the runtime's local cache.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::{Error, Result};
use crate::api::events::Incoming;
use crate::api::extract::{Json, Path};
use crate::api::openapi::{
    CatalogModulePath, CatalogVersionPath, TenantModulePath, TenantPath, TenantVersionPath,
};
use crate::directory::Unrunnable;
use crate::model::module::{CATALOG, is_module_name};
use crate::model::{Caller, Event, ModuleRef};
use crate::runtime::{self, EventInput, FailureKind, Module, PluginFailure, PluginInfo, Runtime};
use crate::state::AppState;
use crate::store::modules::{NewVersion, Quota as ModuleQuota, Stored, VersionRow};
use crate::store::{self, Db, now_ms, rfc3339};

/// The module routes: the catalog and tenants' own.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_catalog))
        .routes(routes!(upload_catalog, versions_catalog))
        .routes(routes!(run_catalog))
        .routes(routes!(version_catalog, delete_catalog))
        .routes(routes!(wasm_catalog))
        .routes(routes!(run_catalog_version))
        .routes(routes!(list_tenant))
        .routes(routes!(upload_tenant, versions_tenant))
        .routes(routes!(run_tenant))
        .routes(routes!(version_tenant, delete_tenant))
        .routes(routes!(wasm_tenant))
        .routes(routes!(run_tenant_version))
}

/// One stored version of a module, as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ModuleVersion {
    /// The module name.
    pub name: String,
    /// 1, 2, 3 … per module.
    pub version: i64,
    /// Hex SHA-256 of the component bytes.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: i64,
    /// What the plugin says about itself: name, description, config schema …
    #[schema(value_type = Object)]
    pub info: serde_json::Value,
    /// The krog release that shipped it, for built-in formatters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// Upload time.
    pub created_at: String,
}

impl From<VersionRow> for ModuleVersion {
    fn from(row: VersionRow) -> Self {
        ModuleVersion {
            name: row.name,
            version: row.version,
            sha256: row.sha256,
            size: row.size,
            info: serde_json::from_str(&row.info).unwrap_or(serde_json::Value::Null),
            builtin: row.builtin,
            created_at: rfc3339(row.created_at),
        }
    }
}

/// Finds the version a reference means (pinned, or the latest).
pub async fn find_version(db: &Db, module: &ModuleRef) -> Result<ModuleVersion> {
    store::modules::find_version(db, module)
        .await?
        .map(Into::into)
        .ok_or_else(|| Error::NotFound(module.describe()))
}

/// The compiled module for a stored version (see [`crate::directory::compiled`]).
pub async fn compiled(db: &Db, runtime: &Runtime, sha256: &str) -> Result<Module> {
    match crate::directory::compiled(db, runtime, sha256).await? {
        Ok(module) => Ok(module),
        Err(Unrunnable::Refused(failure)) => Err(failure.into()),
        Err(Unrunnable::Missing(sha256)) => Err(Error::NotFound(format!("module bytes {sha256}"))),
        Err(e @ Unrunnable::Interrupted(_)) => Err(Error::Internal(e.into())),
    }
}

/// Stores `wasm` as the next version of `owner`/`name` after validating and compiling it;
/// identical bytes to an existing version return that version instead.
pub async fn store(
    db: &Db,
    runtime: &Runtime,
    owner: &str,
    name: &str,
    wasm: Vec<u8>,
    builtin: Option<&str>,
    quota: Option<ModuleQuota>,
) -> Result<(ModuleVersion, bool)> {
    let sha256 = hex::encode(Sha256::digest(&wasm));
    if let Some(row) = store::modules::by_sha256(db, owner, name, &sha256).await? {
        return Ok((row.into(), false));
    }
    let info = {
        let runtime = runtime.clone();
        let wasm = wasm.clone();
        tokio::task::spawn_blocking(move || -> Result<PluginInfo, PluginFailure> {
            let module = runtime.load(&wasm)?;
            // The wall-clock limit is not deterministic: on a busy machine (several modules
            // compiling at a first start) the first call of a fresh module can miss it. Fuel
            // and memory are; a module that times out three times in a row is refused.
            let mut tries = 0;
            loop {
                match runtime.info(&module) {
                    Err(failure) if failure.kind == FailureKind::Timeout && tries < 2 => tries += 1,
                    result => break result,
                }
            }
        })
        .await
        .map_err(|e| Error::Internal(e.into()))??
    };
    // A schema that cannot be checked in bounded time is refused now, with the reason, rather
    // than at the first subscription (or worse, while it holds a thread).
    // (The built-in formatters are krog's own and checked by its tests; skipping them keeps
    // the validator's meta-schemas, which jsonschema keeps for good, out of a start that has
    // no tenant module.)
    if info.config_schema.is_object() && builtin.is_none() {
        crate::schema::validate(info.config_schema.clone(), serde_json::json!({}))
            .await
            .map_err(|e| Error::Validation(format!("the module is refused: {e}")))?;
    }
    let info_json = serde_json::to_string(&info).map_err(|e| Error::Internal(e.into()))?;
    let now = now_ms();
    let new = NewVersion {
        owner,
        name,
        sha256: &sha256,
        wasm: &wasm,
        info: &info_json,
        builtin,
        created_at: now,
    };
    let version = match store::modules::insert_version(db, &new, quota).await? {
        Stored::Version(version) => version,
        Stored::TooManyVersions(versions) => {
            return Err(Error::Quota(format!(
                "module {name} has {versions} versions, the most allowed \
                 (KROG_MAX_VERSIONS_PER_MODULE={}); delete old versions first",
                quota.map_or(0, |q| q.versions)
            )));
        }
        Stored::TooManyModules(modules) => {
            return Err(Error::Quota(format!(
                "there are {modules} modules, the most allowed \
                 (KROG_MAX_MODULES_PER_TENANT={}); delete one first",
                quota.map_or(0, |q| q.modules)
            )));
        }
    };
    let stored = ModuleVersion {
        name: name.to_owned(),
        version,
        sha256,
        size: wasm.len() as i64,
        info: serde_json::to_value(&info).unwrap_or_default(),
        builtin: builtin.map(str::to_owned),
        created_at: rfc3339(now),
    };
    Ok((stored, true))
}

/// Puts the built-in formatters into the catalog: a new version when this krog ships bytes
/// the catalog does not have yet; versions tenants pinned stay as they are.
/// Installs the built-in modules (those named in `only`, or all).
pub async fn install_builtins(
    db: &Db,
    runtime: &Runtime,
    only: Option<&[String]>,
) -> anyhow::Result<()> {
    let chosen = |name: &str| only.is_none_or(|names| names.iter().any(|n| n == name));
    for builtin in runtime::catalog::builtins()
        .iter()
        .filter(|b| chosen(b.name))
    {
        let (version, created) = store(
            db,
            runtime,
            CATALOG,
            builtin.name,
            builtin.wasm.to_vec(),
            Some(env!("CARGO_PKG_VERSION")),
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("installing built-in module {}: {e}", builtin.name))?;
        if created {
            tracing::info!(
                module = builtin.name,
                version = version.version,
                "installed built-in module"
            );
            // Compiled to be checked, it need not stay in memory until a subscription uses it:
            // the Python formatter alone holds ~40 MB compiled (BENCHMARKS.md, "Memory").
            runtime.forget(&version.sha256);
        }
    }
    Ok(())
}

/// What to add to "module … does not exist": the tenant's own module of that name when a
/// catalog name was given (and the other way round), else the names there are.
pub async fn naming_hint(db: &Db, tenant: &str, module: &ModuleRef) -> Result<String> {
    let catalog = store::modules::names(db, CATALOG, 51).await?;
    let own = store::modules::names(db, tenant, 51).await?;
    let in_catalog = catalog.contains(&module.name);
    let in_own = own.contains(&module.name);
    Ok(match (module.owner.is_empty(), module.version) {
        (true, _) if in_own => format!(
            " in the catalog; your own module of that name is \"tenant:{}\"",
            module.name
        ),
        (false, _) if in_catalog && !in_own => format!(
            "; the catalog's module of that name is \"{}\" (without \"tenant:\")",
            module.name
        ),
        (_, Some(_)) if in_catalog || in_own => {
            "; GET the module's versions to see which exist".to_owned()
        }
        _ => {
            let own = own
                .iter()
                .map(|n| format!("tenant:{n}"))
                .collect::<Vec<_>>();
            let known = [catalog, own].concat();
            format!(
                "; the modules there are: {} (your own are named \"tenant:<name>\")",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        }
    })
}

/// How to send a module's bytes unchanged.
const UPLOAD_HINT: &str = "is the body the file's bytes? with curl use --data-binary \
     @file.wasm -H 'content-type: application/wasm' (-d strips the file's line breaks)";

/// Adds [`UPLOAD_HINT`] to a refusal of bytes that are no WebAssembly at all or do not
/// decode, the marks of a body changed on the way (or to any refusal of a form upload).
fn with_upload_hint(error: Error, sent_as_form: bool) -> Error {
    match error {
        Error::Plugin(mut failure)
            if failure.kind == FailureKind::InvalidModule
                && (sent_as_form
                    || failure.message.starts_with("not a WebAssembly binary")
                    || failure
                        .message
                        .starts_with("the component does not compile")) =>
        {
            failure.message = format!("{}; {UPLOAD_HINT}", failure.message);
            Error::Plugin(failure)
        }
        other => other,
    }
}

fn owner_of(tenant: Option<&str>) -> &str {
    tenant.unwrap_or(CATALOG)
}

async fn authorize(
    state: &AppState,
    caller: &Caller,
    tenant: Option<&str>,
    write: bool,
) -> Result<()> {
    match tenant {
        Some(tenant) => caller.require_tenant(&state.directory, tenant).await,
        None if write => caller.require_admin(),
        None => Ok(()),
    }
}

async fn upload(
    state: AppState,
    caller: Caller,
    tenant: Option<String>,
    name: String,
    req: Request,
) -> Result<impl IntoResponse> {
    authorize(&state, &caller, tenant.as_deref(), true).await?;
    if !is_module_name(&name) {
        return Err(Error::Validation(format!(
            "module name {name:?} must be 1 to 64 of a-z, 0-9 and -"
        )));
    }
    // `curl -d @file` sends a form (and strips the file's line breaks): say so if it fails.
    let sent_as_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let limit = state.runtime.limits().max_module_bytes;
    let bytes: Bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| PluginFailure {
        kind: FailureKind::ModuleTooLarge,
        message: format!("the module is larger than the limit of {limit} bytes (KROG_PLUGIN_MAX_MODULE_BYTES)"),
        logs: Vec::new(),
        duration: std::time::Duration::ZERO,
        fuel_consumed: 0,
    })?;
    if bytes.is_empty() {
        return Err(Error::Validation(format!(
            "the body must be the component's bytes (application/wasm); {UPLOAD_HINT}"
        )));
    }
    let (version, created) = store(
        &state.db,
        &state.runtime,
        owner_of(tenant.as_deref()),
        &name,
        bytes.to_vec(),
        None,
        tenant.as_ref().map(|_| ModuleQuota {
            modules: state.config.max_modules_per_tenant,
            versions: state.config.max_versions_per_module,
        }),
    )
    .await
    .map_err(|e| with_upload_hint(e, sent_as_form))?;
    state.directory.invalidate();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(version)))
}

async fn list(
    state: AppState,
    caller: Caller,
    tenant: Option<String>,
) -> Result<impl IntoResponse> {
    authorize(&state, &caller, tenant.as_deref(), false).await?;
    // The latest version of each module.
    let rows = store::modules::latest_versions(&state.db, owner_of(tenant.as_deref())).await?;
    Ok(axum::Json(ModuleList {
        data: rows.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

async fn versions(
    state: AppState,
    caller: Caller,
    tenant: Option<String>,
    name: String,
) -> Result<impl IntoResponse> {
    authorize(&state, &caller, tenant.as_deref(), false).await?;
    let rows = store::modules::versions(&state.db, owner_of(tenant.as_deref()), &name).await?;
    if rows.is_empty() {
        return Err(Error::NotFound(format!("module {name}")));
    }
    Ok(axum::Json(ModuleList {
        data: rows.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

fn reference(tenant: Option<&str>, name: String, version: Option<i64>) -> ModuleRef {
    ModuleRef {
        owner: owner_of(tenant).to_owned(),
        name,
        version,
    }
}

async fn one_version(
    state: AppState,
    caller: Caller,
    tenant: Option<String>,
    name: String,
    version: i64,
) -> Result<impl IntoResponse> {
    authorize(&state, &caller, tenant.as_deref(), false).await?;
    let found = find_version(
        &state.db,
        &reference(tenant.as_deref(), name, Some(version)),
    )
    .await?;
    Ok(axum::Json(found))
}

async fn download(
    state: AppState,
    caller: Caller,
    tenant: Option<String>,
    name: String,
    version: i64,
) -> Result<impl IntoResponse> {
    authorize(&state, &caller, tenant.as_deref(), false).await?;
    let found = find_version(
        &state.db,
        &reference(tenant.as_deref(), name, Some(version)),
    )
    .await?;
    let wasm = store::modules::blob(&state.db, &found.sha256)
        .await?
        .ok_or_else(|| Error::NotFound(format!("module bytes {}", found.sha256)))?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], wasm))
}

async fn delete_version(
    state: AppState,
    caller: Caller,
    tenant: Option<String>,
    name: String,
    version: i64,
) -> Result<impl IntoResponse> {
    authorize(&state, &caller, tenant.as_deref(), true).await?;
    let module = reference(tenant.as_deref(), name, Some(version));
    let found = find_version(&state.db, &module).await?;
    let latest = find_version(
        &state.db,
        &ModuleRef {
            version: None,
            ..module.clone()
        },
    )
    .await?;
    let using = crate::api::subscriptions::resolving_to(&state.db, &module, latest.version).await?;
    if !using.is_empty() {
        let unpinned = if version == latest.version {
            " (those without a pinned version use the latest)"
        } else {
            ""
        };
        return Err(Error::Conflict(format!(
            "{} is used by subscription(s) {}{unpinned}; point them at another version or \
             module, or delete them, first",
            module.describe(),
            using.join(", ")
        )));
    }
    store::modules::delete_version(&state.db, &module.owner, &module.name, version).await?;
    state.directory.invalidate();
    // The bytes go with the last version that uses them (the same bytes may back versions of
    // other modules and owners). Should this fail, the background sweep deletes them later.
    if let Err(e) = store::modules::delete_unused_blob(&state.db, &found.sha256).await {
        tracing::debug!(error = %e, sha256 = %found.sha256, "module bytes left for the sweep");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A dry run's input: the event as the booking system would send it, and the config.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DryRun {
    /// The event, as for `POST …/events`, or one of krog's operational events
    /// (`krog.subscription.disabled`, `krog.delivery.failed`) as krog sends them.
    event: Incoming,
    /// Absent or `null`: the schema's default, as for a subscription.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    config: Option<serde_json::Value>,
}

/// Modules or versions, all on one page.
#[derive(Serialize, ToSchema)]
pub struct ModuleList {
    /// The modules (the latest version of each) or one module's versions, oldest first.
    data: Vec<ModuleVersion>,
    /// Always null: listed whole.
    next_cursor: Option<String>,
}

async fn dry_run(
    state: AppState,
    caller: Caller,
    tenant: Option<String>,
    name: String,
    version: Option<i64>,
    run: DryRun,
) -> Result<impl IntoResponse> {
    authorize(&state, &caller, tenant.as_deref(), false).await?;
    let slot_owner = match &caller {
        Caller::Tenant(own) => own.as_str(),
        Caller::Admin => "",
    };
    let module = reference(tenant.as_deref(), name, version);
    let event = run.event.into_known_event()?;
    let outcome = run_module(
        &state,
        slot_owner,
        tenant.as_deref(),
        &module,
        event,
        run.config,
    )
    .await?;
    Ok(axum::Json(outcome))
}

/// Runs `module` on `event` with `config` (absent: the schema's default) as a dry run for
/// `tenant` (`None`: the catalog, by an admin), within the dry-run slots of `slot_owner`: the
/// outcome as `krog plugin run --json` gives it, nothing delivered.
pub async fn run_module(
    state: &AppState,
    slot_owner: &str,
    tenant: Option<&str>,
    module: &ModuleRef,
    event: Event,
    config: Option<serde_json::Value>,
) -> Result<serde_json::Value> {
    // Dry runs share the plugin sandbox with deliveries: a tenant runs a few at once, never
    // enough to take the instance pool or the blocking threads from anyone.
    let _slot = state
        .dry_runs
        .try_acquire(slot_owner)
        .ok_or_else(|| Error::TooManyRequests {
            message: format!(
                "at most {} dry runs of one tenant run at once; wait for one to finish \
                 (KROG_DRY_RUNS_PER_TENANT)",
                state.config.dry_runs_per_tenant
            ),
            retry_after: 1,
        })?;
    let found = find_version(&state.db, module).await?;
    let compiled = compiled(&state.db, &state.runtime, &found.sha256).await?;
    let input = EventInput {
        id: event.id,
        event_type: event.event_type.to_owned(),
        timestamp: event.timestamp,
        tenant: tenant.unwrap_or("dry-run").to_owned(),
        data: event.data,
    };
    let config = crate::plugin_config::resolve(found.info.get("config_schema"), config)
        .await
        .map_err(|e| Error::Validation(format!("config: {e}")))?
        .to_string();
    let runtime = state.runtime.clone();
    let result = tokio::task::spawn_blocking(move || runtime.transform(&compiled, &input, &config))
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    Ok(crate::dry_run::dry_run_json(&result))
}

// Thin handlers: the catalog's routes have no tenant, the tenant routes have one.

/// The shared catalog: the latest version of each module.
#[utoipa::path(get, path = "/v1/modules", operation_id = "list_catalog_modules", tag = "modules", responses((status = 200, description = "The modules", body = ModuleList)))]
async fn list_catalog(caller: Caller, State(state): State<AppState>) -> Result<impl IntoResponse> {
    list(state, caller, None).await
}
/// The tenant's own modules: the latest version of each.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/modules", operation_id = "list_tenant_modules", tag = "modules", params(TenantPath), responses((status = 200, description = "The modules", body = ModuleList)))]
async fn list_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<impl IntoResponse> {
    list(state, caller, Some(tenant)).await
}
/// Uploads a catalog module version (admin): the component's bytes, checked and compiled now.
#[utoipa::path(put, path = "/v1/modules/{name}", operation_id = "upload_catalog_module", tag = "modules", params(CatalogModulePath), request_body(content = crate::api::openapi::Component, content_type = "application/wasm", description = "The component (`wasm32-wasip2`); with curl: `--data-binary @file.wasm`"), responses((status = 201, description = "A new version", body = ModuleVersion), (status = 200, description = "The same bytes as the latest version: nothing new", body = ModuleVersion)))]
async fn upload_catalog(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Result<impl IntoResponse> {
    upload(state, caller, None, name, req).await
}
/// Uploads a tenant module version: the component's bytes, checked and compiled now.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/modules/{name}", operation_id = "upload_tenant_module", tag = "modules", params(TenantModulePath), request_body(content = crate::api::openapi::Component, content_type = "application/wasm", description = "The component (`wasm32-wasip2`); with curl: `--data-binary @file.wasm`"), responses((status = 201, description = "A new version", body = ModuleVersion), (status = 200, description = "The same bytes as the latest version: nothing new", body = ModuleVersion)))]
async fn upload_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    req: Request,
) -> Result<impl IntoResponse> {
    upload(state, caller, Some(tenant), name, req).await
}
/// All versions of a catalog module.
#[utoipa::path(get, path = "/v1/modules/{name}", operation_id = "list_catalog_module_versions", tag = "modules", params(CatalogModulePath), responses((status = 200, description = "The versions", body = ModuleList)))]
async fn versions_catalog(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse> {
    versions(state, caller, None, name).await
}
/// All versions of a tenant module.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/modules/{name}", operation_id = "list_tenant_module_versions", tag = "modules", params(TenantModulePath), responses((status = 200, description = "The versions", body = ModuleList)))]
async fn versions_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<impl IntoResponse> {
    versions(state, caller, Some(tenant), name).await
}
/// One version of a catalog module.
#[utoipa::path(get, path = "/v1/modules/{name}/versions/{version}", operation_id = "get_catalog_module_version", tag = "modules", params(CatalogVersionPath), responses((status = 200, description = "The version", body = ModuleVersion)))]
async fn version_catalog(
    caller: Caller,
    State(state): State<AppState>,
    Path((name, version)): Path<(String, i64)>,
) -> Result<impl IntoResponse> {
    one_version(state, caller, None, name, version).await
}
/// One version of a tenant module.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/modules/{name}/versions/{version}", operation_id = "get_tenant_module_version", tag = "modules", params(TenantVersionPath), responses((status = 200, description = "The version", body = ModuleVersion)))]
async fn version_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, name, version)): Path<(String, String, i64)>,
) -> Result<impl IntoResponse> {
    one_version(state, caller, Some(tenant), name, version).await
}
/// Downloads a catalog module version's component.
#[utoipa::path(get, path = "/v1/modules/{name}/versions/{version}/wasm", operation_id = "download_catalog_module", tag = "modules", params(CatalogVersionPath), responses((status = 200, description = "The component", content_type = "application/wasm", body = crate::api::openapi::Component)))]
async fn wasm_catalog(
    caller: Caller,
    State(state): State<AppState>,
    Path((name, version)): Path<(String, i64)>,
) -> Result<impl IntoResponse> {
    download(state, caller, None, name, version).await
}
/// Downloads a tenant module version's component.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/modules/{name}/versions/{version}/wasm", operation_id = "download_tenant_module", tag = "modules", params(TenantVersionPath), responses((status = 200, description = "The component", content_type = "application/wasm", body = crate::api::openapi::Component)))]
async fn wasm_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, name, version)): Path<(String, String, i64)>,
) -> Result<impl IntoResponse> {
    download(state, caller, Some(tenant), name, version).await
}
/// Deletes a catalog module version no subscription uses (admin); its number is never given again.
#[utoipa::path(delete, path = "/v1/modules/{name}/versions/{version}", operation_id = "delete_catalog_module_version", tag = "modules", params(CatalogVersionPath), responses((status = 204, description = "Deleted")))]
async fn delete_catalog(
    caller: Caller,
    State(state): State<AppState>,
    Path((name, version)): Path<(String, i64)>,
) -> Result<impl IntoResponse> {
    delete_version(state, caller, None, name, version).await
}
/// Deletes a tenant module version no subscription uses; its number is never given again.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/modules/{name}/versions/{version}", operation_id = "delete_tenant_module_version", tag = "modules", params(TenantVersionPath), responses((status = 204, description = "Deleted")))]
async fn delete_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, name, version)): Path<(String, String, i64)>,
) -> Result<impl IntoResponse> {
    delete_version(state, caller, Some(tenant), name, version).await
}
/// Dry run of a catalog module's latest version on an event: what it would send, nothing sent.
#[utoipa::path(post, path = "/v1/modules/{name}/run", operation_id = "dry_run_catalog_module", tag = "modules", params(CatalogModulePath), request_body = DryRun, responses((status = 200, description = "The outcome: the request it would send, a skip or a failure, with its logs", body = serde_json::Value)))]
async fn run_catalog(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(run): Json<DryRun>,
) -> Result<impl IntoResponse> {
    dry_run(state, caller, None, name, None, run).await
}
/// Dry run of one catalog module version.
#[utoipa::path(post, path = "/v1/modules/{name}/versions/{version}/run", operation_id = "dry_run_catalog_module_version", tag = "modules", params(CatalogVersionPath), request_body = DryRun, responses((status = 200, description = "The outcome: the request it would send, a skip or a failure, with its logs", body = serde_json::Value)))]
async fn run_catalog_version(
    caller: Caller,
    State(state): State<AppState>,
    Path((name, version)): Path<(String, i64)>,
    Json(run): Json<DryRun>,
) -> Result<impl IntoResponse> {
    dry_run(state, caller, None, name, Some(version), run).await
}
/// Dry run of a tenant module's latest version on an event: what it would send, nothing sent.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/modules/{name}/run", operation_id = "dry_run_tenant_module", tag = "modules", params(TenantModulePath), request_body = DryRun, responses((status = 200, description = "The outcome: the request it would send, a skip or a failure, with its logs", body = serde_json::Value)))]
async fn run_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    Json(run): Json<DryRun>,
) -> Result<impl IntoResponse> {
    dry_run(state, caller, Some(tenant), name, None, run).await
}
/// Dry run of one tenant module version.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/modules/{name}/versions/{version}/run", operation_id = "dry_run_tenant_module_version", tag = "modules", params(TenantVersionPath), request_body = DryRun, responses((status = 200, description = "The outcome: the request it would send, a skip or a failure, with its logs", body = serde_json::Value)))]
async fn run_tenant_version(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, name, version)): Path<(String, String, i64)>,
    Json(run): Json<DryRun>,
) -> Result<impl IntoResponse> {
    dry_run(state, caller, Some(tenant), name, Some(version), run).await
}
