//! Ingest: the booking system posts an event; in one transaction krog stores it and one
//! delivery per matching subscription, answers 202, and hands the deliveries to the workers.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Caller;
use crate::api::error::{Error, Result};
use crate::api::extract::{Json, Path};
use crate::api::openapi::TenantPath;
pub use crate::model::{Event, EventType};
use crate::state::AppState;
use crate::store::new_id;
use crate::worker::ingest::{self, Ingested};

/// The ingest route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

/// An event as the booking system sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"type": "booking.created", "timestamp": "2026-12-02T09:30:00Z",
    "data": {"id": "bk_1042", "start": "2026-12-09T10:00:00+01:00", "status": "confirmed",
             "client": {"name": "Mette Hansen"}, "service": {"name": "Fysioterapi, 45 min"}}}))]
pub struct Incoming {
    /// Unique per tenant: the same id again is the same event, delivered once. Absent: krog
    /// makes one.
    id: Option<String>,
    /// Which booking event. The `krog.` types are krog's own operational events: only krog
    /// emits them, and ingest refuses them.
    #[serde(rename = "type")]
    #[schema(value_type = EventType)]
    event_type: String,
    /// RFC 3339; absent: now.
    timestamp: Option<String>,
    /// The booking, a JSON object (docs/DESIGN.md). Kept as the exact bytes received, so
    /// unknown fields and their order pass on untouched.
    #[schema(value_type = Object)]
    data: Box<RawValue>,
}

impl Incoming {
    /// Validates the envelope with the rules `krog plugin run` and the plugin SDK use too
    /// (`krog-envelope`); an absent id is generated, an absent timestamp is now. krog's own
    /// operational types are refused: only krog emits them.
    pub fn into_event(self) -> Result<Event> {
        if krog_rules::is_operational(&self.event_type) {
            return Err(Error::Validation(format!(
                "type {:?} is one of krog's own operational events: only krog emits them \
                 (subscribe to it to receive it); post a booking event, one of {}",
                self.event_type,
                EventType::ALL.join(", ")
            )));
        }
        self.into_known_event()
    }

    /// [`Incoming::into_event`] that also takes krog's operational event types, for a dry
    /// run: a formatter's author tries it on what krog will send it.
    pub fn into_known_event(self) -> Result<Event> {
        let event_type = match crate::model::event::known_type(&self.event_type) {
            Some(event_type) => event_type,
            None => krog_envelope::event_type(&self.event_type)
                .map_err(|e| Error::Validation(e.to_string()))?,
        };
        krog_envelope::validate(
            self.id.as_deref(),
            self.timestamp.as_deref(),
            self.data.get(),
        )
        .map_err(|e| Error::Validation(e.to_string()))?;
        Ok(Event {
            id: self.id.unwrap_or_else(|| new_id("evt")),
            event_type,
            timestamp: self.timestamp.unwrap_or_else(|| {
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
            data: self.data.get().to_owned(),
        })
    }
}

/// The answer to an ingest.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The event id (given or assigned).
    pub id: String,
    /// How many deliveries it fanned out to.
    pub deliveries: i64,
    /// True when this id was seen before: nothing new was created.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false, default = false)]
    pub duplicate: bool,
}

impl From<Ingested> for Accepted {
    fn from(ingested: Ingested) -> Accepted {
        Accepted {
            id: ingested.id,
            deliveries: ingested.deliveries,
            duplicate: ingested.duplicate,
        }
    }
}

/// Ingests a booking event: stored with a delivery per matching subscription, then answered.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/events", operation_id = "ingest_event",
    tag = "events", params(TenantPath), request_body = Incoming,
    responses((status = 202, description = "Stored; delivered in the background", body = Accepted)))]
async fn ingest(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(incoming): Json<Incoming>,
) -> Result<(StatusCode, axum::Json<Accepted>)> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let event = incoming.into_event()?;
    let ingested = ingest::accept(&state, &tenant, event, None).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(ingested.into())))
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    /// Fixed seed and a bounded count, so CI runs the same cases every time.
    fn config() -> Config {
        Config {
            cases: 256,
            rng_seed: RngSeed::Fixed(0x6b72_6f67),
            failure_persistence: None,
            ..Config::default()
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn krogs_own_event_types_are_refused_at_ingest_and_say_that_only_krog_emits_them() {
        for event_type in krog_rules::OPERATIONAL_EVENT_TYPES
            .into_iter()
            .chain(["krog.anything"])
        {
            let incoming: Incoming = serde_json::from_value(
                serde_json::json!({"type": event_type, "data": {"id": "bk_1"}}),
            )
            .unwrap();
            let Err(Error::Validation(message)) = incoming.into_event() else {
                panic!("{event_type} was accepted");
            };
            assert!(message.contains("only krog emits them"), "{message}");
        }
    }

    #[test]
    fn a_dry_run_takes_krogs_own_event_types_but_no_unknown_ones() {
        let incoming = |event_type: &str| -> Incoming {
            serde_json::from_value(serde_json::json!({"type": event_type, "data": {}})).unwrap()
        };
        let event = incoming("krog.delivery.failed").into_known_event().unwrap();
        assert_eq!(event.event_type, "krog.delivery.failed");
        assert!(incoming("krog.anything").into_known_event().is_err());
        assert!(incoming("booking.moved").into_known_event().is_err());
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_bytes_are_answered_without_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(incoming) = serde_json::from_slice::<Incoming>(&bytes) {
                let _ = incoming.into_event();
            }
        }

        #[test]
        fn an_accepted_envelope_keeps_its_data_byte_for_byte_and_its_id_within_the_rules(
            id in proptest::option::of(".{0,300}"),
            event_type in prop_oneof![Just("booking.created"), Just("booking.updated"), Just("booking.deleted"), Just("booking.moved")],
            timestamp in proptest::option::of(prop_oneof![Just("2026-11-29T10:00:00Z".to_owned()), ".{0,30}"]),
            data in json_value(),
        ) {
            let data_text = serde_json::to_string_pretty(&data).unwrap();
            let mut envelope = serde_json::json!({"type": event_type});
            if let Some(id) = &id { envelope["id"] = id.clone().into(); }
            if let Some(ts) = &timestamp { envelope["timestamp"] = ts.clone().into(); }
            let text = envelope.to_string();
            let text = format!("{},\"data\":{}}}", &text[..text.len() - 1], data_text);
            match serde_json::from_str::<Incoming>(&text) {
                Err(_) => prop_assert!(false, "the envelope's shape is right: {}", text),
                Ok(incoming) => match incoming.into_event() {
                    Ok(event) => {
                        prop_assert!(data.is_object());
                        prop_assert_eq!(&event.data, &data_text);
                        prop_assert!((1..=255).contains(&event.id.len()));
                        prop_assert!(!event.id.chars().any(|c| c.is_control() || c.is_whitespace()));
                        prop_assert!(chrono::DateTime::parse_from_rfc3339(&event.timestamp).is_ok());
                    }
                    Err(_) => {
                        let bad_id = id.as_ref().is_some_and(|id| {
                            id.is_empty() || id.len() > 255 || id.chars().any(|c| c.is_control() || c.is_whitespace())
                        });
                        let bad_ts = timestamp.as_ref().is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_err());
                        prop_assert!(bad_id || bad_ts || !data.is_object() || event_type == "booking.moved");
                    }
                },
            }
        }
    }
}
