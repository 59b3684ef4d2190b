//! Every SQL statement krog runs, for both engines (SQLite and PostgreSQL through sqlx's `Any`
//! driver), one module per table family, plus the group-commit [`writer`] of the hot path.
//! It imports [`crate::model`] and nothing above it: callers get plain types and [`Error`].

pub mod console;
mod db;
pub mod deliveries;
pub mod directory;
pub mod export;
pub mod keys;
pub mod modules;
pub mod privacy;
pub mod queue;
pub mod retention;
pub mod secrets;
pub mod subscriptions;
pub mod tenants;
pub mod writer;

pub use db::{Backend, Db, bounded, check_plain_text, new_id, now_ms, rfc3339, storable};

/// What a storage call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed or refused the statement.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A stored value is not what krog wrote (a row edited by hand, a newer schema).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// The group-commit writer could not store a write (its message says why).
    #[error("{0}")]
    Write(String),
}

/// The result of a storage call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A PostgreSQL connection that listens on notification channels.
pub struct Listener(sqlx::postgres::PgListener);

impl Listener {
    /// Connects to `url` and listens on `channels`.
    pub async fn connect(url: &str, channels: &[&str]) -> Result<Listener> {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(Listener(listener))
    }

    /// The channel and payload of the next notification; an error once the connection is lost
    /// (what was sent meanwhile is lost with it, so the caller must know).
    pub async fn recv(&mut self) -> Result<(String, String)> {
        match self.0.try_recv().await? {
            Some(notification) => Ok((
                notification.channel().to_owned(),
                notification.payload().to_owned(),
            )),
            None => Err(Error::Database(sqlx::Error::Protocol(
                "the listening connection was lost".into(),
            ))),
        }
    }
}
