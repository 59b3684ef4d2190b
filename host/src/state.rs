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
    /// The configuration the service started with.
    pub config: Arc<Config>,
}
