//! Bounds kept in memory, per tenant or per key: how many of a tenant's plugin calls or dry
//! runs may run at once ([`TenantSlots`]), and how fast one API key may call
//! ([`RateLimiter`]). They keep one tenant from taking what the others need; the durable
//! bounds (subscriptions, modules, secrets) are counted in the database where they are stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A number of slots per tenant, each tenant's own.
pub struct TenantSlots {
    per_tenant: usize,
    slots: Mutex<HashMap<Arc<str>, Arc<Semaphore>>>,
}

impl TenantSlots {
    /// `per_tenant` slots for every tenant.
    pub fn new(per_tenant: usize) -> TenantSlots {
        TenantSlots {
            per_tenant: per_tenant.max(1),
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn of(&self, tenant: &str) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(semaphore) = slots.get(tenant) {
            return semaphore.clone();
        }
        let semaphore = Arc::new(Semaphore::new(self.per_tenant));
        slots.insert(tenant.into(), semaphore.clone());
        semaphore
    }

    /// Waits for one of `tenant`'s slots.
    pub async fn acquire(&self, tenant: &str) -> OwnedSemaphorePermit {
        self.of(tenant)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// One of `tenant`'s slots if one is free now.
    pub fn try_acquire(&self, tenant: &str) -> Option<OwnedSemaphorePermit> {
        self.of(tenant).try_acquire_owned().ok()
    }
}

/// A token bucket per key: `rate` requests a second, bursts of up to twice that.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets kept before idle ones (full again) are dropped.
const MAX_BUCKETS: usize = 10_000;

impl RateLimiter {
    /// `rate` requests per second per key; 0 means no limit.
    pub fn new(rate: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate),
            burst: 2.0 * f64::from(rate),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key` (any stable name for the caller, such as its key's hash), or
    /// says how long until one is there.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        // A known key costs no allocation: this runs on every request.
        if !buckets.contains_key(key) {
            buckets.insert(
                key.to_owned(),
                Bucket {
                    tokens: self.burst,
                    at: now,
                },
            );
        }
        let bucket = buckets.get_mut(key).expect("inserted above");
        let refilled = now.duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refilled).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_for_its_rate() {
        let limiter = RateLimiter::new(10);
        for _ in 0..20 {
            limiter.check("a").unwrap();
        }
        let wait = limiter.check("a").unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        // Another key has its own bucket.
        limiter.check("b").unwrap();
    }

    #[test]
    fn a_rate_of_zero_never_limits() {
        let limiter = RateLimiter::new(0);
        for _ in 0..10_000 {
            limiter.check("a").unwrap();
        }
    }

    #[test]
    fn one_tenants_slots_are_its_own() {
        let slots = TenantSlots::new(1);
        let held = slots.try_acquire("a").unwrap();
        assert!(slots.try_acquire("a").is_none());
        assert!(slots.try_acquire("b").is_some());
        drop(held);
        assert!(slots.try_acquire("a").is_some());
    }
}
