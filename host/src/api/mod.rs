//! The HTTP API: one module per noun of the domain, each with its `router()` (merged in
//! [`crate::startup::routes`]), and what they share: the error answer ([`error`]), extractors
//! whose rejections are that answer ([`extract`]), the caller ([`auth`]), pages
//! ([`pagination`]) and the OpenAPI document's shared parts ([`openapi`]).
//!
//! Handlers are thin: parse, authorize, call [`crate::store`], [`crate::worker`] or
//! [`crate::directory`], shape the answer.

pub mod auth;
pub mod console_links;
pub mod deliveries;
pub mod error;
pub mod events;
pub mod extract;
pub mod keys;
pub mod modules;
pub mod openapi;
pub mod pagination;
pub mod privacy;
pub mod subscriptions;
pub mod tenants;
pub mod trial;
