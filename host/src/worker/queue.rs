//! The durable delivery queue. The database is the queue: a delivery row is `pending` until an
//! attempt settles it, and a node works on a row only while it holds its claim
//! (`claimed_by`, `claimed_until`). Two paths feed the workers:
//! - real time: ingest claims the new rows for this node in its own transaction and offers
//!   them, with the event and the subscription they go to, to a bounded channel, so a worker
//!   starts at once without reading anything back. The event is durable at commit, so ingest
//!   never waits for a worker: when the channel is full the claims are given back and the
//!   scheduler takes the rows when there is room;
//! - the scheduler: claims rows that are due (retries, or work a dead node left behind when
//!   its lease ran out) in batches, each with its event in the same statement, sleeping until
//!   the next due time, woken early by a local retry or, on PostgreSQL, by another node that
//!   had more work than room.
//!
//! The dispatcher ([`start`]) hands work to workers fairly: each subscription and each tenant
//! has a bound on deliveries in flight, so one clinic's slow endpoint or heavy plugin holds at
//! most its share of the workers while the others' deliveries go past it. What it holds —
//! waiting or in flight — has its claim renewed while held, so a backlog longer than the lease
//! is never taken by another node (or this one) and sent twice.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::Context;
use crate::directory::Target;
use crate::model::Event;
use crate::store::{self, Backend, Db, now_ms};

/// A delivery for a worker.
pub enum Work {
    /// Just accepted here, or claimed with its event by the scheduler: everything the attempt
    /// needs is in hand.
    Ready(Job),
    /// To be read by id before attempting (work that waited here so long that this node's
    /// claim may have run out).
    Stored(Claimed),
}

/// A delivery to be read by id, with what the dispatcher needs to place it fairly.
pub struct Claimed {
    /// The delivery.
    pub id: String,
    /// Its tenant.
    pub tenant_id: Arc<str>,
    /// Its subscription.
    pub subscription_id: String,
}

impl Work {
    /// The delivery id.
    pub fn id(&self) -> &str {
        match self {
            Work::Ready(job) => &job.delivery_id,
            Work::Stored(claimed) => &claimed.id,
        }
    }

    fn tenant(&self) -> &Arc<str> {
        match self {
            Work::Ready(job) => &job.tenant_id,
            Work::Stored(claimed) => &claimed.tenant_id,
        }
    }

    fn subscription(&self) -> &str {
        match self {
            Work::Ready(job) => &job.subscription_id,
            Work::Stored(claimed) => &claimed.subscription_id,
        }
    }

    /// How long ago this node's claim on it began, for work in hand.
    fn claim_age(&self) -> Duration {
        match self {
            Work::Ready(job) => job.claimed_at.elapsed(),
            Work::Stored(_) => Duration::ZERO,
        }
    }

