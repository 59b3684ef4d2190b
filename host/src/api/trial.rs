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

/// The sample booking event of each type, as the booking system would send it.
fn sample(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "booking.created" => include_str!("../../../fixtures/booking-created.json"),
        "booking.updated" => include_str!("../../../fixtures/booking-updated.json"),
        "booking.deleted" => include_str!("../../../fixtures/booking-deleted.json"),
        _ => return None,
    })
}

/// The sample event of `event_type` as the plugin receives it, for `tenant`.
fn sample_input(event_type: &str, tenant: &str) -> Option<EventInput> {
    let envelope: serde_json::Value = serde_json::from_str(sample(event_type)?).ok()?;
    Some(EventInput {
        id: format!(
            "{SAMPLE_ID_PREFIX}{}",
            event_type.trim_start_matches("booking.")
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
    fn every_event_type_has_a_sample_of_its_own_type() {
        for event_type in crate::api::events::EventType::ALL {
            let input = sample_input(event_type, "klinik").expect(event_type);
            assert_eq!(input.event_type, event_type);
            assert!(input.id.starts_with(SAMPLE_ID_PREFIX));
            let data: serde_json::Value = serde_json::from_str(&input.data).unwrap();
            assert!(data["id"].is_string(), "{event_type}: {data}");
            let envelope: serde_json::Value =
                serde_json::from_str(sample(event_type).unwrap()).unwrap();
            assert_eq!(envelope["type"], event_type);
        }
    }
}
