//! A delivery's status and the kinds of failed attempts, as enums that serialize to the
//! strings stored in the database and shown by the API.

pub use krog_rules::FailureKind;

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Succeeded,
    /// The plugin chose not to send it.
    Skipped,
    /// Given up: attempts exhausted, a failure that would repeat, cancelled, or nothing left
    /// to send to.
    Failed,
}

impl DeliveryStatus {
    /// Every status, in the order the API lists them.
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Succeeded,
        DeliveryStatus::Skipped,
        DeliveryStatus::Failed,
    ];

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Skipped => "skipped",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// The status with this name.
    pub fn parse(name: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt failed (its `kind`), or why a delivery ended without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptKind {
    /// The receiver answered with a status other than 2xx and 410.
    HttpStatus,
    /// The receiver did not answer within the delivery timeout.
    Timeout,
    /// No connection to the receiver.
    Connect,
    /// The request failed otherwise (TLS, a broken answer …).
    Request,
    /// The destination may not be sent to (a private address, a bad URL).
    Destination,
    /// The delivery could not be signed (no valid secret, a secret this node cannot read).
    Signing,
    /// The receiver answered 410 Gone: the subscription was stopped.
    Gone,
    /// Nothing to send to any more (the subscription was deleted or disabled).
    Abandoned,
    /// The event's payload was deleted (retention, erasure).
    PayloadDeleted,
    /// An erasure cancelled the delivery.
    Cancelled,
    /// The attempt's details could not be stored.
    Unrecorded,
    /// The plugin failed.
    Plugin(FailureKind),
}

impl AttemptKind {
    /// The stored and shown name (a plugin failure by its own kind: `plugin_error`, `trap` …).
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptKind::HttpStatus => "http_status",
            AttemptKind::Timeout => "timeout",
            AttemptKind::Connect => "connect",
            AttemptKind::Request => "request",
            AttemptKind::Destination => "destination",
            AttemptKind::Signing => "signing",
            AttemptKind::Gone => "gone",
            AttemptKind::Abandoned => "abandoned",
            AttemptKind::PayloadDeleted => "payload_deleted",
            AttemptKind::Cancelled => "cancelled",
            AttemptKind::Unrecorded => "unrecorded",
            AttemptKind::Plugin(kind) => kind.as_str(),
        }
    }
}

impl std::fmt::Display for AttemptKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The smallest delivery id created at or after `ms`: delivery ids are `dlv_` and a UUIDv7,
/// whose first 48 bits (12 hex digits) are the Unix milliseconds of its creation, so ids below
/// this one are exactly the deliveries created before `ms`. That lets retention and the
/// console walk the deliveries index by tenant and id instead of needing an index on age.
pub fn delivery_id_floor(ms: i64) -> String {
    format!("dlv_{:012x}{}", ms.max(0), "0".repeat(20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_name() {
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(DeliveryStatus::parse("done"), None);
    }
}
