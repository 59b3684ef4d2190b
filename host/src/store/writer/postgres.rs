//! The writer's PostgreSQL driver. A group commit on PostgreSQL pays a network round trip per
//! statement, so a batch is written with a fixed number of statements whatever its size: the
//! rows of each kind are bound as arrays, one per column, and unnested into one `INSERT` or
//! `UPDATE`. A batch of accepted events is one statement (events and their deliveries); a batch
//! of settlements is one more (attempts and deliveries). Only what is rare runs a statement per
//! write: a subscription's health changing, stopping it, operational events.
//!
//! The rows are the very parameters of the single-row statements the SQLite driver runs
//! ([`acceptance`], [`Settlement::writes`]), transposed: column `k` of the batched statement is
//! parameter `$k` of the single-row one. What a write stores is decided once, there.
//!
//! The driver keeps a connection of its own (outside the pool, so the hot path never waits for
//! one), and opens a new one after a failure that was not one write's fault.

use std::collections::{HashMap, HashSet};

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use super::settle::{Step, Writes};
use super::{Claim, Param, Statement, Stored, Write, acceptance, delivery_ids};
use crate::store::{new_id, now_ms};
use Kind::{Blob, Int, Text};

/// Accepted events and their deliveries, claimed by this node: `$1`–`$7` are the columns of
/// [`super::INSERT_EVENT`], `$8`–`$14` those of [`super::INSERT_DELIVERY`]. A delivery is stored
/// only with an event that is new; the new events' keys come back.
const ACCEPT: &str = "WITH new AS (\
       INSERT INTO events (tenant_id, id, event_type, timestamp, data, deliveries, created_at) \
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[]) \
       ON CONFLICT (tenant_id, id) DO NOTHING RETURNING tenant_id, id\
     ), placed AS (\
       INSERT INTO deliveries (id, tenant_id, event_id, subscription_id, status, attempt_count, \
         next_attempt_at, claimed_until, claimed_by, created_at, updated_at) \
       SELECT u.id, u.tenant, u.event, u.subscription, 'pending', 0, u.now, u.lease, u.node, u.now, u.now \
       FROM unnest($8::text[], $9::text[], $10::text[], $11::text[], $12::int8[], $13::int8[], $14::text[]) \
         AS u(id, tenant, event, subscription, now, lease, node) \
       JOIN new ON new.tenant_id = u.tenant AND new.id = u.event\
     ) SELECT tenant_id, id FROM new";

/// How many deliveries the events already stored were accepted with: `$1`, `$2` are the keys.
const DUPLICATES: &str = "SELECT e.tenant_id, e.id, e.deliveries FROM events e \
     JOIN unnest($1::text[], $2::text[]) AS u(tenant, id) ON e.tenant_id = u.tenant AND e.id = u.id";

/// Attempts and the deliveries they settle: `$1`–`$9` are the columns of
/// [`super::settle::INSERT_ATTEMPT`], `$10`–`$18` those of [`super::settle::SETTLE_DELIVERY`],
/// with the same conditions. Both parts see the deliveries as they were before the statement,
/// so an attempt keeps its answer only when its delivery was pending, as when run in turn. The
/// ids of the deliveries settled come back.
const SETTLE: &str = "WITH attempted AS (\
       INSERT INTO attempts (id, delivery_id, at, duration_ms, status_code, error, error_kind, response, node) \
       SELECT u.id, u.delivery, u.at, u.duration, u.code, u.error, u.kind, \
         CASE WHEN d.status = 'pending' THEN u.response END, u.node \
       FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::text[], $7::text[], $8::text[], $9::text[]) \
         AS u(id, delivery, at, duration, code, error, kind, response, node) \
       JOIN deliveries d ON d.id = u.delivery\
     ) UPDATE deliveries d SET status = u.status, attempt_count = u.attempts, next_attempt_at = u.next, \
       claimed_until = NULL, claimed_by = NULL, updated_at = u.now, skip_reason = COALESCE(u.skip, d.skip_reason), \
       request_content_type = COALESCE(u.content_type, d.request_content_type), \
       request_headers = COALESCE(u.headers, d.request_headers), \
       request_body = CASE WHEN u.content_type IS NULL THEN d.request_body ELSE u.body END \
     FROM unnest($10::text[], $11::int8[], $12::int8[], $13::int8[], $14::text[], $15::text[], $16::text[], $17::bytea[], $18::text[]) \
       AS u(status, attempts, next, now, skip, content_type, headers, body, id) \
     WHERE d.id = u.id AND d.status = 'pending' RETURNING d.id";

