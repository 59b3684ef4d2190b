//! The operational events krog emits into a tenant's own stream (their names are
//! [`krog_rules::OPERATIONAL_EVENT_TYPES`]): the `data` of each, as subscribers receive it.

use serde::Serialize;

use super::DisabledReason;

/// A subscription was stopped by krog (`410 Gone`, or failing for `KROG_DISABLE_AFTER`).
pub const SUBSCRIPTION_DISABLED: &str = krog_rules::OPERATIONAL_EVENT_TYPES[0];

/// A delivery failed for good: its retries are exhausted, or it would fail the same way again.
pub const DELIVERY_FAILED: &str = krog_rules::OPERATIONAL_EVENT_TYPES[1];

/// The `data` of [`SUBSCRIPTION_DISABLED`].
#[derive(Debug, Serialize)]
pub struct SubscriptionDisabled<'a> {
    /// The subscription stopped.
    pub subscription_id: &'a str,
    /// Its description (free text the tenant gave it).
    pub description: &'a str,
    /// The host of its URL only (never the path or query, which may hold a token).
    pub destination_host: &'a str,
    /// `gone` or `failing`.
    pub reason: DisabledReason,
    /// RFC 3339: since when it failed (`failing`), or when the endpoint answered 410 (`gone`).
    pub since: String,
}

/// The `data` of [`DELIVERY_FAILED`].
#[derive(Debug, Serialize)]
pub struct DeliveryFailed<'a> {
    /// The delivery that failed.
    pub delivery_id: &'a str,
    /// The event it carried.
    pub event_id: &'a str,
    /// The subscription it was for.
    pub subscription_id: &'a str,
    /// What its last attempt failed with.
    pub last_error: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operational_event_names_are_the_shared_list() {
        assert_eq!(SUBSCRIPTION_DISABLED, "krog.subscription.disabled");
        assert_eq!(DELIVERY_FAILED, "krog.delivery.failed");
    }
}
