//! Write [krog](https://github.com/) transforms in Rust: a booking event comes in, a webhook
//! request (or a skip) goes out, and the whole thing compiles to a `wasm32-wasip2` component
//! implementing the `krog:plugin/transformer` world (`plugin-sdk/wit/world.wit`).
//!
//! A plugin is a type implementing [`Plugin`]: a typed, documented `Config` (its JSON Schema is
//! generated with [`schemars`] and shown to users), and a plain function
//! [`Plugin::transform`] from an [`Event`] to an [`Outcome`]. [`export!`] turns it into the
//! component's exports when compiling to wasm; on the host target it expands to nothing, so the
//! transform is unit-tested with plain `cargo test` through [`run`] — the very code path the
//! wasm glue uses.
//!
//! # Example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! krog-sdk = "0.1"
//! serde = { version = "1", features = ["derive"] }
//! schemars = "1"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```
//! use krog_sdk::{Error, Event, EventType, Outcome, Plugin};
//! use serde::Deserialize;
//!
//! /// Sends a one-line text for new bookings, skips everything else.
//! pub struct Hello;
//!
//! /// Config of the `hello` plugin.
//! #[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
//! #[serde(default, deny_unknown_fields)]
//! pub struct HelloConfig {
//!     /// Greeting placed before the client's name (default `Hello`).
//!     pub greeting: Option<String>,
//! }
//!
//! impl Plugin for Hello {
//!     type Config = HelloConfig;
//!     const NAME: &str = "hello";
//!     const VERSION: &str = "0.1.0";
//!     const DESCRIPTION: &str = "Greets new clients in plain text.";
//!
//!     fn transform(event: &Event, config: HelloConfig) -> Result<Outcome, Error> {
//!         if event.event_type != EventType::BookingCreated {
//!             return Ok(Outcome::skip(format!("{} is not a new booking", event.event_type)));
//!         }
//!         krog_sdk::info!("greeting for booking {}", event.booking.id);
//!         let greeting = config.greeting.as_deref().unwrap_or("Hello");
//!         let text = format!("{greeting}, {}!", event.booking.client_name());
//!         Ok(Outcome::deliver("text/plain; charset=utf-8", text).with_header("x-source", "krog"))
//!     }
//! }
//!
//! // Exports `info` and `transform` when compiled to wasm32; nothing natively.
//! krog_sdk::export!(Hello);
//!
//! #[cfg(test)]
//! mod tests {
//!     use super::*;
//!     use krog_sdk::RawEvent;
//!
//!     fn event(event_type: &str) -> RawEvent {
//!         RawEvent {
//!             id: "evt_1".into(),
//!             event_type: event_type.into(),
//!             timestamp: "2026-11-27T09:30:12Z".into(),
//!             tenant: "t_test".into(),
//!             data: r#"{"id": "bk_1", "client": {"name": "Jens"}}"#.into(),
//!         }
//!     }
//!
//!     #[test]
//!     fn a_new_booking_is_greeted() {
//!         let out = krog_sdk::run::<Hello>(&event("booking.created"), r#"{"greeting": "Hej"}"#);
//!         assert_eq!(out.unwrap().body(), Some(&b"Hej, Jens!"[..]));
//!     }
//!
//!     #[test]
//!     fn other_events_are_skipped() {
//!         let out = krog_sdk::run::<Hello>(&event("booking.deleted"), "").unwrap();
//!         assert!(out.is_skip());
//!     }
//! }
//! # fn main() {
//! #     let raw = krog_sdk::RawEvent {
//! #         event_type: "booking.created".into(),
//! #         data: r#"{"id": "bk_1", "client": {"name": "Jens"}}"#.into(),
//! #         ..Default::default()
//! #     };
//! #     let out = krog_sdk::run::<Hello>(&raw, r#"{"greeting": "Hej"}"#).unwrap();
//! #     assert_eq!(out.body(), Some(&b"Hej, Jens!"[..]));
//! #     let err = krog_sdk::run::<Hello>(&raw, r#"{"greting": "Hej"}"#).unwrap_err();
//! #     assert!(err.contains("greting"), "{err}");
//! # }
//! ```
//!
//! Build the component with `cargo build --target wasm32-wasip2 --release`; the module is
//! `target/wasm32-wasip2/release/<crate>.wasm`.
//!
//! Instead of calling [`export!`], the `impl` block may be marked with the [`plugin`] attribute.
//!
//! # Rules of the sandbox
//!
//! A plugin gets no files, sockets, clock-dependent behaviour guarantees or environment, and must
//! not keep state between calls. Output headers may not include `webhook-*`, `host`,
//! `content-length`, `content-type` (it has its own field), `proxy-*` or hop-by-hop headers, nor
//! control characters ([`check_header`]); [`run`] refuses them already in native tests, with
//! the rules and the words krog uses (the `krog-rules` crate). Log with [`debug!`], [`info!`], [`warn!`] and [`error!`]: the lines end up on
//! the delivery's log (natively: on stderr).

