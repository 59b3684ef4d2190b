//! A subscription's transform and why it is stopped, as stored and as the API shows them.

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

/// Why a subscription is stopped, as stored and shown (`disabled_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// A user turned it off (`PATCH` with `enabled: false`).
    Paused,
    /// The endpoint answered `410 Gone`.
    Gone,
    /// Every delivery failed for `KROG_DISABLE_AFTER`, and at least one exhausted its retries.
    Failing,
}

impl DisabledReason {
    /// Every reason.
    pub const ALL: [DisabledReason; 3] = [
        DisabledReason::Paused,
        DisabledReason::Gone,
        DisabledReason::Failing,
    ];

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledReason::Paused => "paused",
            DisabledReason::Gone => "gone",
            DisabledReason::Failing => "failing",
        }
    }

    /// The reason with this name.
    pub fn parse(name: &str) -> Option<DisabledReason> {
        DisabledReason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_disabled_reason_reads_back_from_its_name_and_serializes_as_it() {
        for reason in DisabledReason::ALL {
            assert_eq!(DisabledReason::parse(reason.as_str()), Some(reason));
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::json!(reason.as_str())
            );
        }
        assert_eq!(
            DisabledReason::parse("the endpoint answered 410 Gone"),
            None
        );
    }
}
