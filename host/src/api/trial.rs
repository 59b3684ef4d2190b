//! A subscription's transform is tried when it is saved: the plugin runs once on a sample
//! event of each type the subscription listens to (the bookings of `fixtures/`), so that a
//! config the plugin refuses, a trap or output krog would refuse answers `422` now, with the
//! plugin's own message, instead of failing every delivery later.
//!
//! Only failures that would repeat are refused (see
//! [`crate::runtime::FailureKind::fails_again`]): a call that ran out of wall-clock time on a
//! busy machine says nothing about the plugin. The sample events carry ids starting with
//! [`SAMPLE_ID_PREFIX`].

use std::sync::Arc;

use crate::api::error::{Error, Result};
use crate::runtime::{EventInput, Module, PluginFailure};
use crate::state::AppState;

/// The ids of the sample events start with this.
pub const SAMPLE_ID_PREFIX: &str = "evt_sample_";

/// The sample event of each type: the bookings as the booking system would send them, and
/// krog's operational events as krog emits them.
fn sample(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "booking.created" => include_str!("../../../fixtures/booking-created.json"),
        "booking.updated" => include_str!("../../../fixtures/booking-updated.json"),
        "booking.deleted" => include_str!("../../../fixtures/booking-deleted.json"),
        "krog.subscription.disabled" => SUBSCRIPTION_DISABLED_SAMPLE,
        "krog.delivery.failed" => DELIVERY_FAILED_SAMPLE,
        _ => return None,
    })
}

const SUBSCRIPTION_DISABLED_SAMPLE: &str = r#"{"type": "krog.subscription.disabled",
    "timestamp": "2026-12-02T09:30:00.000Z",
    "data": {"subscription_id": "sub_sample", "description": "Booking sheet",
             "destination_host": "docs.google.com", "reason": "failing",
             "since": "2026-11-27T09:30:00.000Z"}}"#;

const DELIVERY_FAILED_SAMPLE: &str = r#"{"type": "krog.delivery.failed",
    "timestamp": "2026-12-02T09:30:00.000Z",
    "data": {"delivery_id": "dlv_sample", "event_id": "evt_sample", "subscription_id": "sub_sample",
             "last_error": "the endpoint answered 503 Service Unavailable"}}"#;

/// The sample event of `event_type` as the plugin receives it, for `tenant`.
fn sample_input(event_type: &str, tenant: &str) -> Option<EventInput> {
    let envelope: serde_json::Value = serde_json::from_str(sample(event_type)?).ok()?;
    Some(EventInput {
        id: format!(
            "{SAMPLE_ID_PREFIX}{}",
            event_type.trim_start_matches("booking.").replace('.', "_")
        ),
        event_type: event_type.to_owned(),
        timestamp: envelope["timestamp"].as_str()?.to_owned(),
        tenant: tenant.to_owned(),
        data: envelope["data"].to_string(),
    })
}

/// Runs `module` with `config` on the sample event of each of `event_types`; the first failure
/// that would repeat is a `422` naming the module, the event type and the plugin's message.
pub async fn try_transform(
    state: &AppState,
    tenant: &str,
    module_name: &str,
    module: &Module,
    config: &serde_json::Value,
    event_types: &[String],
) -> Result<()> {
    let config = Arc::new(config.to_string());
    for event_type in event_types {
        let Some(input) = sample_input(event_type, tenant) else {
            continue;
        };
        // The same turns as a delivery's transform: the tenant's share first, then a core.
        let _share = state.plugin_slots.acquire(tenant).await;
        let _turn = state.transforms.acquire().await;
        let runtime = state.runtime.clone();
        let module = module.clone();
        let config = config.clone();
        let result =
            tokio::task::spawn_blocking(move || runtime.transform(&module, &input, &config))
                .await
                .map_err(|e| Error::Internal(e.into()))?;
        match result {
            Ok(_) => {}
            Err(failure) if failure.kind.fails_again() => {
                return Err(Error::Plugin(PluginFailure {
                    message: format!(
                        "transform: module {module_name} failed on a sample {event_type} event \
                         ({}): {}; every delivery would fail the same way. Fix the config (or \
                         the module) and save again; `POST …/modules/{{name}}/run` shows the \
                         plugin's logs",
                        failure.kind, failure.message
                    ),
                    ..failure
                }));
            }
            Err(failure) => {
                tracing::debug!(
                    tenant,
                    kind = %failure.kind,
                    "a transform's trial run did not finish; the subscription is saved"
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operational_samples_carry_the_fields_krog_emits() {
        use crate::model::DisabledReason;
        use crate::model::operational::*;
        let disabled = serde_json::to_value(SubscriptionDisabled {
            subscription_id: "sub_1",
            description: "",
            destination_host: "example.com",
            reason: DisabledReason::Failing,
            since: String::new(),
        })
        .unwrap();
        let failed = serde_json::to_value(DeliveryFailed {
            delivery_id: "dlv_1",
            event_id: "evt_1",
            subscription_id: "sub_1",
            last_error: "",
        })
        .unwrap();
        let keys = |v: &serde_json::Value| {
            v.as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
        };
        for (event_type, emitted) in [(SUBSCRIPTION_DISABLED, disabled), (DELIVERY_FAILED, failed)]
        {
            let input = sample_input(event_type, "klinik").unwrap();
            let data: serde_json::Value = serde_json::from_str(&input.data).unwrap();
            assert_eq!(keys(&data), keys(&emitted), "{event_type}");
        }
    }

    #[test]
    fn every_event_type_has_a_sample_of_its_own_type() {
        for event_type in crate::api::events::EventType::ALL
            .into_iter()
            .chain(krog_rules::OPERATIONAL_EVENT_TYPES)
        {
            let input = sample_input(event_type, "klinik").expect(event_type);
            assert_eq!(input.event_type, event_type);
            assert!(input.id.starts_with(SAMPLE_ID_PREFIX));
            let data: serde_json::Value = serde_json::from_str(&input.data).unwrap();
            assert!(data.is_object(), "{event_type}: {data}");
            let envelope: serde_json::Value =
                serde_json::from_str(sample(event_type).unwrap()).unwrap();
            assert_eq!(envelope["type"], event_type);
        }
    }
}
