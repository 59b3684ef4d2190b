//! Group commit. The two writes on the hot path — accepting an event with its deliveries, and
//! settling a delivery after an attempt — go through one writer task that gathers whatever is
//! waiting into a single transaction. Under load one commit (one fsync) serves dozens of
//! requests; alone, a write commits at once. Callers wait for their commit, so a 202 still
//! means durable and a settled delivery is settled.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::db::{Db, new_id, now_ms};
use crate::deliveries::attempt::Settlement;
use crate::events::Event;

/// The most writes gathered into one transaction.
const MAX_BATCH: usize = 256;

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

/// The handle to the writer task.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Write>,
}

impl Writer {
    /// Starts the writer task for this node.
    pub fn spawn(db: Db, node: Arc<str>, lease: Duration) -> Writer {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(db, node, lease, rx));
        Writer { tx }
    }

    /// Stores an event and one pending delivery per target, claimed by this node.
    pub async fn accept(
        &self,
        tenant: &str,
        event: Arc<Event>,
        targets: Vec<String>,
    ) -> anyhow::Result<Stored> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Write::Accept {
                tenant: tenant.to_owned(),
                event,
                targets,
                reply,
            })
            .await
            .map_err(|_| anyhow::anyhow!("the writer has stopped"))?;
        answer.await?.map_err(anyhow::Error::msg)
    }

    /// Stores how a delivery settled after an attempt.
    pub async fn settle(&self, settlement: Settlement) -> anyhow::Result<()> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Write::Settle {
                settlement: Box::new(settlement),
                reply,
            })
            .await
            .map_err(|_| anyhow::anyhow!("the writer has stopped"))?;
        answer.await?.map_err(anyhow::Error::msg)
    }
}

async fn run(db: Db, node: Arc<str>, lease: Duration, mut rx: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("krog_group_commit_size").record(batch.len() as f64);
        match commit(&db, &node, lease, &batch).await {
            Ok(results) => {
                for (write, result) in batch.drain(..).zip(results) {
                    match (write, result) {
                        (Write::Accept { reply, .. }, Some(stored)) => {
                            let _ = reply.send(Ok(stored));
                        }
                        (Write::Settle { reply, .. }, _) => {
                            let _ = reply.send(Ok(()));
                        }
                        (Write::Accept { reply, .. }, None) => {
                            let _ =
                                reply.send(Err("internal: no result for an accepted event".into()));
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, size = batch.len(), "group commit failed");
                let message = format!("database write failed: {e}");
                for write in batch.drain(..) {
                    match write {
                        Write::Accept { reply, .. } => {
                            let _ = reply.send(Err(message.clone()));
                        }
                        Write::Settle { reply, .. } => {
                            let _ = reply.send(Err(message.clone()));
                        }
                    }
                }
            }
        }
    }
}

async fn commit(
    db: &Db,
    node: &str,
    lease: Duration,
    batch: &[Write],
) -> Result<Vec<Option<Stored>>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    let lease_until = now + lease.as_millis() as i64;
    let mut results = Vec::with_capacity(batch.len());
    let mut announce = false;
    for write in batch {
        match write {
            Write::Accept {
                tenant,
                event,
                targets,
                ..
            } => {
                results.push(Some(
                    accept(&mut tx, node, now, lease_until, tenant, event, targets).await?,
                ));
            }
            Write::Settle { settlement, .. } => {
                settlement.apply(&mut tx, node).await?;
                announce |= settlement.retries();
                results.push(None);
            }
        }
    }
    if announce {
        crate::queue::announce(&mut tx, db.backend()).await?;
    }
    tx.commit().await?;
    Ok(results)
}

async fn accept(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    node: &str,
    now: i64,
    lease_until: i64,
    tenant: &str,
    event: &Event,
    targets: &[String],
) -> Result<Stored, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO events (tenant_id, id, event_type, timestamp, data, deliveries, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, id) DO NOTHING",
    )
    .bind(tenant)
    .bind(&event.id)
    .bind(event.event_type)
    .bind(&event.timestamp)
    .bind(&event.data)
    .bind(targets.len() as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 0 {
        let (deliveries,): (i64,) =
            sqlx::query_as("SELECT deliveries FROM events WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(&event.id)
                .fetch_one(&mut **tx)
                .await?;
        return Ok(Stored {
            duplicate: true,
            deliveries,
            delivery_ids: Vec::new(),
        });
    }
    let mut delivery_ids = Vec::with_capacity(targets.len());
    for subscription in targets {
        let id = new_id("dlv");
        // Claimed by this node from the start: the workers get it through the channel at
        // once, and only if this node dies does the lease expire for another to take it.
        sqlx::query(
            "INSERT INTO deliveries (id, tenant_id, event_id, subscription_id, status, attempt_count, \
             next_attempt_at, claimed_until, claimed_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $5, $5)",
        )
        .bind(&id)
        .bind(tenant)
        .bind(&event.id)
        .bind(subscription)
        .bind(now)
        .bind(lease_until)
        .bind(node)
        .execute(&mut **tx)
        .await?;
        delivery_ids.push(id);
    }
    Ok(Stored {
        duplicate: false,
        deliveries: targets.len() as i64,
        delivery_ids,
    })
}
