//! krog: booking events from a booking system, delivered to the URLs its customers choose,
//! in real time, signed per Standard Webhooks, and optionally reshaped first by a sandboxed
//! WebAssembly plugin per subscription.
//!
//! Start with [`Application::build`]. The crate is in layers, and imports point down only
//! (`tests/layers.rs` fails the build when one points up):
//!
//! - [`console`]: the web pages for clinic staff under `/console/`, which call the API's
//!   operations (the same checks and rules) and render HTML, in Danish and English.
//! - [`api`]: the HTTP API, one module per noun with its `router()`; handlers parse,
//!   authorize, call the layers below and shape the answer.
//! - [`worker`]: the delivery pipeline — ingest, the claim queue and dispatcher, one attempt
//!   as named stages — and the background sweeps.
//! - [`directory`]: the hot path's memory of keys, tenants and subscriptions.
//! - [`store`]: every SQL statement, for both engines, and the group-commit writer.
//! - [`model`]: the plain types every layer shares, with no I/O.
//!
//! Beside them, focused modules any layer above `model` may use: [`config`], [`signing`],
//! [`destinations`] (the SSRF guard), [`secrets`] (the master key), [`limits`], [`schema`]
//! and [`plugin_config`] (tenants' config schemas), [`dry_run`], [`files`], [`telemetry`]. At the top:
//! [`state`], [`startup`], [`server`] and [`cli`]. The sandbox is the [`runtime`] crate.

pub mod api;
pub mod cli;
pub mod config;
pub mod console;
pub mod destinations;
pub mod directory;
pub mod dry_run;
pub mod files;
pub mod limits;
pub mod model;
pub mod plugin_config;
pub mod schema;
pub mod secrets;
pub mod server;
pub mod signing;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod worker;

/// The WebAssembly sandbox (the `krog-runtime` crate).
pub use krog_runtime as runtime;

pub use config::Config;
pub use startup::Application;
