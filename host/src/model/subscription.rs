//! A subscription's transform, as stored and as the API shows it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A subscription's transform: a module, maybe a pinned version, and its config.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"module": "slack", "config": {"locale": "da"}}))]
pub struct Transform {
    /// `slack` (catalog) or `tenant:<name>`.
    pub module: String,
    /// Pinned version; absent: the latest at delivery time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The plugin's config, checked against its JSON Schema; absent (or `null`) on input means
    /// the schema's default ([`crate::plugin_config::default_for`]). Always present once saved.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}