    /// The same delivery, to be read from the database before it is attempted (to check that
    /// this node still holds it).
    fn into_stored(self) -> Work {
        match self {
            Work::Ready(job) => Work::Stored(Claimed {
                id: job.delivery_id,
                tenant_id: job.tenant_id,
                subscription_id: job.subscription_id,
            }),
            stored => stored,
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
    /// The note of the event's deleted payload (retention, an erasure): the delivery fails
    /// instead of sending an empty body.
    pub deleted: Option<String>,
    /// When this node's claim on it began (or was last checked): claims are renewed only
    /// while the dispatcher holds the work, so one that waited long before that may be gone.
    pub claimed_at: Instant,
    /// The connection cancellations were heard through when it was taken
    /// ([`super::cancelled::Cancelled::hearing`]).
    pub heard: u64,
}

/// The sending side of the queue, held in the pipeline's [`Context`].
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

    /// Hands deliveries this node has claimed to the workers, waiting while the queue is full
    /// (for the scheduler, which has nothing better to do).
    pub async fn push(&self, work: impl IntoIterator<Item = Work>) {
        for item in work {
            if self.tx.send(item).await.is_err() {
                // Shutting down: the claim runs out and the row is picked up again.
                return;
            }
        }
    }

    /// Offers freshly accepted deliveries to the workers without waiting: the ones that find
    /// the queue full are returned, for their claims to be given back to the scheduler.
    pub fn offer(&self, work: impl IntoIterator<Item = Work>) -> Vec<String> {
        let mut spilled = Vec::new();
        for item in work {
            match self.tx.try_send(item) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(item)) => spilled.push(item.id().to_owned()),
                // Shutting down: the claim is given back at shutdown or runs out.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        spilled
    }

    /// Tells the scheduler that due times changed (a retry was scheduled).
    pub fn wake_scheduler(&self) {
        self.wake.notify_one();
    }
}

/// Gives back this node's claims on `ids` (fresh deliveries the workers had no room for), so
/// that the scheduler claims them when there is room. In the background: ingest has answered.
pub fn spill(state: &Context, ids: Vec<String>) {
    if ids.is_empty() {
        return;
    }
    metrics::counter!("krog_deliveries_spilled_total").increment(ids.len() as u64);
    let state = state.clone();
    tokio::spawn(async move {
        for chunk in ids.chunks(RENEW_CHUNK) {
            if let Err(e) =
                store::queue::set_claims(&state.db, state.queue.node_id(), chunk, None).await
            {
                tracing::warn!(error = %e, "could not give back claims of queued-over deliveries; they return when their lease ends");
            }
        }
        // This node has more work than room: other nodes may take it at once.
        if let Err(e) = store::queue::announce_to_all(&state.db).await {
            tracing::warn!(error = %e, "could not announce work to other nodes; they find it at their next poll");
        }
        state.queue.wake_scheduler();
    });
}

/// Attempts whose records may wait for their commit at once (one full group commit): beyond
/// that a worker keeps its slot until its record is written, so deliveries never run more than
/// this far ahead of the database, however slow it is.
const SETTLING_MAX: usize = 256;

/// Most deliveries the dispatcher holds waiting (over all subscriptions) before it stops
/// taking more from the channel; beyond it the channel fills and ingest spills to the
/// scheduler.
const MAX_WAITING: usize = 65_536;

/// Delivery ids per statement when renewing or giving back claims.
const RENEW_CHUNK: usize = 500;

/// What a worker tells the dispatcher.
enum Signal {
    /// A worker slot is free again: the attempt is answered (its record may still be
    /// committing, as the next attempts start), so it no longer counts as in flight for its
    /// subscription and tenant either.
    Freed {
        subscription: String,
        tenant: Arc<str>,
    },
    /// An attempt is over, record and all: the delivery is no longer held here.
    Done { id: String },
}

/// A worker's slot while it attempts one delivery.
pub struct Turn {
    signals: mpsc::UnboundedSender<Signal>,
    settling: Arc<Semaphore>,
    subscription: String,
    tenant: Arc<str>,
    freed: bool,
}

impl Turn {
    /// Trades the worker slot for a place among the records waiting for their commit, so the
    /// next attempt starts during this one's fsync instead of queueing behind it.
    pub async fn settle(mut self) -> OwnedSemaphorePermit {
        let place = self
            .settling
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        self.free();
        place
    }

    fn free(&mut self) {
        if !self.freed {
            self.freed = true;
            let _ = self.signals.send(Signal::Freed {
                subscription: std::mem::take(&mut self.subscription),
                tenant: self.tenant.clone(),
            });
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.free();
    }
}

/// Tells the dispatcher that an attempt is over, however its task ends.
struct DoneGuard {
    signals: mpsc::UnboundedSender<Signal>,
    id: String,
}

impl Drop for DoneGuard {
    fn drop(&mut self) {
        let _ = self.signals.send(Signal::Done {
            id: std::mem::take(&mut self.id),
        });
    }
}

/// The bounds on work in flight.
#[derive(Clone, Copy, Debug)]
struct Caps {
    workers: usize,
    per_subscription: usize,
    per_tenant: usize,
}

/// One subscription's line: its deliveries in flight and those waiting.
struct Lane {
    tenant: Arc<str>,
    in_flight: usize,
    waiting: VecDeque<Work>,
}

/// What the dispatcher holds, and the order in which waiting subscriptions get a turn.
struct Book {
    caps: Caps,
    /// Worker slots in use.
    running: usize,
    lanes: HashMap<String, Lane>,
    tenants: HashMap<Arc<str>, usize>,
    /// Subscriptions with waiting work, each once, served round-robin.
    ready: VecDeque<String>,
    /// Every delivery held here, waiting or in flight, with when it arrived.
    held: HashMap<String, Instant>,
    waiting: usize,
}

impl Book {
    fn new(caps: Caps) -> Book {
        Book {
            caps,
            running: 0,
            lanes: HashMap::new(),
            tenants: HashMap::new(),
            ready: VecDeque::new(),
            held: HashMap::new(),
            waiting: 0,
        }
    }

