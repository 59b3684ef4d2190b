//! The SQLite side of the writer: the writer thread's own connection. sqlx runs every SQLite
//! statement on a connection thread of its own and wakes the caller for each result, which
//! costs two thread switches per statement; a group commit of 64 writes is ~130 statements,
//! so here the whole transaction runs as plain calls on the thread that owns the connection.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::{Claim, Param, Statement, Stored, Write, acceptance, delivery_ids};
use crate::store::{new_id, now_ms};

/// WAL pages after which the writer checkpoints by itself, when the checkpointer thread has
/// fallen behind. Below this the writer never checkpoints.
const WAL_BACKSTOP_PAGES: u32 = 4000;

/// The pause between two background checkpoints while commits keep coming.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Opens the writer's connection to the database `url` (already migrated by the pool).
/// `secure_delete` as on the pool: a settlement that overwrites a stored body must not leave
/// the old one in a free page.
pub(super) fn open(url: &str, synchronous: &str) -> anyhow::Result<Connection> {
    let conn = Connection::open(path(url)?)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}; PRAGMA secure_delete = ON;"
    ))?;
    Ok(conn)
}

fn path(url: &str) -> anyhow::Result<&str> {
    let rest = url
        .strip_prefix("sqlite:")
        .ok_or_else(|| anyhow::anyhow!("not a SQLite URL: {url:?}"))?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    anyhow::ensure!(
        !path.is_empty() && !path.contains(":memory:"),
        "krog needs a SQLite file (several connections share it), not {url:?}"
    );
    Ok(path)
}

/// Starts the checkpointer: a thread with its own connection that copies committed WAL pages
/// into the database file. Left to the writer's connection (SQLite's default), a checkpoint
/// runs inside the commit that crosses the threshold, and the writer holds every waiting
/// ingest and settlement while it copies pages and fsyncs the database file. A passive
/// checkpoint on another connection runs beside the writer's transactions instead. The writer
/// pokes `commits` after each commit; the thread stops when the writer does.
pub(super) fn spawn_checkpointer(
    url: &str,
    commits: flume::Receiver<()>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let conn = Connection::open(path(url)?)?;
    conn.execute_batch("PRAGMA busy_timeout = 10000;")?;
    Ok(std::thread::Builder::new()
        .name("krog-checkpoint".into())
        .spawn(move || {
            while commits.recv().is_ok() {
                let started = std::time::Instant::now();
                let checkpoint = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                });
                match checkpoint {
                    Ok((wal, copied)) => {
                        metrics::histogram!("krog_checkpoint_seconds")
                            .record(started.elapsed().as_secs_f64());
                        metrics::gauge!("krog_wal_pages").set(wal as f64);
                        tracing::trace!(wal, copied, "checkpoint");
                    }
                    Err(e) => tracing::warn!(error = %e, "background checkpoint failed"),
                }
                std::thread::sleep(CHECKPOINT_EVERY);
            }
        })?)
}

/// Commits one batch in one transaction.
pub(super) fn commit(
    conn: &mut Connection,
    claim: &Claim,
    batch: &[Write],
) -> rusqlite::Result<Vec<Option<Stored>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = now_ms();
    let mut results = Vec::with_capacity(batch.len());
    for write in batch {
        match write {
            Write::Accept {
                tenant,
                event,
                targets,
                ..
            } => {
                let ids = delivery_ids(targets);
                let acceptance = acceptance(tenant, event, targets, claim, now, &ids);
                if execute(&tx, &acceptance.event)? == 0 {
                    let deliveries = tx
                        .prepare_cached(acceptance.duplicate_count.sql)?
                        .query_row(
                            rusqlite::params_from_iter(
                                acceptance.duplicate_count.params.iter().map(value),
                            ),
                            |row| row.get(0),
                        )?;
                    results.push(Some(Stored {
                        duplicate: true,
                        deliveries,
                        delivery_ids: Vec::new(),
                    }));
                    continue;
                }
                for statement in &acceptance.deliveries {
                    execute(&tx, statement)?;
                }
                results.push(Some(Stored {
                    duplicate: false,
                    deliveries: targets.len() as i64,
                    delivery_ids: ids,
                }));
            }
            Write::Settle { settlement, .. } => {
                let id = new_id("att");
                let writes = settlement.writes(&claim.node, &id, now);
                writes.run_all(|statement| execute(&tx, statement))?;
                results.push(None);
            }
        }
    }
    tx.commit()?;
    Ok(results)
}

fn value<'a>(param: &'a Param<'a>) -> rusqlite::types::ToSqlOutput<'a> {
    use rusqlite::types::{ToSqlOutput, Value, ValueRef};
    match *param {
        Param::Int(Some(v)) => ToSqlOutput::Owned(Value::Integer(v)),
        Param::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
        Param::Blob(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        Param::Int(None) | Param::Text(None) | Param::Blob(None) => ToSqlOutput::Owned(Value::Null),
    }
}

fn execute(conn: &Connection, statement: &Statement<'_>) -> rusqlite::Result<u64> {
    let mut prepared = conn.prepare_cached(statement.sql)?;
    let changed = prepared.execute(rusqlite::params_from_iter(
        statement.params.iter().map(value),
    ))?;
    Ok(changed as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpointer_copies_committed_pages_into_the_database_file() {
        let dir = std::env::temp_dir().join(format!("krog-ckpt-{}", new_id("t")));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("k.db").display());
        let conn = open(&url, "NORMAL").unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let (poke, commits) = flume::bounded(1);
        let checkpointer = spawn_checkpointer(&url, commits).unwrap();

        for _ in 0..50 {
            conn.execute("INSERT INTO t VALUES (zeroblob(8000))", [])
                .unwrap();
        }
        // The writer alone would not have checkpointed: far below its backstop.
        let pending = |conn: &Connection| {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
            })
            .unwrap()
        };
        let reader = Connection::open(path(&url).unwrap()).unwrap();
        let before = std::fs::metadata(dir.join("k.db")).unwrap().len();
        poke.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // The checkpoint copies pages while this thread looks, so wait for all of them rather
        // than for the first sign of growth.
        while std::fs::metadata(dir.join("k.db")).unwrap().len() <= before.max(50 * 8000) {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file never grew: nothing was checkpointed"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let (wal, copied) = pending(&reader);
        assert_eq!(wal, copied, "every WAL frame is in the database file");

        drop(poke);
        checkpointer.join().unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
}
