//! Building and running the service: [`Application::build`] connects the database, prepares
//! the runtime and the built-in catalog, binds the listener (port 0 works) and starts the
//! workers; [`Application::run_until_stopped`] serves until ctrl-c/SIGTERM and shuts down
//! without losing work.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tokio::sync::watch;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::Error;
use crate::api::{auth, deliveries, events, modules, subscriptions, tenants};
use crate::config::Config;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::secrets::ExposeSecret;
use crate::state::AppState;
use crate::store::Db;
use crate::telemetry;
use crate::worker::queue;

/// A built, bound, not yet serving krog.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    queue_rx: queue::Receiver,
    /// The admin key created on this start, if one was (printed once by the binary).
    pub new_admin_key: Option<String>,
}

impl Application {
    /// Connects, migrates, installs the catalog, binds.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        telemetry::prometheus();
        // A guessable admin key is refused before anything slow (compiling the built-in
        // modules) happens.
        if let Some(key) = &config.admin_key
            && !config.allow_weak_admin_key
        {
            crate::api::keys::check_admin_key(key.expose_secret(), config.compiler.as_deref())
                .map_err(anyhow::Error::msg)?;
        }
        let sqlite_file = crate::files::sqlite_file(&config.database_url);
        if let Some(file) = &sqlite_file {
            // Created private before SQLite opens it: its -wal and -shm files take its mode.
            crate::files::prepare_sqlite_file(file)?;
        }
        let db = Db::connect(
            &config.database_url,
            &config.sqlite_synchronous,
            config.database_pool,
        )
        .await?;
        // Shared by every node, so an artifact one node compiled is trusted by the others
        // only if it carries this installation's MAC.
        let cache_key = match config.artifact_cache_key {
            Some(key) => key,
            None => db.installation_key("artifact_mac_key").await?,
        };
        if let Some(file) = &sqlite_file {
            crate::files::check_sqlite_files(file);
        }
        let keyring = crate::secrets::open(&config, &db).await?;
        let runtime = {
            let runtime_config = RuntimeConfig {
                cache_key: Some(cache_key),
                limits: config.limits.clone(),
                cache_dir: Some(config.resolved_cache_dir()),
                instance_reuse: config.plugin_instance_reuse,
                max_cached_modules: config.plugin_cache_modules,
                compiler: config.compiler.clone(),
                ..RuntimeConfig::default()
            };
            tokio::task::spawn_blocking(move || Runtime::new(runtime_config)).await??
        };
        modules::install_builtins(&db, &runtime, config.builtin_modules.as_deref()).await?;
        // Other modules load on first use (from the artifact cache when they have been compiled
        // before), so memory follows the modules in use, not the modules stored.
        let new_admin_key =
            auth::ensure_admin_key(&db, config.admin_key.as_ref().map(|k| k.expose_secret()))
                .await?;
        let released = crate::store::queue::recover_on_start(&db).await?;
        if released > 0 {
            tracing::info!(
                released,
                "resuming deliveries left pending by the previous run"
            );
        }
        let http = delivery_client(&config)?;
        let (queue, queue_rx) = queue::channel(config.queue_capacity);
        let listener = TcpListener::bind(config.listen).await?;
        let public_url: Arc<str> = match &config.public_url {
            Some(url) => url.as_str().into(),
            None => format!("http://{}", listener.local_addr()?).into(),
        };
        let writer = crate::store::writer::Writer::spawn(
            db.clone(),
            &config.database_url,
            &config.sqlite_synchronous,
            config.claim_lease,
            queue.node_id().into(),
        )?;
        let config = Arc::new(config);
        let directory = crate::directory::Directory::new(
            db.clone(),
            runtime.clone(),
            config.clone(),
            keyring.clone(),
        );
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let state = AppState {
            pipeline: crate::worker::Context {
                directory,
                transforms: Arc::new(tokio::sync::Semaphore::new(cores)),
                plugin_slots: Arc::new(crate::limits::TenantSlots::new(
                    config.plugin_calls_per_tenant,
                )),
                writer,
                cancelled: Arc::default(),
                db,
                runtime,
                http,
                queue,
                config: config.clone(),
            },
            dry_runs: Arc::new(crate::limits::TenantSlots::new(config.dry_runs_per_tenant)),
            rate: Arc::new(crate::limits::RateLimiter::new(
                config.api_requests_per_second,
            )),
            keyring,
            public_url,
        };
        let router = router(state.clone());
        Ok(Application {
            listener,
            router,
            state,
            queue_rx,
            new_admin_key,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until ctrl-c or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes; then stops taking requests, lets in-flight attempts
    /// finish, gives back claims on work not started, and closes the database.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        tracing::info!(address = %self.local_addr(), "krog is listening");
        let retention = tokio::spawn(crate::worker::retention::run(
            self.state.pipeline.clone(),
            shutdown_rx.clone(),
        ));
        let workers = tokio::spawn(queue::start(
            self.state.pipeline.clone(),
            self.queue_rx,
            shutdown_rx,
        ));
        let sweeper = tokio::spawn(crate::secrets::sweep(
            self.state.db.clone(),
            crate::secrets::sweep_interval(&self.state.config),
        ));
        let limits = crate::server::Limits {
            header_read_timeout: self.state.config.header_read_timeout,
            max_connections: self.state.config.max_connections,
            shutdown_timeout: self.state.config.shutdown_timeout,
        };
        crate::server::serve(self.listener, self.router, limits, async move {
            stop.await;
            tracing::info!("shutting down: finishing attempts in flight");
        })
        .await;
        let _ = shutdown_tx.send(true);
        sweeper.abort();
        workers.await?;
        retention.await?;
        self.state.db.close().await;
        Ok(())
    }
}

/// The outbound client: connection reuse, no redirects (a redirect could lead anywhere),
/// and unless allowed, a resolver that refuses private addresses.
fn delivery_client(config: &Config) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("krog/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.delivery_timeout)
        .connect_timeout(
            config
                .delivery_timeout
                .min(std::time::Duration::from_secs(10)),
        )
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        // HTTP(S)_PROXY in krog's environment must not route tenants' deliveries (a proxy
        // inside the network is exactly where the private-address guard must not be skipped).
        .no_proxy();
    if !config.allow_private_destinations {
        builder = builder.dns_resolver(Arc::new(crate::destinations::GuardedResolver));
    }
    Ok(builder.build()?)
}

/// Every route, merged in one place, and the OpenAPI document made from the same handlers.
pub fn router(state: AppState) -> Router {
    let (router, doc) = routes(state.config.max_body_bytes).split_for_parts();
    let doc = crate::api::openapi::to_json(&crate::api::openapi::finish(doc));
    router
        .layer(axum::Extension(ServedDocument(axum::body::Bytes::from(
            doc.to_string(),
        ))))
        .merge(crate::console::router())
        .fallback(not_found)
        .layer(axum::middleware::map_response(
            crate::api::error::json_errors,
        ))
        // The span names the path, not the query: a console login link carries its token there.
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |request: &axum::http::Request<axum::body::Body>| {
                tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
            },
        ))
        .with_state(state)
}

