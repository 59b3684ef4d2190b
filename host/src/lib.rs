//! krog: booking events from a booking system, delivered to the URLs its customers choose,
//! in real time, signed per Standard Webhooks, and optionally reshaped first by a sandboxed
//! WebAssembly plugin per subscription.
//!
//! Start with [`Application::build`]; the HTTP API is one router per noun of the domain
//! ([`tenants`], [`events`], [`subscriptions`], [`deliveries`], [`modules`]) merged in
//! [`startup::router`]. The [`queue`] feeds delivery [`deliveries::attempt`]s to workers; the
//! [`runtime`] runs plugins; [`signing`] signs.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod deliveries;
pub mod destinations;
pub mod directory;
pub mod dry_run;
pub mod error;
pub mod events;
pub mod extract;
pub mod files;
pub mod keys;
pub mod limits;
pub mod modules;
pub mod openapi;
pub mod pagination;
pub mod plugin_config;
pub mod privacy;
pub mod queue;
pub mod retention;
pub mod schema;
pub mod secrets;
pub mod server;
pub mod signing;
pub mod startup;
pub mod state;
pub mod subscriptions;
pub mod telemetry;
pub mod tenants;
pub mod trial;
pub mod writer;

/// The WebAssembly sandbox (the `krog-runtime` crate).
pub use krog_runtime as runtime;

pub use config::Config;
pub use startup::Application;
