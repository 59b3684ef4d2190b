//! The black-box suite against PostgreSQL, compiled when `KROG_TEST_DATABASE_URL` is set
//! (see `build.rs`); each test gets a fresh database.
#![cfg(krog_postgres)]

#[allow(dead_code)]
mod common;

/// The database engine of this run of the suite.
const BACKEND: common::Backend = common::Backend::Postgres;

#[path = "suite/console.rs"]
mod console;
#[path = "suite/delivery.rs"]
mod delivery;
#[path = "suite/envelopes.rs"]
mod envelopes;
#[path = "suite/health.rs"]
mod health;
#[path = "suite/keys.rs"]
mod keys;
#[path = "suite/modules.rs"]
mod modules;
#[path = "suite/newcomer.rs"]
mod newcomer;
#[path = "suite/personal_data.rs"]
mod personal_data;
#[path = "suite/robust.rs"]
mod robust;
#[path = "suite/secrets.rs"]
mod secrets;
