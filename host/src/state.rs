//! The application state every handler shares: the pipeline's handles ([`Context`]) and
//! what only the API uses. Cheap to clone.

use std::sync::Arc;

use crate::worker::Context;

/// Handles to everything long-lived. Cloning is cheap (reference counts).
#[derive(Clone)]
pub struct AppState {
    /// What the delivery pipeline works with; the API reaches it through `Deref`
    /// (`state.db`, `state.directory` …), the workers are given only this.
    pub pipeline: Context,
    /// Dry runs each tenant may run at once.
    pub dry_runs: Arc<crate::limits::TenantSlots>,
    /// API requests per key.
    pub rate: Arc<crate::limits::RateLimiter>,
    /// The master key(s) signing secrets are stored under.
    pub keyring: Arc<crate::secrets::Keyring>,
    /// Where people reach krog, without a trailing slash: `KROG_PUBLIC_URL`, else `http://`
    /// and the bound address. The base of console login links.
    pub public_url: Arc<str>,
}

impl std::ops::Deref for AppState {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.pipeline
    }
}
