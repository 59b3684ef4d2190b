//! Ingest: an event is stored with one delivery per matching subscription in one group
//! commit, and the deliveries go straight to this node's workers.

use std::sync::Arc;

use super::queue::{Job, Work};
use super::{Context, Error};
use crate::directory::Target;
use crate::model::Event;

/// What an ingest stored.
#[derive(Debug)]
pub struct Ingested {
    /// The event id (given or assigned).
    pub id: String,
    /// How many deliveries it fanned out to (the original count for a duplicate).
    pub deliveries: i64,
    /// True when this id was seen before: nothing new was stored.
    pub duplicate: bool,
}

/// Stores the event and its deliveries in one transaction — to every enabled subscription
/// whose event types match, or only to `only` — then queues the deliveries.
pub async fn accept(
    state: &Context,
    tenant: &str,
    event: Event,
    only: Option<&str>,
) -> Result<Ingested, Error> {
    let routes = state
        .directory
        .routes(tenant)
        .await?
        .ok_or_else(|| Error::NoSuchTenant(tenant.to_owned()))?;
    let targets: Vec<Arc<Target>> = match only {
        // A test send goes to its subscription whatever it listens to.
        Some(id) => routes.target(id).cloned().into_iter().collect(),
        None => routes
            .targets
            .iter()
            .filter(|t| t.enabled && t.listens_to(event.event_type))
            .cloned()
            .collect(),
    };
    let event = Arc::new(event);
    let ids = targets.iter().map(|t| t.id.clone()).collect();
    let claimed_at = std::time::Instant::now();
    let heard = state.cancelled.hearing();
    let stored = state.writer.accept(tenant, event.clone(), ids).await?;
    if !stored.duplicate {
        metrics::counter!("krog_events_accepted_total").increment(1);
    }
    let accepted = Ingested {
        id: event.id.clone(),
        deliveries: stored.deliveries,
        duplicate: stored.duplicate,
    };
    let tenant: Arc<str> = tenant.into();
    let work = stored
        .delivery_ids
        .into_iter()
        .zip(targets)
        .map(|(delivery_id, target)| {
            Work::Ready(Job {
                delivery_id,
                attempt_count: 0,
                tenant_id: tenant.clone(),
                subscription_id: target.id.clone(),
                target: Some(target),
                event: event.clone(),
                deleted: None,
                claimed_at,
                heard,
            })
        });
    // The event is durable: answer now. Work the workers have no room for goes back to the
    // scheduler instead of holding this answer (and this tenant's next ones) back.
    let spilled = state.queue.offer(work);
    super::queue::spill(state, spilled);
    Ok(accepted)
}