#![deny(missing_docs)]
// The crate example shows a plugin together with its `#[cfg(test)]` module on purpose; its hidden
// `main` runs the same checks.
#![allow(clippy::test_attr_in_doctest)]

extern crate self as krog_sdk;

// Compiled natively for its unit tests only; installed where components run single-threaded.
#[cfg(any(
    test,
    all(
        target_arch = "wasm32",
        not(target_feature = "atomics"),
        feature = "allocator"
    )
))]
mod alloc;
mod booking;
mod error;
mod event;
mod outcome;

use std::fmt;

use serde::de::DeserializeOwned;

#[cfg(all(
    target_arch = "wasm32",
    not(target_feature = "atomics"),
    feature = "allocator"
))]
#[global_allocator]
static ALLOCATOR: alloc::SizeClasses = alloc::SizeClasses::new();

pub use booking::{Booking, Change, Client, Location, Price, Service, Status, Therapist};
pub use error::Error;
pub use event::{Event, EventType, RawEvent};
pub use krog_sdk_macros::plugin;
pub use outcome::{Outcome, check_header};

/// Re-exported for plugin authors: the JSON value type of [`Event::data`].
pub use serde_json::{Map, Value};

/// A krog plugin: a typed config and a transform from an event to an outcome.
///
/// See the [crate documentation](crate) for a complete example.
pub trait Plugin {
    /// The subscription's config. It is parsed from the subscription's JSON config; an empty
    /// config, `null` or `{}` means `Config::default()`. Its doc comments become the
    /// descriptions of the JSON Schema shown to users (see [`info()`]).
    type Config: DeserializeOwned + schemars::JsonSchema + Default;
    /// Short name, e.g. `slack`.
    const NAME: &str;
    /// Version, usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &str;
    /// One sentence on what the plugin does.
    const DESCRIPTION: &str;

    /// Turns one event into an outcome. An `Err` is a plugin error, recorded on the delivery.
    fn transform(event: &Event, config: Self::Config) -> Result<Outcome, Error>;
}

/// What a plugin says about itself (`krog:plugin/types.plugin-info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// [`Plugin::NAME`].
    pub name: String,
    /// [`Plugin::VERSION`].
    pub version: String,
    /// [`Plugin::DESCRIPTION`].
    pub description: String,
    /// JSON Schema (as JSON text) of [`Plugin::Config`].
    pub config_schema: String,
}

/// Describes plugin `P`: its name, version, description and the JSON Schema of its config,
/// generated by schemars. This is what the exported `info` function returns.
pub fn info<P: Plugin>() -> PluginInfo {
    let schema = schemars::schema_for!(P::Config);
    PluginInfo {
        name: P::NAME.to_string(),
        version: P::VERSION.to_string(),
        description: P::DESCRIPTION.to_string(),
        config_schema: serde_json::to_string(&schema).unwrap_or_else(|_| "{}".to_string()),
    }
}

/// Parses a subscription config: empty, `null` or `{}` gives `C::default()` (so `()` and other
/// configs without fields accept an empty object too); an invalid config is an
/// error naming the offending field, e.g. ``invalid config at `locale`: unknown variant `fr`,
/// expected `da` or `en` ``.
pub fn parse_config<C: DeserializeOwned + Default>(config_json: &str) -> Result<C, Error> {
    let text = config_json.trim();
    if text.is_empty() || text == "null" || is_empty_object(text) {
        return Ok(C::default());
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // Drop serde_json's "at line 1 column 7": the field path says more.
        let mut message = inner.to_string();
        if inner.line() > 0
            && let Some(pos) = message.rfind(" at line ")
        {
            message.truncate(pos);
        }
        if path == "." || path.is_empty() {
            Error::msg(format!("invalid config: {message}"))
        } else {
            Error::msg(format!("invalid config at `{path}`: {message}"))
        }
    })?;
    de.end()
        .map_err(|e| Error::msg(format!("invalid config: {e}")))?;
    Ok(config)
}

