//! The SQLite side of the writer: the writer thread's own connection. sqlx runs every SQLite
//! statement on a connection thread of its own and wakes the caller for each result, which
//! costs two thread switches per statement; a group commit of 64 writes is ~130 statements,
//! so here the whole transaction runs as plain calls on the thread that owns the connection.

use rusqlite::{Connection, TransactionBehavior};

use super::{Claim, Param, Statement, Stored, Write, acceptance, delivery_ids};
use crate::db::{new_id, now_ms};

/// Opens the writer's connection to the database `url` (already migrated by the pool).
pub(super) fn open(url: &str, synchronous: &str) -> anyhow::Result<Connection> {
    let rest = url
        .strip_prefix("sqlite:")
        .ok_or_else(|| anyhow::anyhow!("not a SQLite URL: {url:?}"))?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    anyhow::ensure!(
        !path.is_empty() && !path.contains(":memory:"),
        "krog needs a SQLite file (several connections share it), not {url:?}"
    );
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;"
    ))?;
    Ok(conn)
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
                for statement in settlement.statements(&claim.node, &id, now) {
                    execute(&tx, &statement)?;
                }
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
