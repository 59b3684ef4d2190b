//! The test plugins as components, for krog's tests only: a dev-dependency of `krog-runtime`,
//! `krog` and `krog-tests`, so that a production build does not build them.

#![deny(missing_docs)]

/// `test-plugins/hostile`, behaviour chosen by the config string.
pub const HOSTILE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hostile.wasm"));
/// `test-plugins/wrong-world`, a component of another world.
pub const WRONG_WORLD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wrong-world.wasm"));