fn is_empty_object(text: &str) -> bool {
    text.strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .is_some_and(|inner| inner.trim().is_empty())
}

/// Runs plugin `P` on one raw event with the subscription's JSON config — exactly what the wasm
/// glue generated by [`export!`] does: parse the config ([`parse_config`]), parse the event
/// ([`Event::from_raw`]), call [`Plugin::transform`], check the outcome's headers
/// ([`check_header`]) and turn every error into its message.
pub fn run<P: Plugin>(event: &RawEvent, config_json: &str) -> Result<Outcome, String> {
    run_owned::<P>(event.clone(), config_json)
}

/// [`run`] on an event it may take apart (the wasm glue owns the event it was handed).
fn run_owned<P: Plugin>(event: RawEvent, config_json: &str) -> Result<Outcome, String> {
    let config = parse_config::<P::Config>(config_json)?;
    let event = Event::from_raw_owned(event).map_err(|e| format!("invalid event: {e}"))?;
    let outcome = P::transform(&event, config)?;
    outcome.check()?;
    Ok(outcome)
}

/// The level of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Details for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        })
    }
}

/// Writes a line to the delivery's log (bounded by the host). On the host target (native tests)
/// the line goes to stderr. Usually called through [`debug!`], [`info!`], [`warn!`], [`error!`].
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use __bindings::krog::plugin::types::LogLevel as Wit;
        let level = match level {
            LogLevel::Debug => Wit::Debug,
            LogLevel::Info => Wit::Info,
            LogLevel::Warn => Wit::Warn,
            LogLevel::Error => Wit::Error,
        };
        __bindings::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level}] {message}");
}

/// Logs a debug line, formatted like `println!`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log($crate::LogLevel::Debug, &::std::format!($($arg)*)) };
}

/// Logs an info line, formatted like `println!`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log($crate::LogLevel::Info, &::std::format!($($arg)*)) };
}

/// Logs a warning, formatted like `println!`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log($crate::LogLevel::Warn, &::std::format!($($arg)*)) };
}

/// Logs an error line, formatted like `println!`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log($crate::LogLevel::Error, &::std::format!($($arg)*)) };
}

/// Exports plugin type `$plugin` as the component's `info` and `transform` functions.
///
/// Only on `target_arch = "wasm32"`: natively it expands to nothing, so the same crate builds
/// for unit tests. Call it once per plugin crate, at the crate root or in any module.
///
/// ```
/// # use krog_sdk::{Error, Event, Outcome, Plugin};
/// pub struct Noop;
/// impl Plugin for Noop {
///     type Config = ();
///     const NAME: &str = "noop";
///     const VERSION: &str = "0.1.0";
///     const DESCRIPTION: &str = "Skips everything.";
///     fn transform(_: &Event, _: ()) -> Result<Outcome, Error> {
///         Ok(Outcome::skip("noop"))
///     }
/// }
/// krog_sdk::export!(Noop);
/// ```
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            struct KrogGuest;
            impl $crate::__bindings::Guest for KrogGuest {
                fn info() -> $crate::__bindings::krog::plugin::types::PluginInfo {
                    $crate::__glue::info::<$plugin>()
                }
                fn transform(
                    event: $crate::__bindings::krog::plugin::types::Event,
                    config: ::std::string::String,
                ) -> ::std::result::Result<
                    $crate::__bindings::krog::plugin::types::Outcome,
                    ::std::string::String,
                > {
                    $crate::__glue::transform::<$plugin>(event, config)
                }
            }
    $crate::__bindings::export_transformer!(KrogGuest with_types_in $crate::__bindings);
        };
    };
}

/// The wit-bindgen bindings of the `transformer` world (wasm32 only; used by [`export!`]).
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "transformer",
        pub_export_macro: true,
        export_macro_name: "export_transformer",
        default_bindings_module: "::krog_sdk::__bindings",
    });
}

