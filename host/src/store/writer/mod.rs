//! Group commit. The two writes on the hot path — accepting an event with its deliveries, and
//! settling a delivery after an attempt — go through a writer that gathers whatever is waiting
//! into a single transaction. Under load one commit (one fsync) serves dozens of requests;
//! alone, an ingest commits at once. Callers wait for their commit, so a 202 still means
//! durable and a settled delivery is settled.
//!
//! Settlements alone wait up to [`SETTLE_WAIT`] for company: on SQLite that folds them into the
//! next ingest's commit at low load, instead of making that ingest queue behind their own fsync.
//!
//! A group commit is a thread that gathers and commits. The statements are built once
//! ([`Statement`]) and run by one of two drivers, each on a connection of its own:
//! - SQLite ([`sqlite`]): one group commit for both kinds of write (the database has one writer
//!   at a time), one statement per row, where a statement is a function call rather than a
//!   round trip to sqlx's connection thread;
//! - PostgreSQL ([`postgres`]): two group commits at once, one for accepted events and one for
//!   settlements, each writing its batch with one statement whatever its size (the rows bound
//!   as arrays), since there a statement is a round trip over the network.

mod postgres;
mod settle;
mod sqlite;

pub use settle::{AttemptRecord, Disable, Emitted, Health, SentRequest, Settlement};

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{Backend, Db, Error, Result, new_id};
use crate::model::Event;

/// The most writes gathered into one transaction.
const MAX_BATCH: usize = 256;

/// How long settlements with nothing else to commit wait for an ingest to share a commit with.
const SETTLE_WAIT: Duration = Duration::from_millis(5);

/// What an accepted event stored.
#[derive(Debug)]
pub struct Stored {
    /// True when the event id was known: nothing new was stored.
    pub duplicate: bool,
    /// Deliveries of the event (the original count for a duplicate).
    pub deliveries: i64,
    /// Ids of the new deliveries, claimed by this node, in the order of the targets.
    pub delivery_ids: Vec<String>,
}

enum Write {
    Accept {
        tenant: String,
        event: Arc<Event>,
        targets: Vec<String>,
        reply: oneshot::Sender<Result<Stored, String>>,
    },
    Settle {
        settlement: Box<Settlement>,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// The handle to the writer.
#[derive(Clone)]
pub struct Writer {
    /// Where accepted events go.
    accepts: flume::Sender<Write>,
    /// Where settlements go (the same group commit as accepted events on SQLite).
    settlements: flume::Sender<Write>,
}

/// Commits one batch in one transaction: a result per write (`Some` for an accepted event).
type Commit = Box<dyn FnMut(&Claim, &[Write]) -> Result<Vec<Option<Stored>>, Failed> + Send>;

/// Why a batch's transaction failed.
#[derive(Debug)]
struct Failed {
    message: String,
    /// The database refused the data of some write (a constraint, a value it cannot store),
    /// rather than failing as a whole (unreachable, locked, full): only then can the batch's
    /// other writes succeed on their own.
    one_write: bool,
}

impl Failed {
    fn sqlite(e: rusqlite::Error) -> Failed {
        use rusqlite::ErrorCode::{ConstraintViolation, TooBig, TypeMismatch};
        let one_write = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, ConstraintViolation | TooBig | TypeMismatch)
        ) || matches!(&e, rusqlite::Error::ToSqlConversionFailure(_));
        Failed {
            message: e.to_string(),
            one_write,
        }
    }

    fn sqlx(e: sqlx::Error) -> Failed {
        Failed {
            one_write: postgres::refused(&e),
            message: e.to_string(),
        }
    }
}

/// Who writes: this node's claim on new deliveries.
#[derive(Clone)]
struct Claim {
    node: Arc<str>,
    lease: Duration,
}