    /// Takes in a delivery, unless it is already held here (a claim taken again while it
    /// waited: sending it twice is what the claim is there to prevent).
    fn admit(&mut self, work: Work) {
        if self.held.contains_key(work.id()) {
            metrics::counter!("krog_deliveries_already_held_total").increment(1);
            return;
        }
        self.held.insert(work.id().to_owned(), Instant::now());
        let subscription = work.subscription().to_owned();
        let lane = self
            .lanes
            .entry(subscription.clone())
            .or_insert_with(|| Lane {
                tenant: work.tenant().clone(),
                in_flight: 0,
                waiting: VecDeque::new(),
            });
        if lane.waiting.is_empty() {
            self.ready.push_back(subscription);
        }
        lane.waiting.push_back(work);
        self.waiting += 1;
    }

    /// The next delivery that may start under every bound, taking subscriptions in turn.
    fn next(&mut self) -> Option<(Work, Instant)> {
        if self.running >= self.caps.workers {
            return None;
        }
        for _ in 0..self.ready.len() {
            let subscription = self.ready.pop_front()?;
            let Some(lane) = self.lanes.get_mut(&subscription) else {
                continue;
            };
            let tenant_busy = self.tenants.get(&lane.tenant).copied().unwrap_or(0);
            if lane.in_flight < self.caps.per_subscription && tenant_busy < self.caps.per_tenant {
                let Some(work) = lane.waiting.pop_front() else {
                    continue;
                };
                lane.in_flight += 1;
                *self.tenants.entry(lane.tenant.clone()).or_insert(0) += 1;
                self.running += 1;
                self.waiting -= 1;
                if !lane.waiting.is_empty() {
                    self.ready.push_back(subscription);
                }
                let since = self
                    .held
                    .get(work.id())
                    .copied()
                    .unwrap_or_else(Instant::now);
                return Some((work, since));
            }
            self.ready.push_back(subscription);
        }
        None
    }