/// Conversions between the SDK types and the generated WIT types (wasm32 only).
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __glue {
    use super::__bindings::krog::plugin::types as wit;
    use super::{Outcome, Plugin, RawEvent};

    /// The exported `info`.
    pub fn info<P: Plugin>() -> wit::PluginInfo {
        let info = super::info::<P>();
        wit::PluginInfo {
            name: info.name,
            version: info.version,
            description: info.description,
            config_schema: info.config_schema,
        }
    }

    /// The exported `transform`: [`super::run`] between WIT types.
    pub fn transform<P: Plugin>(event: wit::Event, config: String) -> Result<wit::Outcome, String> {
        let raw = RawEvent {
            id: event.id,
            event_type: event.event_type,
            timestamp: event.timestamp,
            tenant: event.tenant,
            data: event.data,
        };
        Ok(match super::run_owned::<P>(raw, &config)? {
            Outcome::Skip(reason) => wit::Outcome::Skip(reason),
            Outcome::Deliver {
                content_type,
                headers,
                body,
            } => wit::Outcome::Deliver(wit::Request {
                content_type,
                headers,
                body,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A test config.
    #[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    struct Cfg {
        /// The language.
        locale: Lang,
        /// Nested.
        inner: Inner,
    }

    #[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Lang {
        #[default]
        Da,
        En,
    }

    #[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
    struct Inner {
        #[serde(default)]
        count: u32,
    }

    struct Echo;
    impl Plugin for Echo {
        type Config = Cfg;
        const NAME: &str = "echo";
        const VERSION: &str = "1.2.3";
        const DESCRIPTION: &str = "Echoes the event type.";
        fn transform(event: &Event, config: Cfg) -> Result<Outcome, Error> {
            crate::info!(
                "echo {} {:?} {}",
                event.id,
                config.locale,
                config.inner.count
            );
            if event.booking.id == "bk_bad" {
                return Err(Error::msg("bad booking"));
            }
            if event.booking.id == "bk_header" {
                return Ok(Outcome::deliver("text/plain", "x").with_header("Host", "evil"));
            }
            Ok(Outcome::deliver("text/plain", event.event_type.as_str()))
        }
    }

    fn raw(data: &str) -> RawEvent {
        RawEvent {
            id: "evt_1".into(),
            event_type: "booking.updated".into(),
            timestamp: "2026-11-27T09:30:12Z".into(),
            tenant: "t_test".into(),
            data: data.into(),
        }
    }

    #[test]
    fn an_empty_or_null_config_means_the_default() {
        for config in ["", "  ", "null", "{}"] {
            let out = run::<Echo>(&raw("{}"), config).unwrap();
            assert_eq!(out.body(), Some(&b"booking.updated"[..]), "{config:?}");
        }
    }

    #[test]
    fn an_invalid_config_names_the_field() {
        let err = run::<Echo>(&raw("{}"), r#"{"locale": "fr"}"#).unwrap_err();
        assert!(err.starts_with("invalid config at `locale`"), "{err}");
        let err = run::<Echo>(&raw("{}"), r#"{"inner": {"count": -1}}"#).unwrap_err();
        assert!(err.contains("`inner.count`"), "{err}");
        let err = run::<Echo>(&raw("{}"), r#"{"locle": "da"}"#).unwrap_err();
        assert!(err.contains("locle"), "{err}");
        let err = run::<Echo>(&raw("{}"), r#""da""#).unwrap_err();
        assert!(err.starts_with("invalid config:"), "{err}");
        let err = run::<Echo>(&raw("{}"), "{} x").unwrap_err();
        assert!(err.starts_with("invalid config:"), "{err}");
    }

    #[test]
    fn plugin_errors_and_bad_events_become_strings() {
        assert_eq!(
            run::<Echo>(&raw(r#"{"id":"bk_bad"}"#), "").unwrap_err(),
            "bad booking"
        );
        let err = run::<Echo>(&raw("nope"), "").unwrap_err();
        assert!(err.starts_with("invalid event:"), "{err}");
        let err = run::<Echo>(&raw("42"), "").unwrap_err();
        assert!(err.contains("JSON object"), "{err}");
    }

    #[test]
    fn reserved_headers_fail_in_run() {
        let err = run::<Echo>(&raw(r#"{"id":"bk_header"}"#), "").unwrap_err();
        assert!(err.contains("`Host`"), "{err}");
    }

    #[test]
    fn info_carries_the_config_schema_with_descriptions() {
        let info = info::<Echo>();
        assert_eq!(info.name, "echo");
        assert_eq!(info.version, "1.2.3");
        let schema: Value = serde_json::from_str(&info.config_schema).unwrap();
        assert_eq!(
            schema["properties"]["locale"]["description"],
            "The language."
        );
    }

    #[test]
    fn logging_macros_work_natively() {
        crate::debug!("d {}", 1);
        crate::info!("i");
        crate::warn!("w {x}", x = 2);
        crate::error!("e");
    }
}