impl Writer {
    /// Starts the writer for this node on the database at `url` (`db`'s), whose new deliveries
    /// it claims for `node` for `lease`. `sqlite_synchronous` is SQLite's `synchronous` mode.
    pub fn spawn(
        db: Db,
        url: &str,
        sqlite_synchronous: &str,
        lease: Duration,
        node: Arc<str>,
    ) -> anyhow::Result<Writer> {
        let claim = Claim { node, lease };
        match db.backend() {
            Backend::Sqlite => {
                let mut conn = sqlite::open(url, sqlite_synchronous)?;
                // One pending poke is enough: the checkpointer copies whatever is committed.
                let (poke, commits) = flume::bounded(1);
                sqlite::spawn_checkpointer(url, commits)?;
                let (tx, rx) = flume::bounded(4 * MAX_BATCH);
                run(
                    "krog-writer",
                    rx,
                    claim,
                    SETTLE_WAIT,
                    move |claim, batch| {
                        let result =
                            sqlite::commit(&mut conn, claim, batch).map_err(Failed::sqlite);
                        let _ = poke.try_send(());
                        result
                    },
                )?;
                Ok(Writer {
                    accepts: tx.clone(),
                    settlements: tx,
                })
            }
            // Two group commits at once, each on its own connection: one of accepted events,
            // which a 202 waits for, and one of settlements, which nothing outside waits for.
            // An ingest then waits only for other ingests' rows and a flush, not for a batch
            // of settlements as well; PostgreSQL flushes the two commits together when they
            // meet. Settlements wait a little for each other instead of for an ingest.
            Backend::Postgres => {
                let mut writers = [
                    ("krog-writer", Duration::ZERO),
                    ("krog-settler", SETTLE_WAIT),
                ]
                .into_iter()
                .map(|(name, wait)| {
                    let (tx, rx) = flume::bounded(4 * MAX_BATCH);
                    // Each on a runtime of its own, so that its connection's socket is polled
                    // on its own thread rather than woken through the API's workers.
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let mut conn = postgres::Postgres::new(url);
                    run(name, rx, claim.clone(), wait, move |claim, batch| {
                        runtime
                            .block_on(conn.commit(claim, batch))
                            .map_err(Failed::sqlx)
                    })?;
                    Ok::<_, anyhow::Error>(tx)
                });
                Ok(Writer {
                    accepts: writers.next().expect("two writers")?,
                    settlements: writers.next().expect("two writers")?,
                })
            }
        }
    }

    /// Stores an event and one pending delivery per target, claimed by this node.
    pub async fn accept(
        &self,
        tenant: &str,
        event: Arc<Event>,
        targets: Vec<String>,
    ) -> Result<Stored> {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.accepts
            .send_async(Write::Accept {
                tenant: tenant.to_owned(),
                event,
                targets,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        let stored = answer.await.map_err(|_| stopped())?.map_err(Error::Write);
        // Ingest's share of a 202: the wait for a place in a group commit and for its fsync.
        metrics::histogram!("krog_event_commit_seconds").record(started.elapsed().as_secs_f64());
        stored
    }

    /// Stores how a delivery settled after an attempt.
    pub async fn settle(&self, settlement: Settlement) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.settlements
            .send_async(Write::Settle {
                settlement: Box::new(settlement),
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(Error::Write)
    }
}

/// Runs a group commit on a thread of its own: gathers what `rx` brings (settlements alone
/// waiting up to `settle_wait` for company) and commits each batch with `commit`.
fn run(
    name: &str,
    rx: flume::Receiver<Write>,
    claim: Claim,
    settle_wait: Duration,
    commit: impl FnMut(&Claim, &[Write]) -> Result<Vec<Option<Stored>>, Failed> + Send + 'static,
) -> anyhow::Result<()> {
    let mut commit: Commit = Box::new(commit);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while gather(&rx, &mut batch, settle_wait).is_some() {
                let started = Instant::now();
                let results = commit_isolated(&mut commit, &claim, &batch);
                metrics::histogram!("krog_group_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                reply(&mut batch, results);
            }
        })?;
    Ok(())
}

fn stopped() -> Error {
    Error::Write("the writer has stopped".to_owned())
}

impl Write {
    fn is_accept(&self) -> bool {
        matches!(self, Write::Accept { .. })
    }
}

/// Takes whatever else is waiting, up to [`MAX_BATCH`].
fn drain(rx: &flume::Receiver<Write>, batch: &mut Vec<Write>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(write) => batch.push(write),
            Err(_) => break,
        }
    }
}

/// Gathers the next batch (blocking); `None` when every sender is gone. Settlements alone
/// wait up to `settle_wait` for an ingest to share their commit.
fn gather(
    rx: &flume::Receiver<Write>,
    batch: &mut Vec<Write>,
    settle_wait: Duration,
) -> Option<()> {
    batch.push(rx.recv().ok()?);
    drain(rx, batch);
    if !batch.iter().any(Write::is_accept) {
        let deadline = Instant::now() + settle_wait;
        while batch.len() < MAX_BATCH {
            let Ok(write) = rx.recv_deadline(deadline) else {
                break;
            };
            let arrived = batch.len();
            batch.push(write);
            drain(rx, batch);
            // An ingest may have come in behind another settlement: it must not wait out the
            // deadline (at concurrency 1 that put 5 ms on 1–2 % of deliveries).
            if batch[arrived..].iter().any(Write::is_accept) {
                break;
            }
        }
    }
    Some(())
}

