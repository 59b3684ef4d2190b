//! What operators see of each attempt: a count by outcome and error kind, its duration, and a
//! WARN line for each failure — at most one per subscription per [`WARN_EVERY`], the failures in
//! between counted into the next line, so that one failing endpoint cannot flood the log.
//!
//! A line carries ids, the error kind, the HTTP status and what happens next; never the error
//! text or the receiver's answer, which may quote the booking (a plugin's message, an echoing
//! endpoint).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How an attempt ended, as the metrics and the log name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint took it.
    Succeeded,
    /// It failed and another attempt is scheduled.
    Retrying,
    /// It failed for good (retries exhausted, or it would fail the same way again).
    Failed,
    /// The transform said skip; nothing was sent.
    Skipped,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retrying => "retrying",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One attempt, as reported.
pub struct Attempted<'a> {
    pub tenant: &'a str,
    pub subscription: &'a str,
    pub delivery: &'a str,
    /// 1 for the first attempt.
    pub attempt: i64,
    pub outcome: Outcome,
    /// The error kind (`http_status`, `timeout`, a plugin failure kind …) of a failure.
    pub kind: Option<crate::model::AttemptKind>,
    pub status_code: Option<i64>,
    /// Until the next attempt, when there is one.
    pub retry_in: Option<Duration>,
    pub duration: Duration,
}

/// The shortest time between two WARN lines about one subscription.
pub const WARN_EVERY: Duration = Duration::from_secs(30);

/// Counts the attempt and, for a failure, logs it (rate-limited per subscription).
pub fn attempt(report: &Attempted<'_>) {
    let kind = report
        .kind
        .map_or("none", crate::model::AttemptKind::as_str);
    metrics::counter!(
        "krog_delivery_attempts_total",
        "outcome" => report.outcome.as_str(),
        "kind" => kind
    )
    .increment(1);
    metrics::histogram!("krog_delivery_attempt_seconds").record(report.duration.as_secs_f64());
    if !matches!(report.outcome, Outcome::Retrying | Outcome::Failed) {
        return;
    }
    let Some(suppressed) = WARNINGS.admit(report.subscription, Instant::now()) else {
        return;
    };
    match report.retry_in {
        Some(delay) => tracing::warn!(
            tenant = %report.tenant,
            subscription = %report.subscription,
            delivery = %report.delivery,
            attempt = report.attempt,
            kind,
            status_code = report.status_code,
            retry_in_s = delay.as_secs(),
            suppressed_since_last = suppressed,
            "delivery attempt failed; it will be retried (the delivery log has the error)"
        ),
        None => tracing::warn!(
            tenant = %report.tenant,
            subscription = %report.subscription,
            delivery = %report.delivery,
            attempt = report.attempt,
            kind,
            status_code = report.status_code,
            suppressed_since_last = suppressed,
            "delivery failed for good (the delivery log has the error; POST \
             /v1/tenants/{{t}}/deliveries/{{id}}/retry sends it again)"
        ),
    }
}

static WARNINGS: LazyLock<WarnLimiter> = LazyLock::new(|| WarnLimiter::new(WARN_EVERY));

/// The subscriptions remembered at most; past it, those quiet for a window are forgotten.
const MAX_REMEMBERED: usize = 10_000;

/// At most one line per key per window; the lines held back are counted.
pub struct WarnLimiter {
    every: Duration,
    keys: Mutex<HashMap<String, Window>>,
}

struct Window {
    last: Instant,
    suppressed: u64,
}

impl WarnLimiter {
    /// A limiter allowing one line per key per `every`.
    pub fn new(every: Duration) -> WarnLimiter {
        WarnLimiter {
            every,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(lines held back since the last one)` when a line about `key` may be written at
    /// `now`; `None` when it is held back (and counted).
    pub fn admit(&self, key: &str, now: Instant) -> Option<u64> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(window) = keys.get_mut(key) {
            if now.saturating_duration_since(window.last) < self.every {
                window.suppressed += 1;
                return None;
            }
            let suppressed = std::mem::take(&mut window.suppressed);
            window.last = now;
            return Some(suppressed);
        }
        if keys.len() >= MAX_REMEMBERED {
            let every = self.every;
            keys.retain(|_, w| now.saturating_duration_since(w.last) < every);
            if keys.len() >= MAX_REMEMBERED {
                keys.clear();
            }
        }
        keys.insert(
            key.to_owned(),
            Window {
                last: now,
                suppressed: 0,
            },
        );
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_subscription_per_window_and_the_rest_are_counted() {
        let limiter = WarnLimiter::new(Duration::from_secs(30));
        let start = Instant::now();
        assert_eq!(limiter.admit("sub_a", start), Some(0));
        for i in 1..=5 {
            assert_eq!(limiter.admit("sub_a", start + Duration::from_secs(i)), None);
        }
        assert_eq!(
            limiter.admit("sub_b", start + Duration::from_secs(1)),
            Some(0),
            "another subscription has its own window"
        );
        assert_eq!(
            limiter.admit("sub_a", start + Duration::from_secs(31)),
            Some(5),
            "the next line says how many were held back"
        );
        assert_eq!(
            limiter.admit("sub_a", start + Duration::from_secs(32)),
            None
        );
    }

    #[test]
    fn the_limiter_forgets_quiet_subscriptions_rather_than_grow() {
        let limiter = WarnLimiter::new(Duration::from_secs(1));
        let start = Instant::now();
        for i in 0..MAX_REMEMBERED {
            limiter.admit(&format!("sub_{i}"), start);
        }
        let later = start + Duration::from_secs(2);
        assert_eq!(limiter.admit("sub_new", later), Some(0));
        assert_eq!(limiter.keys.lock().unwrap().len(), 1);
    }
}