    fn on(&mut self, signal: Signal) {
        match signal {
            Signal::Done { id } => {
                self.held.remove(&id);
            }
            Signal::Freed {
                subscription,
                tenant,
            } => {
                self.running = self.running.saturating_sub(1);
                if let Some(lane) = self.lanes.get_mut(&subscription) {
                    lane.in_flight = lane.in_flight.saturating_sub(1);
                    if lane.in_flight == 0 && lane.waiting.is_empty() {
                        self.lanes.remove(&subscription);
                    }
                }
                if let Some(busy) = self.tenants.get_mut(&tenant) {
                    *busy = busy.saturating_sub(1);
                    if *busy == 0 {
                        self.tenants.remove(&tenant);
                    }
                }
            }
        }
    }
}

/// Runs the workers and the scheduler until `shutdown` turns true; then lets in-flight
/// attempts finish and gives back claims on work not started.
pub async fn start(state: Context, receiver: Receiver, mut shutdown: watch::Receiver<bool>) {
    let Receiver { mut rx } = receiver;
    let config = &state.config;
    let mut book = Book::new(Caps {
        workers: config.workers,
        per_subscription: config.max_in_flight_per_subscription.max(1),
        per_tenant: config.max_in_flight_per_tenant.max(1),
    });
    let lease = config.claim_lease;
    let (signals, mut signals_rx) = mpsc::unbounded_channel();
    let settling = Arc::new(Semaphore::new(SETTLING_MAX));
    let mut running = JoinSet::new();
    let scheduler = tokio::spawn(schedule(state.clone(), shutdown.clone()));
    let listener = match state.db.backend() {
        Backend::Postgres => Some(tokio::spawn(listen(state.clone()))),
        // The only node: every erasure is this node's own.
        Backend::Sqlite => {
            state.cancelled.hear();
            None
        }
    };
    let mut renew = tokio::time::interval((lease / 3).max(Duration::from_millis(50)));
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let renewing = Arc::new(tokio::sync::Mutex::new(()));
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            Some(signal) = signals_rx.recv() => book.on(signal),
            work = rx.recv(), if book.waiting < MAX_WAITING => match work {
                Some(work) => book.admit(work),
                None => break,
            },
            _ = renew.tick() => renew_claims(&state, &book, lease, &renewing),
        }
        // Take in everything else that is ready, from both sides, before starting work: under
        // load the workers' signals are always ready, and the select above alone would let
        // them starve the channel (which ingest then finds full, and spills).
        while let Ok(signal) = signals_rx.try_recv() {
            book.on(signal);
        }
        while book.waiting < MAX_WAITING {
            match rx.try_recv() {
                Ok(work) => book.admit(work),
                Err(_) => break,
            }
        }
        while let Some((work, since)) = book.next() {
            // Work that waited long may have lost its claim (a renewal that failed, or a wait
            // before the dispatcher took it, when nothing renews it): read it back, which
            // checks that this node still holds it, before sending.
            let work = if since.elapsed().max(work.claim_age()) > lease / 2 {
                work.into_stored()
            } else {
                work
            };
            let turn = Turn {
                signals: signals.clone(),
                settling: settling.clone(),
                subscription: work.subscription().to_owned(),
                tenant: work.tenant().clone(),
                freed: false,
            };
            let done = DoneGuard {
                signals: signals.clone(),
                id: work.id().to_owned(),
            };
            let state = state.clone();
            running.spawn(async move {
                let _done = done;
                let id = work.id().to_owned();
                if let Err(e) = super::attempt::run(&state, work, turn).await {
                    // The claim is left to run out: the lease is the back-off, so a record
                    // the database refuses is not attempted again in a loop.
                    metrics::counter!("krog_attempts_unrecorded_total").increment(1);
                    tracing::error!(delivery = %id, error = ?e, "delivery attempt failed to complete; it is retried when its claim runs out");
                }
            });
        }
        while running.try_join_next().is_some() {}
        // Deliveries accepted but waiting for a worker.
        metrics::gauge!("krog_queue_depth").set((book.waiting + rx.len()) as f64);
    }
    scheduler.abort();
    if let Some(listener) = listener {
        listener.abort();
    }
    rx.close();
    while running.join_next().await.is_some() {}
    let node = state.queue.node_id().to_owned();
    if let Err(e) = store::queue::release_node(&state.db, &node).await {
        tracing::warn!(error = %e, "could not give back claims at shutdown; they expire by lease");
    }
}

/// Extends this node's claims on everything it holds by a full lease, in the background (one
/// renewal at a time).
fn renew_claims(
    state: &Context,
    book: &Book,
    lease: Duration,
    renewing: &Arc<tokio::sync::Mutex<()>>,
) {
    if book.held.is_empty() {
        return;
    }
    let ids: Vec<String> = book.held.keys().cloned().collect();
    let state = state.clone();
    let renewing = renewing.clone();
    tokio::spawn(async move {
        let Ok(_one) = renewing.try_lock_owned() else {
            return;
        };
        let until = now_ms() + lease.as_millis() as i64;
        for chunk in ids.chunks(RENEW_CHUNK) {
            if let Err(e) =
                store::queue::set_claims(&state.db, state.queue.node_id(), chunk, Some(until)).await
            {
                metrics::counter!("krog_claim_renewal_failures_total").increment(1);
                tracing::warn!(error = %e, "could not renew claims; work that waited past its lease is checked before it is sent");
                return;
            }
        }
    });
}

