//! The plain types every layer shares, with no I/O: they say what things are, not where they
//! are kept or how they are sent.

pub mod caller;
pub mod delivery;
pub mod event;
pub mod module;
pub mod operational;
pub mod subscription;

pub use caller::Caller;
pub use delivery::{AttemptKind, DeliveryStatus, delivery_id_floor};
pub use event::{Event, EventType};
pub use module::ModuleRef;
pub use subscription::{DisabledReason, Transform};
