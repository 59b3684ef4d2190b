//! The delivery pipeline and the background work.
//!
//! - [`ingest`]: an accepted event is stored with its deliveries and handed to the workers.
//! - [`queue`]: the claim queue and the dispatcher that hands deliveries to workers fairly.
//! - [`attempt`]: one attempt as named stages — prepare, transform, sign and send, settle.
//! - [`report`]: what an attempt tells the operator (metrics, rate-limited warnings).
//! - [`retention`]: the sweep that deletes payloads past their tenant's retention.
//! - [`cancelled`]: deliveries an erasure cancelled while they waited on this node.
//!
//! Everything here is given a [`Context`]: the handles the pipeline needs, and none of the
//! API's.

pub mod attempt;
pub mod cancelled;
pub mod ingest;
pub mod queue;
pub mod report;
pub mod retention;

use std::sync::Arc;

use crate::config::Config;
use crate::directory::Directory;
use crate::limits::TenantSlots;
use crate::runtime::Runtime;
use crate::store::Db;
use crate::store::writer::Writer;

/// What the pipeline's calls from the API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tenant does not exist (or was deleted meanwhile).
    #[error("tenant {0} not found")]
    NoSuchTenant(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// The handles the delivery pipeline works with. Cloning is cheap (reference counts).
#[derive(Clone)]
pub struct Context {
    /// The database.
    pub db: Db,
    /// The WebAssembly sandbox.
    pub runtime: Runtime,
    /// The outbound HTTP client for deliveries (private destinations filtered).
    pub http: reqwest::Client,
    /// The delivery queue: hand new work to the workers.
    pub queue: queue::Queue,
    /// Group commit of the hot-path writes.
    pub writer: Writer,
    /// What the hot path knows of keys, tenants and subscriptions, kept in memory.
    pub directory: Directory,
    /// Turns at running a plugin: one per core, so transforms never queue for the CPU
    /// while holding an instance each.
    pub transforms: Arc<tokio::sync::Semaphore>,
    /// Each tenant's share of the plugin threads, taken before a turn in `transforms`.
    pub plugin_slots: Arc<TenantSlots>,
    /// Deliveries cancelled by an erasure while their work may still wait in this node's queue.
    pub cancelled: Arc<cancelled::Cancelled>,
    /// The configuration the service started with.
    pub config: Arc<Config>,
}
