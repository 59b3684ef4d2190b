//! The durable delivery queue. The database is the queue: a delivery row is `pending` until an
//! attempt settles it, and a node works on a row only while it holds its claim
//! (`claimed_by`, `claimed_until`). Two paths feed the workers:
//! - real time: ingest claims the new rows for this node in its own transaction and pushes
//!   them, with the event and the subscription they go to, into a bounded channel, so a worker
//!   starts at once without reading anything back (and ingest waits when the workers are
//!   saturated: back-pressure);
//! - the scheduler: claims rows that are due (retries, or work a dead node left behind when
//!   its lease ran out), sleeping until the next due time, woken early by a local retry.
//!   These go by id; the worker reads the row first.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::db::{Backend, Db, now_ms};
use crate::directory::Target;
use crate::events::Event;
use crate::state::AppState;

/// A delivery for a worker.
pub enum Work {
    /// Just accepted here: everything the attempt needs is in hand.
    Fresh(Job),
    /// Claimed by id (a retry, a replay, work a dead node left): read before attempting.
    Stored(String),
}

impl Work {
    /// The delivery id.
    pub fn id(&self) -> &str {
        match self {
            Work::Fresh(job) => &job.delivery_id,
            Work::Stored(id) => id,
        }
    }
}

/// One pending delivery with its event.
pub struct Job {
    /// The delivery.
    pub delivery_id: String,
    /// Attempts made so far.
    pub attempt_count: i64,
    /// The tenant.
    pub tenant_id: Arc<str>,
    /// The subscription it goes to.
    pub subscription_id: String,
    /// The subscription as it was when the delivery was created, if known; otherwise it is
    /// looked up in the directory.
    pub target: Option<Arc<Target>>,
    /// The event, shared by all deliveries of a fan-out.
    pub event: Arc<Event>,
}

/// The sending side of the queue, held in `AppState`.
#[derive(Clone)]
pub struct Queue {
    tx: mpsc::Sender<Work>,
    wake: Arc<Notify>,
    node: Arc<str>,
}

/// The receiving side, consumed by [`start`].
pub struct Receiver {
    rx: mpsc::Receiver<Work>,
}

/// A new queue with room for `capacity` waiting deliveries.
pub fn channel(capacity: usize) -> (Queue, Receiver) {
    let (tx, rx) = mpsc::channel(capacity);
    let node: Arc<str> = format!("node_{}", uuid::Uuid::now_v7().simple()).into();
    (
        Queue {
            tx,
            wake: Arc::new(Notify::new()),
            node,
        },
        Receiver { rx },
    )
}

impl Queue {
    /// This process's id in `claimed_by`.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// Hands deliveries this node has claimed to the workers, waiting while the queue is full.
    pub async fn push(&self, work: impl IntoIterator<Item = Work>) {
        for item in work {
            if self.tx.send(item).await.is_err() {
                // Shutting down: the claim runs out and the row is picked up again.
                return;
            }
        }
    }

    /// Tells the scheduler that due times changed (a retry was scheduled).
    pub fn wake_scheduler(&self) {
        self.wake.notify_one();
    }
}

/// Attempts whose records may wait for their commit at once (one full group commit): beyond
/// that a worker keeps its slot until its record is written, so deliveries never run more than
/// this far ahead of the database, however slow it is.
const SETTLING_MAX: usize = 256;

/// A worker's slot while it attempts one delivery.
pub struct Turn {
    worker: OwnedSemaphorePermit,
    settling: Arc<Semaphore>,
}

impl Turn {
    /// Trades the worker slot for a place among the records waiting for their commit, so the
    /// next attempt starts during this one's fsync instead of queueing behind it.
    pub async fn settle(self) -> OwnedSemaphorePermit {
        let place = self
            .settling
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        drop(self.worker);
        place
    }
}

/// Runs the workers and the scheduler until `shutdown` turns true; then lets in-flight
/// attempts finish and gives back claims on work not started.
pub async fn start(state: AppState, receiver: Receiver, mut shutdown: watch::Receiver<bool>) {
    let Receiver { mut rx } = receiver;
    let permits = Arc::new(Semaphore::new(state.config.workers));
    let settling = Arc::new(Semaphore::new(SETTLING_MAX));
    let mut running = JoinSet::new();
    let scheduler = tokio::spawn(schedule(state.clone(), shutdown.clone()));
    let listener =
        (state.db.backend() == Backend::Postgres).then(|| tokio::spawn(listen(state.clone())));
    loop {
        let permit = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            permit = permits.clone().acquire_owned() => permit.expect("semaphore is never closed"),
        };
        let work = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            work = rx.recv() => match work { Some(work) => work, None => break },
        };
        // Deliveries accepted but waiting for a worker (a full queue holds ingest back).
        metrics::gauge!("krog_queue_depth").set(rx.len() as f64);
        let state = state.clone();
        let turn = Turn {
            worker: permit,
            settling: settling.clone(),
        };
        running.spawn(async move {
            let id = work.id().to_owned();
            if let Err(e) = crate::deliveries::attempt::run(&state, work, turn).await {
                tracing::error!(delivery = %id, error = ?e, "delivery attempt failed to complete");
                // Let the lease lapse quickly so the row is retried rather than stuck.
                let _ = release(&state.db, &id).await;
            }
        });
        while running.try_join_next().is_some() {}
    }
    scheduler.abort();
    if let Some(listener) = listener {
        listener.abort();
    }
    rx.close();
    while running.join_next().await.is_some() {}
    let node = state.queue.node_id().to_owned();
    if let Err(e) = sqlx::query(
        "UPDATE deliveries SET claimed_until = NULL, claimed_by = NULL WHERE claimed_by = $1 AND status = 'pending'",
    )
    .bind(&node)
    .execute(state.db.pool())
    .await
    {
        tracing::warn!(error = %e, "could not give back claims at shutdown; they expire by lease");
    }
}