const CLAIM_BATCH: i64 = 256;

/// On PostgreSQL, wakes this node's scheduler whenever another node announces work it has no
/// room for (or a replay), so idle nodes react at once rather than at the next poll; drops
/// work waiting here that an erasure on another node cancelled, and drops
/// this node's directory when another node changed keys, tenants, subscriptions or modules.
/// Polling and the directory's TTL stay as the fallback when the listening connection is down.
async fn listen(state: Context) {
    loop {
        let result: Result<(), store::Error> = async {
            let mut listener = store::Listener::connect(
                &state.config.database_url,
                &[
                    store::queue::NOTIFY_CHANNEL,
                    store::queue::CANCELLED_CHANNEL,
                    crate::directory::CHANNEL,
                ],
            )
            .await?;
            // Whatever was announced while not listening is unknown: start from scratch, and
            // read back work taken before now.
            state.directory.forget();
            state.cancelled.hear();
            loop {
                let (channel, payload) = listener.recv().await?;
                match channel.as_str() {
                    crate::directory::CHANNEL => state.directory.forget(),
                    store::queue::CANCELLED_CHANNEL => state.cancelled.add(
                        payload
                            .split(',')
                            .filter(|id| !id.is_empty())
                            .map(str::to_owned),
                    ),
                    _ => state.queue.wake.notify_one(),
                }
            }
        }
        .await;
        state.cancelled.deaf();
        if let Err(e) = result {
            tracing::warn!(error = %e, "LISTEN connection lost; polling until it is back");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn schedule(state: Context, shutdown: watch::Receiver<bool>) {
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

/// Claims due, unclaimed (or lease-expired) pending deliveries for this node, each with its
/// event, and queues them.
async fn claim_due(state: &Context) -> Result<usize, store::Error> {
    let claimed_at = Instant::now();
    let heard = state.cancelled.hearing();
    let now = now_ms();
    let lease_until = now + state.config.claim_lease.as_millis() as i64;
    let claimed = store::queue::claim_due(
        &state.db,
        state.queue.node_id(),
        lease_until,
        now,
        CLAIM_BATCH,
    )
    .await?;
    let count = claimed.len();
    if count > 0 {
        tracing::debug!(count, "claimed due deliveries");
        state
            .queue
            .push(claimed.into_iter().map(|row| ready(row, claimed_at, heard)))
            .await;
    }
    Ok(count)
}

/// A claimed row as work for a worker.
fn ready(row: store::queue::Due, claimed_at: Instant, heard: u64) -> Work {
    match Job::claimed(row, claimed_at, heard) {
        Ok(job) => Work::Ready(job),
        // Not an event type this build knows (a row written by hand, or by a newer krog): the
        // attempt reads it again and says so.
        Err(row) => Work::Stored(Claimed {
            id: row.id,
            tenant_id: row.tenant_id.into(),
            subscription_id: row.subscription_id,
        }),
    }
}

impl Job {
    /// The job of a delivery claimed with its event, under cancellation-listening connection
    /// `heard`; the row back when its event type is not one this build knows.
    pub fn claimed(
        row: store::queue::Due,
        claimed_at: Instant,
        heard: u64,
    ) -> Result<Job, store::queue::Due> {
        let Some(event_type) = crate::model::event::known_type(&row.event_type) else {
            return Err(row);
        };
        Ok(Job {
            delivery_id: row.id,
            attempt_count: row.attempt_count,
            tenant_id: row.tenant_id.into(),
            subscription_id: row.subscription_id,
            target: None,
            event: Arc::new(Event {
                id: row.event_id,
                event_type,
                timestamp: row.timestamp,
                data: row.data,
            }),
            deleted: row.payload_deleted_note,
            claimed_at,
            heard,
        })
    }
}

/// How long until the next pending delivery becomes claimable.
async fn next_due_in(db: &Db) -> Result<Option<Duration>, store::Error> {
    let next = store::queue::next_due(db).await?;
    Ok(next.map(|at| Duration::from_millis((at - now_ms()).max(0) as u64)))
}
