//! Deliveries an erasure cancelled while their work may still wait in this node's queue.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Deliveries an erasure cancelled whose work may still wait in this node's queue with the
/// event in memory (fresh deliveries are not read back before their attempt): a worker drops
/// them instead of sending. Checked per fresh delivery, so the common case — nothing
/// cancelled — is one atomic load.
#[derive(Default)]
pub struct Cancelled {
    any: AtomicBool,
    ids: Mutex<HashMap<String, Instant>>,
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
}
