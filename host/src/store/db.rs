//! The database handle: one pool over SQLite or PostgreSQL through sqlx's `Any` driver, the
//! embedded migrations of each dialect, and the few places where the dialects differ
//! (transactions that write, claiming work). Everything else uses SQL both engines run.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

/// Which SQL engine is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded, one process.
    Sqlite,
    /// Shared by several krog processes.
    Postgres,
}

/// A cheap, cloneable database handle.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Whether the database answers a trivial query (readiness).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Connects (creating a SQLite file when missing) and applies the migrations; on
    /// PostgreSQL the pool holds up to `postgres_pool` connections.
    pub async fn connect(
        url: &str,
        sqlite_synchronous: &str,
        postgres_pool: u32,
    ) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("KROG_DATABASE_URL must start with sqlite: or postgres:, got {url:?}");
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = match backend {
            Backend::Sqlite => {
                let synchronous = match sqlite_synchronous.to_ascii_uppercase().as_str() {
                    s @ ("OFF" | "NORMAL" | "FULL" | "EXTRA") => s.to_owned(),
                    other => anyhow::bail!("unknown SQLite synchronous mode {other:?}"),
                };
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(move |conn, _| {
                        // secure_delete: deleted or overwritten content (retention, erasure) is
                        // zeroed in the file rather than left in free pages.
                        let pragmas = format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                             PRAGMA secure_delete = ON;"
                        );
                        Box::pin(async move {
                            conn.execute(pragmas.as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(postgres_pool)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        Ok(Db { pool, backend })
    }

    /// The pool, for single statements.
    pub(super) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The engine behind the pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so that two writers queue on the busy timeout instead of one
    /// failing with "database is locked" when it upgrades a read lock.
    pub(super) async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// The installation's 32-byte key named `name`: made at random by whichever node asks
    /// first, the same for every node after.
    pub async fn installation_key(&self, name: &str) -> super::Result<[u8; 32]> {
        use rand::RngCore;
        let mut fresh = [0u8; 32];
        rand::rng().fill_bytes(&mut fresh);
        sqlx::query(
            "INSERT INTO installation_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(hex::encode(fresh))
        .execute(&self.pool)
        .await?;
        let (value,): (String,) =
            sqlx::query_as("SELECT value FROM installation_settings WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(value.trim(), &mut key)
            .map_err(|e| super::Error::Corrupt(format!("installation key {name}: {e}")))?;
        Ok(key)
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Now, in Unix milliseconds: how every time is stored.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Unix milliseconds as RFC 3339 (UTC, millisecond precision), as the API shows times.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new time-ordered id with a type prefix (`evt_…`, `sub_…`), so that ids sort by creation
/// and cursor pagination can compare them as strings.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Text as both engines can store it: PostgreSQL refuses a NUL character in TEXT (and the
/// whole transaction with it), so NULs — which a receiver's answer, a plugin's message or an
/// error may carry — become U+FFFD. Everything else passes unchanged.
pub fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, saying how much was cut: every
/// string a tenant's plugin or receiver controls is bounded before it is stored.
pub fn bounded(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let cut = text.len();
    let mut end = max.saturating_sub(32);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&format!("… ({} bytes cut)", cut - end));
    text
}

/// Refuses text a person typed (a name, a description) that holds control characters other
/// than tab and newline; `what` names the field in the message.
pub fn check_plain_text(what: &str, text: &str) -> Result<(), String> {
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(format!(
            "{what} must not contain control characters (such as NUL); remove them and send it again"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn a_nul_becomes_a_replacement_character_and_nothing_else_changes() {
        assert_eq!(storable("a\0b".into()), "a\u{FFFD}b");
        assert_eq!(storable("æøå\n".into()), "æøå\n");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_says_so() {
        let cut = bounded("ø".repeat(10_000), 1000);
        assert!(cut.len() <= 1000, "{}", cut.len());
        assert!(cut.ends_with("bytes cut)"), "{cut}");
        assert_eq!(bounded("short".into(), 1000), "short");
    }

    #[test]
    fn typed_text_with_control_characters_is_refused() {
        assert!(check_plain_text("name", "Klinik\0").is_err());
        assert!(check_plain_text("name", "Klinik\u{1b}[31m").is_err());
        assert!(check_plain_text("name", "Klinik\nNørrebro").is_ok());
    }
}