/// The writer's connection to PostgreSQL.
pub(super) struct Postgres {
    url: String,
    conn: Option<PgConnection>,
}

impl Postgres {
    /// The driver for the database at `url`, connecting at its first commit.
    pub(super) fn new(url: &str) -> Postgres {
        Postgres {
            url: url.to_owned(),
            conn: None,
        }
    }

    /// Commits `batch` atomically: a result per write (`Some` for an accepted event).
    pub(super) async fn commit(
        &mut self,
        claim: &Claim,
        batch: &[Write],
    ) -> Result<Vec<Option<Stored>>, sqlx::Error> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self
                .conn
                .insert(within(PgConnection::connect(&self.url)).await?),
        };
        let result = within(commit(conn, claim, batch)).await;
        if let Err(e) = &result
            && !refused(e)
        {
            // The connection may be broken or left inside a failed transaction: start afresh.
            self.conn = None;
        }
        result
    }
}

/// The longest a connection or a batch may take: beyond it the database is as good as down
/// (every write of the batch fails, and the next batch starts on a new connection), rather
/// than leaving every ingest waiting on a socket that no longer answers.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn within<T>(
    work: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    tokio::time::timeout(WRITE_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("PostgreSQL did not answer within {WRITE_TIMEOUT:?}"),
            )))
        })
}

/// The batch failed for what one of its writes holds, rather than the database failing as a
/// whole, so its writes may succeed one by one: the database refused a write's data (SQLSTATE
/// class 22, a data exception such as a NUL in text; class 23, integrity), or it broke a
/// deadlock with another writer's batch (40P01; two batches that changed the same rows in
/// opposite orders, e.g. a client sending the same event ids to two nodes at once).
pub(super) fn refused(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Database(db)
            if db.code().is_some_and(|c| c.starts_with("22") || c.starts_with("23") || c == "40P01")
    )
}

async fn commit(
    conn: &mut PgConnection,
    claim: &Claim,
    batch: &[Write],
) -> Result<Vec<Option<Stored>>, sqlx::Error> {
    let now = now_ms();
    let mut results: Vec<Option<Stored>> = batch
        .iter()
        .map(|write| write.is_accept().then(Stored::placeholder))
        .collect();
    // Retries and operational events' deliveries are not announced to other nodes: the node
    // that scheduled them takes them itself (woken at once), and another node takes them only
    // when its lease runs out.
    if one_statement(batch) {
        // A statement is atomic on its own: BEGIN and COMMIT would be two more round trips.
        accept(conn, claim, batch, now, &mut results).await?;
        settle(conn, claim, batch, now).await?;
    } else {
        let mut tx = conn.begin().await?;
        accept(&mut tx, claim, batch, now, &mut results).await?;
        settle(&mut tx, claim, batch, now).await?;
        tx.commit().await?;
    }
    Ok(results)
}

/// Whether the batch writes with one statement: only accepted events (a read of duplicates'
/// counts may follow, after the write), or only settlements that change nothing but their
/// attempt and delivery.
fn one_statement(batch: &[Write]) -> bool {
    let mut accepts = false;
    let mut settles = false;
    for write in batch {
        match write {
            Write::Accept { .. } => accepts = true,
            Write::Settle { settlement, .. } => {
                if !settlement.alone() {
                    return false;
                }
                settles = true;
            }
        }
    }
    !(accepts && settles)
}

impl Stored {
    fn placeholder() -> Stored {
        Stored {
            duplicate: true,
            deliveries: 0,
            delivery_ids: Vec::new(),
        }
    }
}

