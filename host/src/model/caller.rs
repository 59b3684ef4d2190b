//! Who is calling the API.

/// Who is calling: decided by the API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// An admin key: every route, every tenant.
    Admin,
    /// A tenant key: only this tenant's routes.
    Tenant(String),
}