/// The routes with the document they make (which [`router`] finishes and serves).
pub fn routes(body_limit: usize) -> OpenApiRouter<AppState> {
    // One body cap for every route that reads a body through an extractor, dry runs
    // included; module uploads read their body themselves, under the module size limit.
    let api = OpenApiRouter::new()
        .merge(tenants::router())
        .merge(crate::api::keys::router())
        .merge(events::router())
        .merge(subscriptions::router())
        .merge(deliveries::router())
        .merge(modules::router())
        .merge(crate::api::privacy::router())
        .merge(crate::api::console_links::router())
        .layer(DefaultBodyLimit::max(body_limit));
    OpenApiRouter::with_openapi(crate::api::openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .merge(api)
}

/// Liveness: the process serves.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "`ok`", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses((status = 200, description = "`ready`", body = String),
              (status = 503, description = "The database does not answer", body = String)))]
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// Prometheus metrics, each family with its `# HELP`.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics() -> String {
    telemetry::render().await
}

/// The finished document, serialized once at start.
#[derive(Clone)]
struct ServedDocument(axum::body::Bytes);

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value)))]
async fn openapi_json(
    axum::Extension(ServedDocument(doc)): axum::Extension<ServedDocument>,
) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc,
    )
}

async fn not_found() -> Error {
    Error::NotFound("route".into())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