/// The outcome of one write: `Some` for an accepted event.
type WriteResult = Result<Option<Stored>, String>;

/// Commits `batch` in one transaction; if that fails, commits each write in a transaction of
/// its own, so that one write the database refuses fails alone instead of failing every
/// tenant's write that shared its batch. The fallback costs a transaction per write, and runs
/// only after a failure.
fn commit_isolated(commit: &mut Commit, claim: &Claim, batch: &[Write]) -> Vec<WriteResult> {
    match commit(claim, batch) {
        Ok(results) => results.into_iter().map(Ok).collect(),
        Err(e) if batch.len() > 1 && e.one_write => {
            metrics::counter!("krog_group_commit_failures_total").increment(1);
            tracing::warn!(error = %e.message, size = batch.len(), "group commit failed; committing each write alone");
            batch
                .iter()
                .map(|write| {
                    commit(claim, std::slice::from_ref(write))
                        .map(|mut results| results.pop().flatten())
                        .map_err(|e| e.message)
                })
                .collect()
        }
        // The database as a whole failed: every write fails with it, at once (trying each
        // alone would only wait out the same failure once per write).
        Err(e) => {
            metrics::counter!("krog_group_commit_failures_total").increment(1);
            batch.iter().map(|_| Err(e.message.clone())).collect()
        }
    }
}

/// Answers every write of a batch with the outcome of its own write.
fn reply(batch: &mut Vec<Write>, results: Vec<WriteResult>) {
    metrics::histogram!("krog_group_commit_size").record(batch.len() as f64);
    for (write, result) in batch.drain(..).zip(results) {
        if let Err(e) = &result {
            tracing::error!(error = %e, "a write failed");
        }
        let result = result.map_err(|e| format!("database write failed: {e}"));
        match write {
            Write::Accept { reply, .. } => {
                let _ = reply.send(result.and_then(|stored| {
                    stored.ok_or_else(|| "internal: no result for an accepted event".to_owned())
                }));
            }
            Write::Settle { reply, .. } => {
                let _ = reply.send(result.map(|_| ()));
            }
        }
    }
}

/// A value bound to a statement, typed even when NULL (PostgreSQL needs the type).
#[derive(Clone, Copy, Debug)]
pub enum Param<'a> {
    /// An integer.
    Int(Option<i64>),
    /// Text.
    Text(Option<&'a str>),
    /// Bytes.
    Blob(Option<&'a [u8]>),
}

/// One SQL statement with its parameters (`$1`, `$2`, … in order of first use), for either
/// driver.
#[derive(Debug)]
pub struct Statement<'a> {
    /// The SQL.
    pub sql: &'static str,
    /// The values of `$1`, `$2`, ….
    pub params: Vec<Param<'a>>,
}

const INSERT_EVENT: &str = "INSERT INTO events (tenant_id, id, event_type, timestamp, data, deliveries, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, id) DO NOTHING";

const COUNT_DELIVERIES: &str = "SELECT deliveries FROM events WHERE tenant_id = $1 AND id = $2";

// Claimed by this node from the start: the workers get it through the channel at once, and
// only if this node dies does the lease expire for another to take it.
const INSERT_DELIVERY: &str = "INSERT INTO deliveries (id, tenant_id, event_id, subscription_id, status, attempt_count, \
     next_attempt_at, claimed_until, claimed_by, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $5, $5)";

/// The statements of one accepted event: the event itself first (its row count tells a
/// duplicate), then the deliveries, whose ids are in `ids`.
struct Acceptance<'a> {
    event: Statement<'a>,
    duplicate_count: Statement<'a>,
    deliveries: Vec<Statement<'a>>,
}

