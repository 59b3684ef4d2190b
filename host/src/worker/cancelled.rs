//! Deliveries an erasure cancelled while their work may still wait in this node's queue.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Deliveries an erasure cancelled whose work may still wait in this node's queue with the
/// event in memory (such work is not read back before its attempt): a worker drops them
/// instead of sending. Checked per delivery, so the common case — nothing cancelled — is one
/// atomic load.
///
/// On PostgreSQL an erasure on another node is heard through a listening connection, and what
/// is said while it is down is lost. So work records the connection it was taken under
/// ([`Cancelled::hearing`]); work taken while deaf, or under a connection that has since been
/// lost, is read back before it is sent instead.
#[derive(Default)]
pub struct Cancelled {
    any: AtomicBool,
    ids: Mutex<HashMap<String, Instant>>,
    /// The listening connection now up (counted from 1); 0 while none is.
    hearing: AtomicU64,
    connections: AtomicU64,
}

/// How long a cancelled id is remembered: work waits in the queue far less than this; an id
/// whose work was already in flight is never asked about, and is forgotten after it.
const CANCELLED_KEEP: Duration = Duration::from_secs(600);

impl Cancelled {
    /// True (once) when the delivery `id` was cancelled.
    pub fn take(&self, id: &str) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        let hit = ids.remove(id).is_some();
        self.any.store(!ids.is_empty(), Ordering::Release);
        hit
    }

    /// Every cancellation is heard from now on, through a new connection (or because this node
    /// is the only one).
    pub fn hear(&self) {
        let connection = self.connections.fetch_add(1, Ordering::AcqRel) + 1;
        self.hearing.store(connection, Ordering::Release);
    }

    /// Cancellations made elsewhere are no longer heard (the listening connection is lost).
    pub fn deaf(&self) {
        self.hearing.store(0, Ordering::Release);
    }

    /// The connection every cancellation is heard through now; 0 when none is.
    pub fn hearing(&self) -> u64 {
        self.hearing.load(Ordering::Acquire)
    }

    /// Whether every cancellation made since work was taken under connection `heard` has been
    /// heard.
    pub fn heard_since(&self, heard: u64) -> bool {
        heard != 0 && heard == self.hearing()
    }

    /// Remembers the delivery ids an erasure cancelled.
    pub fn add(&self, new: impl IntoIterator<Item = String>) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.retain(|_, at| at.elapsed() < CANCELLED_KEEP);
        let now = Instant::now();
        ids.extend(new.into_iter().map(|id| (id, now)));
        self.any.store(!ids.is_empty(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_ids_are_taken_once() {
        let cancelled = Cancelled::default();
        assert!(!cancelled.take("dlv_1"));
        cancelled.add(["dlv_1".to_owned()]);
        assert!(cancelled.take("dlv_1"));
        assert!(!cancelled.take("dlv_1"));
    }

    #[test]
    fn work_taken_while_deaf_or_under_a_lost_connection_has_not_heard_everything() {
        let cancelled = Cancelled::default();
        let deaf = cancelled.hearing();
        cancelled.hear();
        let first = cancelled.hearing();
        assert!(!cancelled.heard_since(deaf));
        assert!(cancelled.heard_since(first));
        cancelled.deaf();
        assert!(!cancelled.heard_since(first));
        cancelled.hear();
        assert!(
            !cancelled.heard_since(first),
            "a connection was lost in between"
        );
        assert!(cancelled.heard_since(cancelled.hearing()));
    }
}