async fn release(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE deliveries SET claimed_until = NULL, claimed_by = NULL WHERE id = $1 AND status = 'pending'")
        .bind(id)
        .execute(db.pool())
        .await
        .map(|_| ())
}

/// On SQLite only one process can own the database, so claims left by an earlier process of
/// this node are stale at start and given back at once instead of waiting out the lease.
pub async fn recover_on_start(db: &Db) -> Result<u64, sqlx::Error> {
    if db.backend() != Backend::Sqlite {
        return Ok(0);
    }
    let released = sqlx::query("UPDATE deliveries SET claimed_until = NULL, claimed_by = NULL WHERE status = 'pending' AND claimed_by IS NOT NULL")
        .execute(db.pool())
        .await?;
    Ok(released.rows_affected())
}

const CLAIM_BATCH: i64 = 256;

/// The PostgreSQL channel on which nodes announce work that any node may take.
pub const NOTIFY_CHANNEL: &str = "krog_work";

/// On PostgreSQL, wakes this node's scheduler whenever any node announces work (a retry
/// scheduled, a replay), so idle nodes react at once rather than at the next poll, and drops
/// this node's directory when another node changed keys, tenants, subscriptions or modules.
/// Polling and the directory's TTL stay as the fallback when the listening connection is down.
async fn listen(state: AppState) {
    loop {
        let result: Result<(), sqlx::Error> = async {
            let mut listener =
                sqlx::postgres::PgListener::connect(&state.config.database_url).await?;
            listener
                .listen_all([NOTIFY_CHANNEL, crate::directory::CHANNEL])
                .await?;
            // Whatever was announced while not listening is unknown: start from scratch.
            state.directory.forget();
            loop {
                let notification = listener.recv().await?;
                if notification.channel() == crate::directory::CHANNEL {
                    state.directory.forget();
                } else {
                    state.queue.wake.notify_one();
                }
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "LISTEN connection lost; polling until it is back");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Announces due work to every node (inside the caller's transaction: sent on commit).
pub async fn announce(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn schedule(state: AppState, shutdown: watch::Receiver<bool>) {
    let poll = state.config.poll_interval;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let sleep = match claim_due(&state).await {
            Ok(claimed) if claimed as i64 >= CLAIM_BATCH => Duration::ZERO,
            Ok(_) => match next_due_in(&state.db).await {
                Ok(Some(wait)) => wait.min(poll),
                Ok(None) => poll,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler could not read the next due time");
                    poll
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "scheduler could not claim due deliveries");
                poll
            }
        };
        if !sleep.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = state.queue.wake.notified() => {}
            }
        }
    }
}

/// Claims due, unclaimed (or lease-expired) pending deliveries for this node and queues them.
async fn claim_due(state: &AppState) -> Result<usize, sqlx::Error> {
    let now = now_ms();
    let lease_until = now + state.config.claim_lease.as_millis() as i64;
    let lock = match state.db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE deliveries SET claimed_by = $1, claimed_until = $2 WHERE id IN (\
           SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $3 \
           AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY next_attempt_at LIMIT $4{lock}\
         ) RETURNING id"
    );
    let mut tx = state.db.begin_write().await?;
    let ids: Vec<(String,)> = sqlx::query_as(&sql)
        .bind(state.queue.node_id())
        .bind(lease_until)
        .bind(now)
        .bind(CLAIM_BATCH)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let count = ids.len();
    if count > 0 {
        tracing::debug!(count, "claimed due deliveries");
        state
            .queue
            .push(ids.into_iter().map(|(id,)| Work::Stored(id)))
            .await;
    }
    Ok(count)
}

/// How long until the next pending delivery becomes claimable.
async fn next_due_in(db: &Db) -> Result<Option<Duration>, sqlx::Error> {
    let (next,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > next_attempt_at \
         THEN claimed_until ELSE next_attempt_at END) FROM deliveries WHERE status = 'pending'",
    )
    .fetch_one(db.pool())
    .await?;
    Ok(next.map(|at| Duration::from_millis((at - now_ms()).max(0) as u64)))
}