fn acceptance<'a>(
    tenant: &'a str,
    event: &'a Event,
    targets: &'a [String],
    claim: &'a Claim,
    now: i64,
    ids: &'a [String],
) -> Acceptance<'a> {
    use Param::{Int, Text};
    let lease_until = now + claim.lease.as_millis() as i64;
    Acceptance {
        event: Statement {
            sql: INSERT_EVENT,
            params: vec![
                Text(Some(tenant)),
                Text(Some(&event.id)),
                Text(Some(event.event_type)),
                Text(Some(&event.timestamp)),
                Text(Some(&event.data)),
                Int(Some(targets.len() as i64)),
                Int(Some(now)),
            ],
        },
        duplicate_count: Statement {
            sql: COUNT_DELIVERIES,
            params: vec![Text(Some(tenant)), Text(Some(&event.id))],
        },
        deliveries: targets
            .iter()
            .zip(ids)
            .map(|(subscription, id)| Statement {
                sql: INSERT_DELIVERY,
                params: vec![
                    Text(Some(id)),
                    Text(Some(tenant)),
                    Text(Some(&event.id)),
                    Text(Some(subscription)),
                    Int(Some(now)),
                    Int(Some(lease_until)),
                    Text(Some(&claim.node)),
                ],
            })
            .collect(),
    }
}

/// Fresh delivery ids for an event's targets.
fn delivery_ids(targets: &[String]) -> Vec<String> {
    targets.iter().map(|_| new_id("dlv")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle() -> Write {
        Write::Settle {
            settlement: Box::new(Settlement::example()),
            reply: oneshot::channel().0,
        }
    }

    fn accept() -> Write {
        Write::Accept {
            tenant: "acme".into(),
            event: Arc::new(Event {
                id: "evt_1".into(),
                event_type: "booking.created",
                timestamp: "2026-11-29T10:00:00Z".into(),
                data: "{}".into(),
            }),
            targets: Vec::new(),
            reply: oneshot::channel().0,
        }
    }

    #[test]
    fn settlements_stop_waiting_for_company_once_an_ingest_is_among_them() {
        let (tx, rx) = flume::unbounded();
        let sender = std::thread::spawn(move || {
            tx.send(settle()).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            // Back to back: the writer wakes for the settlement and takes the ingest in behind
            // it, in the same drain.
            tx.send(settle()).unwrap();
            tx.send(accept()).unwrap();
            tx
        });
        let started = Instant::now();
        let mut batch = Vec::new();
        gather(&rx, &mut batch, Duration::from_secs(30)).unwrap();
        let waited = started.elapsed();
        let _tx = sender.join().unwrap();
        assert!(
            waited < Duration::from_secs(10),
            "the batch waited {waited:?} with an ingest in it"
        );
        assert_eq!(batch.len(), 3);
        assert!(batch[2].is_accept());
    }

    fn accept_for(tenant: &str) -> Write {
        match accept() {
            Write::Accept {
                event,
                targets,
                reply,
                ..
            } => Write::Accept {
                tenant: tenant.into(),
                event,
                targets,
                reply,
            },
            other => other,
        }
    }

    fn claim() -> Claim {
        Claim {
            node: "node_test".into(),
            lease: Duration::from_secs(1),
        }
    }

    /// A database that refuses any transaction holding tenant `poison`'s write.
    fn refusing(calls: std::sync::Arc<std::sync::atomic::AtomicUsize>, one_write: bool) -> Commit {
        Box::new(move |_, batch: &[Write]| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let poisoned = batch
                .iter()
                .any(|w| matches!(w, Write::Accept { tenant, .. } if tenant == "poison"));
            if poisoned {
                return Err(Failed {
                    message: "invalid byte sequence".into(),
                    one_write,
                });
            }
            Ok(batch
                .iter()
                .map(|_| {
                    Some(Stored {
                        duplicate: false,
                        deliveries: 0,
                        delivery_ids: Vec::new(),
                    })
                })
                .collect())
        })
    }

    #[test]
    fn a_write_the_database_refuses_fails_alone_and_the_rest_of_its_batch_commits() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut commit = refusing(calls.clone(), true);
        let batch = vec![accept_for("a"), accept_for("poison"), accept_for("b")];
        let results = commit_isolated(&mut commit, &claim(), &batch);
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[2].is_ok());
        assert!(
            results[1]
                .as_ref()
                .unwrap_err()
                .contains("invalid byte sequence")
        );
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    #[test]
    fn when_the_database_fails_as_a_whole_every_write_fails_at_once() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut commit = refusing(calls.clone(), false);
        let batch = vec![accept_for("a"), accept_for("poison"), accept_for("b")];
        let results = commit_isolated(&mut commit, &claim(), &batch);
        assert_eq!(results.len(), 3);
        assert!(results.iter().all(Result::is_err));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn settlements_alone_wait_for_company_until_the_deadline() {
        let (tx, rx) = flume::unbounded();
        tx.send(settle()).unwrap();
        let started = Instant::now();
        let mut batch = Vec::new();
        gather(&rx, &mut batch, Duration::from_millis(50)).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(batch.len(), 1);
    }
}
