//! The application state every handler and worker shares: cheap, cloneable handles.

use std::sync::Arc;

use crate::config::Config;
use crate::db::Db;
use crate::queue::Queue;
use crate::runtime::Runtime;

/// Handles to everything long-lived. Cloning is cheap (reference counts).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The WebAssembly sandbox.
    pub runtime: Runtime,
    /// The outbound HTTP client for deliveries (private destinations filtered).
    pub http: reqwest::Client,
    /// The delivery queue: hand new work to the workers.
    pub queue: Queue,
    /// Group commit of the hot-path writes.
    pub writer: crate::writer::Writer,
    /// What the hot path knows of keys, tenants and subscriptions, kept in memory.
    pub directory: crate::directory::Directory,
    /// Turns at running a plugin: one per core, so transforms never queue for the CPU
    /// while holding an instance each.
    pub transforms: Arc<tokio::sync::Semaphore>,
    /// Each tenant's share of the plugin threads, taken before a turn in `transforms`.
    pub plugin_slots: Arc<crate::limits::TenantSlots>,
    /// Dry runs each tenant may run at once.
    pub dry_runs: Arc<crate::limits::TenantSlots>,
    /// API requests per key.
    pub rate: Arc<crate::limits::RateLimiter>,
    /// Deliveries cancelled by an erasure while their work may still wait in this node's queue.
    pub cancelled: Arc<crate::privacy::Cancelled>,
    /// The master key(s) signing secrets are stored under.
    pub keyring: Arc<crate::secrets::Keyring>,
    /// The configuration the service started with.
    pub config: Arc<Config>,
}
