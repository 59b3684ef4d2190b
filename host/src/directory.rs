//! The hot path's memory of the database: which API keys exist, which tenants, and where each
//! tenant's events go (subscriptions with their URL, event types, resolved transform module and
//! signing keys). Ingest and delivery read only from here, so an event costs no reads.
//!
//! Entries are loaded on first use and dropped on any change made through this node (every
//! write path calls [`Directory::invalidate`]). On PostgreSQL the change is also announced on
//! [`CHANNEL`], so the other nodes drop theirs at once; `KROG_DIRECTORY_TTL` bounds how long a
//! missed announcement (a node whose listening connection was down) can go unseen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::model::{Caller, ModuleRef, Transform};
use crate::runtime::{Module, PluginFailure, Runtime};
use crate::secrets::{ExposeSecret, Keyring};
use crate::signing::SigningKey;
use crate::store::{self, Backend, Db, Result};

/// Where one subscription's deliveries go, as of when it was loaded.
pub struct Target {
    /// The subscription id.
    pub id: String,
    /// The destination URL, parsed and checked against the destination policy once, when
    /// loaded, rather than on every attempt; `Err` says why it may not be sent to (recorded on
    /// each attempt).
    pub destination: std::result::Result<url::Url, String>,
    /// The event types it listens to.
    pub event_types: Vec<String>,
    /// False when disabled (by the tenant, a 410, or failing too long).
    pub enabled: bool,
    /// Free text for people (named in the operational event about it).
    pub description: String,
    /// The host of its URL, the only part of it an operational event names.
    pub host: String,
    /// Since when every delivery has failed (ms; [`NOT_FAILING`] while not): loaded with the
    /// subscription, and kept up to date by this node's settlements ([`Target::set_failing_since`])
    /// — a settlement starts or clears it in the database only when this says it must, so a
    /// healthy subscription's success writes nothing more. Other nodes' changes are seen at
    /// the next load (within `KROG_DIRECTORY_TTL`).
    failing_since: AtomicI64,
    /// The transform, resolved to a compiled module; `Err` holds why it cannot run, recorded as
    /// a plugin error on each attempt (the module was deleted, its bytes are unreadable…).
    pub transform: Option<std::result::Result<Resolved, String>>,
    /// Signing secrets, newest first, with their expiry (ms since the epoch); `Err` says why
    /// they could not be read (a secret under a master key this node does not have).
    keys: std::result::Result<Vec<(SigningKey, Option<i64>)>, String>,
}

/// [`Target`]'s `failing_since` of a subscription that is not failing.
const NOT_FAILING: i64 = i64::MIN;

impl Target {
    /// Since when every delivery has failed (ms), as this node knows.
    pub fn failing_since(&self) -> Option<i64> {
        Some(self.failing_since.load(Ordering::Relaxed)).filter(|&at| at != NOT_FAILING)
    }

    /// Records what a settlement stored: failing since `at`, or (`None`) not failing.
    pub fn set_failing_since(&self, at: Option<i64>) {
        self.failing_since
            .store(at.unwrap_or(NOT_FAILING), Ordering::Relaxed);
    }

    /// Whether an event of this type goes here.
    pub fn listens_to(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == event_type)
    }

    /// The keys to sign with now: every secret not yet expired. `Err` when one could not be
    /// decrypted: then nothing is sent (a delivery signed with only some of the secrets might
    /// not verify for its receiver), and the attempt records why.
    pub fn signing_keys(&self, now_ms: i64) -> std::result::Result<Vec<SigningKey>, String> {
        let keys = self.keys.as_ref().map_err(Clone::clone)?;
        Ok(keys
            .iter()
            .filter(|(_, expires)| expires.is_none_or(|at| at > now_ms))
            .map(|(key, _)| key.clone())
            .collect())
    }
}

/// A transform ready to run.
pub struct Resolved {
    /// The compiled plugin of the version in use.
    pub module: Module,
    /// The plugin's config as JSON text.
    pub config: String,
}

/// A tenant's subscriptions.
pub struct Routes {
    loaded: Instant,
    generation: u64,
    /// Every subscription of the tenant, enabled or not.
    pub targets: Vec<Arc<Target>>,
}

impl Routes {
    /// The subscription `id`, if the tenant has it.
    pub fn target(&self, id: &str) -> Option<&Arc<Target>> {
        self.targets.iter().find(|t| t.id == id)
    }
}

struct Stamped<T> {
    value: T,
    loaded: Instant,
    generation: u64,
}

/// A key as the directory remembers it.
struct KnownKey {
    id: String,
    caller: Caller,
    expires_at: Option<i64>,
}

/// How often a key's `last_used_at` is written at most.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A tenant's routes unused this long (or the TTL, if longer) are dropped from memory.
const FORGET_AFTER: Duration = Duration::from_secs(300);

