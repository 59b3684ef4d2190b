//! Retention: event payloads, transformed bodies (with their headers) and attempt answer
//! excerpts are deleted once their event is older than the tenant's retention
//! (`KROG_RETENTION`, or the tenant's own), counted from when the event was received.
//!
//! The task wakes every `KROG_RETENTION_INTERVAL` and works in batches of [`BATCH`] rows per
//! transaction with a pause between them, so that the group-commit writer — every ingest and
//! settlement — waits at most for one short batch. Work still pending keeps what it needs: an
//! event with a pending delivery keeps its payload, and a pending delivery its request, until
//! it settles. A payload that is deleted leaves a note (`payload_deleted_note`) that the
//! delivery log shows, and that fails a later retry by hand instead of sending an empty body.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::watch;

use super::Context;
use crate::model::{DeliveryStatus, delivery_id_floor};
use crate::store;
use crate::store::now_ms;

/// Rows changed per transaction.
const BATCH: i64 = 500;

/// The pause after each batch, so that deliveries get the database in between.
const PAUSE: Duration = Duration::from_millis(20);

/// What the delivery log says of a payload that retention deleted.
pub fn retention_note(ms: i64) -> String {
    let (n, unit) = [
        (86_400_000, "day"),
        (3_600_000, "hour"),
        (60_000, "minute"),
        (1000, "second"),
        (1, "millisecond"),
    ]
    .into_iter()
    .find(|(size, _)| ms % size == 0)
    .map(|(size, unit)| (ms / size, unit))
    .unwrap_or((ms, "millisecond"));
    let plural = if n == 1 { "" } else { "s" };
    format!("payload deleted after {n} {unit}{plural} (retention)")
}

/// Runs until shutdown, one pass every `config.retention_interval`.
pub async fn run(state: Context, mut shutdown: watch::Receiver<bool>) {
    // Per tenant, the delivery id up to which every old delivery is done, so that a pass does
    // not read a tenant's whole history again (kept in memory: a restart reads it once).
    let mut done_up_to: HashMap<String, String> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(state.config.retention_interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match pass(&state, &mut done_up_to, &shutdown).await {
            Ok(counts) if counts != (0, 0) => {
                tracing::info!(
                    events = counts.0,
                    deliveries = counts.1,
                    "retention deleted old payloads"
                );
                metrics::counter!("krog_retention_events_total").increment(counts.0);
                metrics::counter!("krog_retention_deliveries_total").increment(counts.1);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention pass failed; trying again at the next"),
        }
    }
}

/// One pass over every tenant; the counts of events and deliveries whose data it deleted.
async fn pass(
    state: &Context,
    done_up_to: &mut HashMap<String, String>,
    shutdown: &watch::Receiver<bool>,
) -> store::Result<(u64, u64)> {
    let tenants = store::retention::tenants(&state.db).await?;
    let default = state.config.retention.as_millis() as i64;
    let now = now_ms();
    let shortest = tenants
        .iter()
        .map(|(_, r)| r.unwrap_or(default))
        .min()
        .unwrap_or(default);
    // Events that pending work still needs: read once per pass, from the pending rows only
    // (a handful in normal operation; in the partial index of pending deliveries).
    let pending = store::retention::pending_events(&state.db, now - shortest).await?;
    let pending: HashSet<(String, String)> = pending.into_iter().collect();
    done_up_to.retain(|t, _| tenants.iter().any(|(id, _)| id == t));

    let (mut events, mut deliveries) = (0, 0);
    for (tenant, retention) in tenants {
        let retention = retention.unwrap_or(default);
        let cutoff = now - retention;
        let note = retention_note(retention);
        events += events_of(state, &tenant, cutoff, &note, &pending, shutdown).await?;
        let start = done_up_to.get(&tenant).cloned().unwrap_or_default();
        let (changed, resume) =
            deliveries_of(state, &tenant, cutoff, &note, start, shutdown).await?;
        deliveries += changed;
        done_up_to.insert(tenant, resume);
        if *shutdown.borrow() {
            break;
        }
    }
    Ok((events, deliveries))
}

/// Deletes the payloads of the tenant's events received before `cutoff` that no pending
/// delivery needs.
async fn events_of(
    state: &Context,
    tenant: &str,
    cutoff: i64,
    note: &str,
    pending: &HashSet<(String, String)>,
    shutdown: &watch::Receiver<bool>,
) -> store::Result<u64> {
    let mut deleted = 0;
    let (mut after_at, mut after_id) = (i64::MIN, String::new());
    while !*shutdown.borrow() {
        let rows =
            store::retention::old_events(&state.db, tenant, cutoff, (after_at, &after_id), BATCH)
                .await?;
        let Some((last_id, last_at)) = rows.last().cloned() else {
            break;
        };
        (after_at, after_id) = (last_at, last_id);
        let due: Vec<&str> = rows
            .iter()
            .map(|(id, _)| id.as_str())
            .filter(|id| !pending.contains(&(tenant.to_owned(), (*id).to_owned())))
            .collect();
        if due.is_empty() {
            continue;
        }
        deleted += store::retention::delete_event_payloads(&state.db, tenant, &due, now_ms(), note)
            .await?;
        tokio::time::sleep(PAUSE).await;
    }
    Ok(deleted)
}

/// Deletes the stored requests and answer excerpts of the tenant's settled deliveries created
/// before `cutoff`, from the id `start` on. Returns how many it changed and the id up to which
/// the next pass need not look again (just before the first pending delivery it passed).
async fn deliveries_of(
    state: &Context,
    tenant: &str,
    cutoff: i64,
    note: &str,
    start: String,
    shutdown: &watch::Receiver<bool>,
) -> store::Result<(u64, String)> {
    let floor = delivery_id_floor(cutoff);
    let mut changed = 0;
    let mut cursor = start.clone();
    // Every delivery up to here is settled and done with; stops moving at the first pending
    // one, which a later pass must see again.
    let mut done = start;
    let mut blocked = false;
    while !*shutdown.borrow() {
        let rows =
            store::retention::old_deliveries(&state.db, tenant, &cursor, &floor, BATCH).await?;
        let Some((last, _)) = rows.last() else { break };
        cursor.clone_from(last);
        let mut settled = Vec::with_capacity(rows.len());
        for (id, status) in &rows {
            if *status == DeliveryStatus::Pending.as_str() {
                blocked = true;
                continue;
            }
            settled.push(id.as_str());
            if !blocked {
                done.clone_from(id);
            }
        }
        changed +=
            store::retention::delete_delivery_payloads(&state.db, &settled, now_ms(), note).await?;
        tokio::time::sleep(PAUSE).await;
    }
    Ok((changed, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_note_says_the_retention_in_its_largest_whole_unit() {
        assert_eq!(
            retention_note(30 * 86_400_000),
            "payload deleted after 30 days (retention)"
        );
        assert_eq!(
            retention_note(1000),
            "payload deleted after 1 second (retention)"
        );
    }

    #[test]
    fn the_id_floor_sorts_between_deliveries_made_before_and_after_it() {
        let before = format!("dlv_{}", uuid::Uuid::now_v7().simple());
        std::thread::sleep(Duration::from_millis(5));
        let floor = delivery_id_floor(now_ms());
        std::thread::sleep(Duration::from_millis(5));
        let after = format!("dlv_{}", uuid::Uuid::now_v7().simple());
        assert!(before < floor && floor < after, "{before} {floor} {after}");
    }
}