/// Stores the batch's accepted events with their deliveries, and fills in their results.
async fn accept(
    conn: &mut PgConnection,
    claim: &Claim,
    batch: &[Write],
    now: i64,
    results: &mut [Option<Stored>],
) -> Result<(), sqlx::Error> {
    // An event id sent twice in one batch is stored by its first write; the later ones are
    // duplicates of it (in one statement, both would place deliveries).
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    let mut later: Vec<(usize, usize)> = Vec::new();
    let mut ids: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, write) in batch.iter().enumerate() {
        if let Write::Accept {
            tenant,
            event,
            targets,
            ..
        } = write
        {
            match first.get(&(tenant.as_str(), event.id.as_str())) {
                Some(&j) => later.push((i, j)),
                None => {
                    first.insert((tenant.as_str(), event.id.as_str()), i);
                    ids.push((i, delivery_ids(targets)));
                }
            }
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let acceptances: Vec<_> = ids
        .iter()
        .map(|(i, ids)| {
            let Write::Accept {
                tenant,
                event,
                targets,
                ..
            } = &batch[*i]
            else {
                unreachable!("only accepted events have delivery ids");
            };
            acceptance(tenant, event, targets, claim, now, ids)
        })
        .collect();
    let events = Columns::of(&EVENT_COLUMNS, acceptances.iter().map(|a| &a.event));
    let deliveries = Columns::of(
        &DELIVERY_COLUMNS,
        acceptances.iter().flat_map(|a| &a.deliveries),
    );
    let query = deliveries.bind(events.bind(sqlx::query(ACCEPT)));
    let new: HashSet<(String, String)> = query
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let key = |i: usize| match &batch[i] {
        Write::Accept { tenant, event, .. } => (tenant.clone(), event.id.clone()),
        Write::Settle { .. } => unreachable!("only accepted events have keys"),
    };
    let targets = |i: usize| match &batch[i] {
        Write::Accept { targets, .. } => targets.len() as i64,
        Write::Settle { .. } => 0,
    };
    let mut stored_before = Vec::new();
    for (i, ids) in ids {
        if new.contains(&key(i)) {
            results[i] = Some(Stored {
                duplicate: false,
                deliveries: targets(i),
                delivery_ids: ids,
            });
        } else {
            stored_before.push(i);
        }
    }
    for &(i, j) in &later {
        if new.contains(&key(j)) {
            results[i] = Some(Stored {
                duplicate: true,
                deliveries: targets(j),
                delivery_ids: Vec::new(),
            });
        } else {
            stored_before.push(i);
        }
    }
    if stored_before.is_empty() {
        return Ok(());
    }
    let (tenants, events): (Vec<String>, Vec<String>) =
        stored_before.iter().map(|&i| key(i)).unzip();
    let counts: HashMap<(String, String), i64> = sqlx::query(DUPLICATES)
        .bind(&tenants)
        .bind(&events)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| Ok(((row.try_get(0)?, row.try_get(1)?), row.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    for i in stored_before {
        let deliveries = counts.get(&key(i)).copied().ok_or_else(|| {
            sqlx::Error::Protocol("an event neither stored nor found as a duplicate".into())
        })?;
        results[i] = Some(Stored {
            duplicate: true,
            deliveries,
            delivery_ids: Vec::new(),
        });
    }
    Ok(())
}

/// Stores the batch's settlements.
async fn settle(
    conn: &mut PgConnection,
    claim: &Claim,
    batch: &[Write],
    now: i64,
) -> Result<(), sqlx::Error> {
    let settlements: Vec<_> = batch
        .iter()
        .filter_map(|write| match write {
            Write::Settle { settlement, .. } => Some(settlement),
            Write::Accept { .. } => None,
        })
        .collect();
    if settlements.is_empty() {
        return Ok(());
    }
    let attempt_ids: Vec<String> = settlements.iter().map(|_| new_id("att")).collect();
    let writes: Vec<Writes<'_>> = settlements
        .iter()
        .zip(&attempt_ids)
        .map(|(settlement, id)| settlement.writes(&claim.node, id, now))
        .collect();
    // Health first, in the batch's order, as each settlement would run it before its delivery.
    for health in writes.iter().filter_map(|w| w.health.as_ref()) {
        execute(conn, health).await?;
    }
    let attempts = Columns::of(
        &ATTEMPT_COLUMNS,
        writes.iter().filter_map(|w| w.attempt.as_ref()),
    );
    let deliveries = Columns::of(&SETTLE_COLUMNS, writes.iter().map(|w| &w.delivery));
    let query = deliveries.bind(attempts.bind(sqlx::query(SETTLE)));
    let settled: HashSet<String> = query
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, sqlx::Error>>()?;
    // Then what follows each delivery, in the batch's order. A stop for failing follows every
    // health change of the batch rather than only its own settlement's: a delivery that
    // succeeded in the same batch has cleared `failing_since` and keeps the subscription on.
    for (settlement, writes) in settlements.iter().zip(&writes) {
        run_follow(
            conn,
            &writes.follow,
            settled.contains(&settlement.delivery_id),
        )
        .await?;
    }
    Ok(())
}

/// [`Step::run_follow`] against the connection.
async fn run_follow(
    conn: &mut PgConnection,
    steps: &[Step<'_>],
    settled: bool,
) -> Result<(), sqlx::Error> {
    let mut changed = Vec::with_capacity(steps.len());
    for step in steps {
        let n = match step.guard.holds(settled, &changed) {
            true => execute(conn, &step.statement).await?,
            false => 0,
        };
        changed.push(n);
    }
    Ok(())
}

/// Runs one single-row statement.
async fn execute(conn: &mut PgConnection, statement: &Statement<'_>) -> Result<u64, sqlx::Error> {
    let mut query = sqlx::query(statement.sql);
    for param in &statement.params {
        query = match *param {
            Param::Int(v) => query.bind(v),
            Param::Text(v) => query.bind(v),
            Param::Blob(v) => query.bind(v),
        };
    }
    Ok(query.execute(conn).await?.rows_affected())
}

/// The type of a parameter, and of the array that binds it for many rows.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Blob,
}

/// The parameters of [`super::INSERT_EVENT`].
const EVENT_COLUMNS: [Kind; 7] = [Text, Text, Text, Text, Text, Int, Int];
/// The parameters of [`super::INSERT_DELIVERY`].
const DELIVERY_COLUMNS: [Kind; 7] = [Text, Text, Text, Text, Int, Int, Text];
/// The parameters of [`super::settle::INSERT_ATTEMPT`].
const ATTEMPT_COLUMNS: [Kind; 9] = [Text, Text, Int, Int, Int, Text, Text, Text, Text];
/// The parameters of [`super::settle::SETTLE_DELIVERY`].
const SETTLE_COLUMNS: [Kind; 9] = [Text, Int, Int, Int, Text, Text, Text, Blob, Text];

/// The parameters of many runs of one single-row statement, as one array per parameter.
struct Columns<'a>(Vec<Column<'a>>);

enum Column<'a> {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<&'a str>>),
    Blob(Vec<Option<&'a [u8]>>),
}

impl<'a> Columns<'a> {
    /// Transposes the parameters of statements that are all the same SQL, whose parameters
    /// are of the `kinds` given.
    fn of<'s>(kinds: &[Kind], statements: impl Iterator<Item = &'s Statement<'a>>) -> Columns<'a>
    where
        'a: 's,
    {
        let mut columns: Vec<Column<'a>> = kinds
            .iter()
            .map(|kind| match kind {
                Int => Column::Int(Vec::new()),
                Text => Column::Text(Vec::new()),
                Blob => Column::Blob(Vec::new()),
            })
            .collect();
        for statement in statements {
            debug_assert_eq!(statement.params.len(), kinds.len(), "{}", statement.sql);
            for (column, param) in columns.iter_mut().zip(&statement.params) {
                match (column, *param) {
                    (Column::Int(values), Param::Int(v)) => values.push(v),
                    (Column::Text(values), Param::Text(v)) => values.push(v),
                    (Column::Blob(values), Param::Blob(v)) => values.push(v),
                    _ => unreachable!(
                        "a parameter of another type than its column: {}",
                        statement.sql
                    ),
                }
            }
        }
        Columns(columns)
    }

    /// Binds the columns as the next parameters of `query`.
    fn bind(
        self,
        mut query: sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments> {
        for column in self.0 {
            query = match column {
                Column::Int(values) => query.bind(values),
                Column::Text(values) => query.bind(values),
                Column::Blob(values) => query.bind(values),
            };
        }
        query
    }
}