/// The PostgreSQL channel on which nodes announce that keys, tenants, subscriptions or modules
/// changed.
pub const CHANNEL: &str = "krog_directory";

/// The cache. Cheap to clone.
#[derive(Clone)]
pub struct Directory {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    runtime: Runtime,
    config: Arc<Config>,
    keyring: Arc<Keyring>,
    generation: AtomicU64,
    keys: Mutex<HashMap<String, Stamped<KnownKey>>>,
    /// When each key's use was last written down (ms since the epoch).
    touched: Mutex<HashMap<String, i64>>,
    tenants: Mutex<HashMap<String, Arc<Routes>>>,
}

impl Directory {
    /// An empty directory over `db`; entries older than `config.directory_ttl` are reloaded.
    pub fn new(db: Db, runtime: Runtime, config: Arc<Config>, keyring: Arc<Keyring>) -> Directory {
        Directory {
            inner: Arc::new(Inner {
                db,
                runtime,
                config,
                keyring,
                generation: AtomicU64::new(0),
                keys: Mutex::new(HashMap::new()),
                touched: Mutex::new(HashMap::new()),
                tenants: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Forgets everything, here and (on PostgreSQL) on every other node: called after every
    /// change to keys, tenants, subscriptions, secrets or modules.
    pub fn invalidate(&self) {
        self.forget();
        if self.inner.db.backend() == Backend::Postgres {
            let db = self.inner.db.clone();
            tokio::spawn(async move {
                if let Err(e) = store::directory::notify(&db, CHANNEL).await {
                    tracing::warn!(error = %e, "could not announce a change to other nodes; they see it within the directory TTL");
                }
            });
        }
    }

    /// Forgets everything on this node (another node announced a change).
    pub fn forget(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        lock(&self.inner.keys).clear();
        lock(&self.inner.tenants).clear();
    }

    fn fresh(&self, loaded: Instant, generation: u64) -> bool {
        generation == self.inner.generation.load(Ordering::Acquire)
            && loaded.elapsed() < self.inner.config.directory_ttl
    }

    /// Who holds `key`, or `None` for an unknown, revoked or expired key. `hash` is the key's
    /// `api::auth::hash_key`.
    pub async fn caller(&self, hash: &str) -> Result<Option<Caller>> {
        let now = crate::store::now_ms();
        if let Some(entry) = lock(&self.inner.keys).get(hash)
            && self.fresh(entry.loaded, entry.generation)
        {
            let known = &entry.value;
            if known.expires_at.is_some_and(|at| at <= now) {
                return Ok(None);
            }
            self.touch(&known.id, now);
            return Ok(Some(known.caller.clone()));
        }
        let generation = self.inner.generation.load(Ordering::Acquire);
        let loaded = Instant::now();
        let row = store::directory::key_by_hash(&self.inner.db, hash).await?;
        let Some((id, tenant, expires_at)) = row else {
            return Ok(None);
        };
        let caller = match tenant {
            None => Caller::Admin,
            Some(tenant) => Caller::Tenant(tenant),
        };
        // Only known keys are kept, so a flood of wrong keys cannot grow the map.
        lock(&self.inner.keys).insert(
            hash.to_owned(),
            Stamped {
                value: KnownKey {
                    id: id.clone(),
                    caller: caller.clone(),
                    expires_at,
                },
                loaded,
                generation,
            },
        );
        if expires_at.is_some_and(|at| at <= now) {
            return Ok(None);
        }
        self.touch(&id, now);
        Ok(Some(caller))
    }

    /// Records that key `id` was used, at most once a minute per key and in the background,
    /// so that using a key costs no write.
    fn touch(&self, id: &str, now: i64) {
        {
            let mut touched = lock(&self.inner.touched);
            if touched.get(id).is_some_and(|at| now - at < TOUCH_EVERY_MS) {
                return;
            }
            if touched.len() > 10_000 {
                touched.clear();
            }
            touched.insert(id.to_owned(), now);
        }
        let db = self.inner.db.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let _ = store::directory::touch_key(&db, &id, now).await;
        });
    }

    /// The tenant's subscriptions, or `None` when there is no such tenant.
    pub async fn routes(&self, tenant: &str) -> Result<Option<Arc<Routes>>> {
        if let Some(routes) = lock(&self.inner.tenants).get(tenant)
            && self.fresh(routes.loaded, routes.generation)
        {
            return Ok(Some(routes.clone()));
        }
        let generation = self.inner.generation.load(Ordering::Acquire);
        let loaded = Instant::now();
        let Some(targets) = self.load(tenant).await? else {
            return Ok(None);
        };
        let routes = Arc::new(Routes {
            loaded,
            generation,
            targets,
        });
        let forget_after = self.inner.config.directory_ttl.max(FORGET_AFTER);
        let mut tenants = lock(&self.inner.tenants);
        // Routes hold compiled modules: drop tenants not seen for a while, so that memory
        // follows the tenants in use rather than every tenant this node ever served.
        tenants.retain(|_, routes| routes.loaded.elapsed() < forget_after);
        tenants.insert(tenant.to_owned(), routes.clone());
        Ok(Some(routes))
    }

    async fn load(&self, tenant: &str) -> Result<Option<Vec<Arc<Target>>>> {
        let db = &self.inner.db;
        if !store::directory::tenant_exists(db, tenant).await? {
            return Ok(None);
        }
        let rows = store::directory::routes(db, tenant).await?;
        let secrets = store::directory::secrets(db, tenant).await?;
        let mut targets = Vec::with_capacity(rows.len());
        for store::directory::RouteRow {
            id,
            url,
            event_types,
            transform,
            enabled,
            description,
            failing_since,
        } in rows
        {
            let keys = secrets
                .iter()
                .filter(|(owner, ..)| *owner == id)
                .filter_map(|(_, stored, expires)| {
                    let key = self
                        .inner
                        .keyring
                        .decrypt(&id, stored)
                        .map(|secret| SigningKey::parse(secret.expose_secret()));
                    match key {
                        Ok(Some(key)) => Some(Ok((key, *expires))),
                        // Not a whsec_ secret: it never signed anything.
                        Ok(None) => None,
                        Err(why) => Some(Err(why)),
                    }
                })
                .collect::<std::result::Result<Vec<_>, String>>();
            if let Err(why) = &keys {
                tracing::error!(subscription = %id, "cannot sign for this subscription: {why}");
            }
            let transform = match transform {
                Some(text) => Some(self.resolve(tenant, &text).await?),
                None => None,
            };
            let host = url::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            targets.push(Arc::new(Target {
                id,
                description,
                host,
                failing_since: AtomicI64::new(failing_since.unwrap_or(NOT_FAILING)),
                destination: crate::destinations::check_url(&url, &self.inner.config),
                event_types: serde_json::from_str(&event_types).unwrap_or_default(),
                enabled: enabled != 0,
                transform,
                keys,
            }));
        }
        Ok(Some(targets))
    }

    /// The transform's module, compiled; `Ok(Err(why))` when it cannot run (recorded on each
    /// attempt), `Err` only when the database failed (nothing is cached then).
    async fn resolve(
        &self,
        tenant: &str,
        text: &str,
    ) -> Result<std::result::Result<Resolved, String>> {
        let transform: Transform = match serde_json::from_str(text) {
            Ok(transform) => transform,
            Err(e) => return Ok(Err(format!("the stored transform is unreadable: {e}"))),
        };
        let module = match ModuleRef::parse(&transform.module, tenant, transform.version) {
            Ok(module) => module,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let Some(version) = store::modules::find_version(&self.inner.db, &module).await? else {
            return Ok(Err(format!("{} not found", module.describe())));
        };
        match compiled(&self.inner.db, &self.inner.runtime, &version.sha256).await? {
            Ok(module) => Ok(Ok(Resolved {
                module,
                // Saved transforms carry their config; `{}` is what an SDK plugin reads as none.
                config: transform
                    .config
                    .as_ref()
                    .map_or_else(|| "{}".to_owned(), |c| c.to_string()),
            })),
            Err(e) => Ok(Err(e.to_string())),
        }
    }
}

/// Why a stored module cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum Unrunnable {
    /// The bytes are gone (deleted since the version was read).
    #[error("module bytes {0} not found")]
    Missing(String),
    /// The runtime refused the bytes.
    #[error(transparent)]
    Refused(#[from] PluginFailure),
    /// Compiling it did not complete (the compiler panicked).
    #[error("compiling the module did not complete: {0}")]
    Interrupted(String),
}

/// The compiled module for a stored version: from the runtime's memory, else compiled (or
/// read from the artifact cache) from the bytes in the database. `Ok(Err(…))` when it cannot
/// run; `Err` only when the database failed.
pub async fn compiled(
    db: &Db,
    runtime: &Runtime,
    sha256: &str,
) -> Result<std::result::Result<Module, Unrunnable>> {
    if let Some(module) = runtime.get(sha256) {
        return Ok(Ok(module));
    }
    let Some(wasm) = store::modules::blob(db, sha256).await? else {
        return Ok(Err(Unrunnable::Missing(sha256.to_owned())));
    };
    let runtime = runtime.clone();
    Ok(
        match tokio::task::spawn_blocking(move || runtime.load(&wasm)).await {
            Ok(module) => module.map_err(Unrunnable::Refused),
            Err(e) => Err(Unrunnable::Interrupted(e.to_string())),
        },
    )
}

/// A poisoned lock only means a panic elsewhere; the maps stay consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
