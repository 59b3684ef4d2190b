//! How a delivery settles after an attempt, and the statements that store it in the writer's
//! transaction: the attempt, the delivery, what it tells of its subscription's health
//! (failing since when, stopped), and the operational events it causes — in the same
//! transaction, so that an event about a failure is as durable as the failure.

use bytes::Bytes;

use super::{INSERT_EVENT, Param, Statement};
use crate::model::{AttemptKind, DeliveryStatus, DisabledReason, Event};

/// The request sent (or that would have been sent) for a delivery.
pub struct SentRequest {
    /// The body's content type.
    pub content_type: String,
    /// Every header as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// The body is the event envelope: not stored with the delivery (the event is), rebuilt
    /// when the delivery is read.
    pub envelope: bool,
}

/// What an attempt row records besides its time and duration.
pub struct AttemptRecord {
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i64>,
    /// What went wrong, for people (already bounded and storable).
    pub error: Option<String>,
    /// What kind of failure, if it failed.
    pub kind: Option<AttemptKind>,
    /// The start of the receiver's answer.
    pub response: Option<String>,
}

/// How a delivery settles after an attempt: everything the group-commit writer needs to
/// store it, computed by the worker so that the transaction does no thinking.
pub struct Settlement {
    /// The delivery.
    pub delivery_id: String,
    /// Its subscription.
    pub subscription_id: String,
    /// When the attempt started (ms since the epoch).
    pub at: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// The delivery's status after it.
    pub status: DeliveryStatus,
    /// Attempts made, this one included when it was recorded.
    pub attempt_count: i64,
    /// When to try again, while pending.
    pub next_attempt_at: Option<i64>,
    /// The attempt row, when there is one (a skip records none).
    pub attempt: Option<AttemptRecord>,
    /// The plugin's reason for skipping.
    pub skip_reason: Option<String>,
    /// What the attempt tells of the subscription's health.
    pub health: Health,
    /// Stop the subscription (a 410, or failing too long).
    pub disable: Option<Disable>,
    /// `krog.delivery.failed`, when the delivery failed for good (stored only if the delivery
    /// was still pending, i.e. this settlement is what failed it).
    pub failed_event: Option<Emitted>,
    /// What was sent, when anything was.
    pub request: Option<SentRequest>,
    /// The request's headers as JSON, when there was a request: serialized by the worker, so
    /// that the one writer thread only binds it.
    pub request_headers: Option<String>,
}

impl Settlement {
    /// A delivered first attempt with nothing recorded, for tests of the writer's batching.
    #[cfg(test)]
    pub(crate) fn example() -> Settlement {
        Settlement {
            delivery_id: "dlv_example".into(),
            subscription_id: "sub_example".into(),
            at: 0,
            duration_ms: 0,
            status: DeliveryStatus::Succeeded,
            attempt_count: 1,
            next_attempt_at: None,
            attempt: None,
            skip_reason: None,
            health: Health::Unchanged,
            disable: None,
            failed_event: None,
            request: None,
            request_headers: None,
        }
    }

    /// Whether it writes nothing but its attempt and its delivery.
    pub fn alone(&self) -> bool {
        self.health == Health::Unchanged && self.disable.is_none() && self.failed_event.is_none()
    }

    /// Whether it may emit an operational event (with deliveries for the scheduler).
    pub fn emits(&self) -> bool {
        self.failed_event.is_some() || self.disable.as_ref().is_some_and(|d| d.announce.is_some())
    }

    /// The statements that store the settlement, in the order they run in the writer's
    /// transaction; `attempt_id` names the attempt row when there is one.
    pub(super) fn writes<'a>(&'a self, node: &'a str, attempt_id: &'a str, now: i64) -> Writes<'a> {
        use Param::{Blob, Int, Text};
        let health = match self.health {
            Health::Unchanged => None,
            Health::StartsFailing => Some(Statement {
                sql: "UPDATE subscriptions SET failing_since = $1 WHERE id = $2 AND failing_since IS NULL",
                params: vec![Int(Some(self.at)), Text(Some(&self.subscription_id))],
            }),
            Health::Recovered => Some(Statement {
                sql: "UPDATE subscriptions SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
                params: vec![Text(Some(&self.subscription_id))],
            }),
        };
        // Both writes below apply only while the delivery is still pending: an erasure may have
        // cancelled it (or a tenant deletion removed it) while this attempt was in flight, and
        // the attempt must then neither undo the cancellation nor store the receiver's answer
        // or the transformed body again.
        let attempt = self.attempt.as_ref().map(|row| Statement {
            sql: INSERT_ATTEMPT,
            params: vec![
                Text(Some(attempt_id)),
                Text(Some(&self.delivery_id)),
                Int(Some(self.at)),
                Int(Some(self.duration_ms)),
                Int(row.status_code),
                Text(row.error.as_deref()),
                Text(row.kind.map(AttemptKind::as_str)),
                Text(row.response.as_deref()),
                Text(Some(node)),
            ],
        });
        // The request is kept when there was one (the last one otherwise); an envelope body is
        // stored as NULL beside its content type, since the event row already holds it.
        let (content_type, body) = match &self.request {
            Some(r) => (
                Some(r.content_type.as_str()),
                (!r.envelope).then_some(&r.body[..]),
            ),
            None => (None, None),
        };
        let delivery = Statement {
            sql: SETTLE_DELIVERY,
            params: vec![
                Text(Some(self.status.as_str())),
                Int(Some(self.attempt_count)),
                Int(self.next_attempt_at),
                Int(Some(now)),
                Text(self.skip_reason.as_deref()),
                Text(content_type),
                Text(self.request_headers.as_deref()),
                Blob(body),
                Text(Some(&self.delivery_id)),
            ],
        };
        let mut follow = Vec::new();
        if let Some(event) = &self.failed_event {
            event.steps(Guard::Settled, now, &mut follow);
        }
        if let Some(disable) = &self.disable {
            let statement = match disable.failing_before {
                // A 410 stops it whatever else happened to the delivery meanwhile.
                None => Step {
                    guard: Guard::Always,
                    statement: Statement {
                        sql: "UPDATE subscriptions SET enabled = 0, disabled_reason = $1, disabled_at = $2, \
                              updated_at = $2 WHERE id = $3 AND enabled = 1",
                        params: vec![
                            Text(Some(disable.reason.as_str())),
                            Int(Some(now)),
                            Text(Some(&self.subscription_id)),
                        ],
                    },
                },
                // Failing: only when this settlement failed the delivery, and every delivery has
                // failed since at or before the cutoff (a success in between cleared it).
                Some(cutoff) => Step {
                    guard: Guard::Settled,
                    statement: Statement {
                        sql: "UPDATE subscriptions SET enabled = 0, disabled_reason = $1, disabled_at = $2, \
                              updated_at = $2 WHERE id = $3 AND enabled = 1 \
                              AND failing_since IS NOT NULL AND failing_since <= $4",
                        params: vec![
                            Text(Some(disable.reason.as_str())),
                            Int(Some(now)),
                            Text(Some(&self.subscription_id)),
                            Int(Some(cutoff)),
                        ],
                    },
                },
            };
            let stopped = follow.len();
            follow.push(statement);
            if let Some(event) = &disable.announce {
                event.steps(Guard::Step(stopped), now, &mut follow);
            }
        }
        Writes {
            health,
            attempt,
            delivery,
            follow,
        }
    }
}

/// The attempt row, stored only with its delivery's row (gone when its tenant was deleted), and
/// the receiver's answer only while the delivery is pending. Parameters: the columns in order.
pub(super) const INSERT_ATTEMPT: &str = "INSERT INTO attempts (id, delivery_id, at, duration_ms, status_code, error, error_kind, response, node) \
     SELECT $1, $2, $3, $4, $5, $6, $7, CASE WHEN d.status = 'pending' THEN $8 END, $9 \
     FROM deliveries d WHERE d.id = $2";

/// The delivery after an attempt, changed only while it is pending. Parameters: status,
/// attempt count, next attempt, now, skip reason, request content type, headers, body, id.
pub(super) const SETTLE_DELIVERY: &str = "UPDATE deliveries SET status = $1, attempt_count = $2, next_attempt_at = $3, \
     claimed_until = NULL, claimed_by = NULL, updated_at = $4, skip_reason = COALESCE($5, skip_reason), \
     request_content_type = COALESCE($6, request_content_type), \
     request_headers = COALESCE($7, request_headers), \
     request_body = CASE WHEN $6 IS NULL THEN request_body ELSE $8 END \
     WHERE id = $9 AND status = 'pending'";

/// The statements of one settlement.
pub(super) struct Writes<'a> {
    /// The subscription's health, when the attempt changed it: first.
    pub health: Option<Statement<'a>>,
    /// The attempt row, when there is one ([`INSERT_ATTEMPT`]).
    pub attempt: Option<Statement<'a>>,
    /// The delivery ([`SETTLE_DELIVERY`]): whether it changed its row is [`Guard::Settled`].
    pub delivery: Statement<'a>,
    /// What follows (operational events, stopping the subscription), each under its guard.
    pub follow: Vec<Step<'a>>,
}

impl<'a> Writes<'a> {
    /// Runs every statement in order with `execute` (rows changed), skipping those whose guard
    /// does not hold.
    pub fn run_all<E>(
        &self,
        mut execute: impl FnMut(&Statement<'a>) -> Result<u64, E>,
    ) -> Result<(), E> {
        if let Some(health) = &self.health {
            execute(health)?;
        }
        if let Some(attempt) = &self.attempt {
            execute(attempt)?;
        }
        let settled = execute(&self.delivery)? > 0;
        Step::run_follow(&self.follow, settled, execute)
    }
}

/// What an attempt tells of its subscription's health, beyond the delivery itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Nothing to write: the directory already knows (a healthy subscription delivered, a
    /// failing one failed again), or the attempt says nothing of the endpoint (a skip).
    Unchanged,
    /// A failed attempt of a subscription not known to be failing: failing since this attempt.
    StartsFailing,
    /// A delivered attempt of a subscription known to be failing: failing no more.
    Recovered,
}

/// The subscription is to be stopped.
pub struct Disable {
    /// `gone` or `failing`.
    pub reason: DisabledReason,
    /// For `failing`: only if every delivery has failed since at or before this time (ms).
    pub failing_before: Option<i64>,
    /// `krog.subscription.disabled`, stored only if this settlement is what stopped it.
    pub announce: Option<Emitted>,
}

/// An operational event a settlement emits into its tenant's stream, with a delivery (pending,
/// due at once, unclaimed: the scheduler's) to each subscription that listens to it.
pub struct Emitted {
    /// The tenant.
    pub tenant: String,
    /// The event.
    pub event: Event,
    /// The subscriptions it goes to (never the one it is about).
    pub targets: Vec<String>,
    /// A delivery id for each target.
    pub delivery_ids: Vec<String>,
}

/// Its deliveries are nobody's until the scheduler claims them.
const INSERT_DUE_DELIVERY: &str = "INSERT INTO deliveries (id, tenant_id, event_id, subscription_id, status, attempt_count, \
     next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $5)";

impl Emitted {
    /// The event and its deliveries, stored only when `guard` holds.
    fn steps<'a>(&'a self, guard: Guard, now: i64, steps: &mut Vec<Step<'a>>) {
        use Param::{Int, Text};
        let stored = steps.len();
        steps.push(Step {
            guard,
            statement: Statement {
                sql: INSERT_EVENT,
                params: vec![
                    Text(Some(&self.tenant)),
                    Text(Some(&self.event.id)),
                    Text(Some(self.event.event_type)),
                    Text(Some(&self.event.timestamp)),
                    Text(Some(&self.event.data)),
                    Int(Some(self.targets.len() as i64)),
                    Int(Some(now)),
                ],
            },
        });
        for (target, id) in self.targets.iter().zip(&self.delivery_ids) {
            steps.push(Step {
                guard: Guard::Step(stored),
                statement: Statement {
                    sql: INSERT_DUE_DELIVERY,
                    params: vec![
                        Text(Some(id)),
                        Text(Some(&self.tenant)),
                        Text(Some(&self.event.id)),
                        Text(Some(target)),
                        Int(Some(now)),
                    ],
                },
            });
        }
    }
}

/// When a statement that follows a settlement's delivery runs.
#[derive(Clone, Copy, Debug)]
pub(super) enum Guard {
    /// Always.
    Always,
    /// Only when the delivery's update changed its row (this settlement is what settled it).
    Settled,
    /// Only when the earlier follow-up step at this index changed a row.
    Step(usize),
}

impl Guard {
    /// Whether the guard holds, given whether the delivery's update changed its row and the
    /// rows each earlier follow-up step changed.
    pub fn holds(self, settled: bool, changed: &[u64]) -> bool {
        match self {
            Guard::Always => true,
            Guard::Settled => settled,
            Guard::Step(i) => changed.get(i).is_some_and(|&n| n > 0),
        }
    }
}

/// One statement that follows a settlement's delivery.
pub(super) struct Step<'a> {
    /// The statement.
    pub statement: Statement<'a>,
    /// When it runs.
    pub guard: Guard,
}

impl<'a> Step<'a> {
    /// Runs follow-up steps in order with `execute` (rows changed), skipping those whose guard
    /// does not hold; `settled` tells whether the delivery's update changed its row.
    pub fn run_follow<E>(
        steps: &[Step<'a>],
        settled: bool,
        mut execute: impl FnMut(&Statement<'a>) -> Result<u64, E>,
    ) -> Result<(), E> {
        let mut changed = Vec::with_capacity(steps.len());
        for step in steps {
            let run = step.guard.holds(settled, &changed);
            changed.push(if run { execute(&step.statement)? } else { 0 });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Emitted {
        Emitted {
            tenant: "acme".into(),
            event: Event {
                id: "evt_krog_1".into(),
                event_type: crate::model::operational::DELIVERY_FAILED,
                timestamp: "2026-12-03T10:00:00.000Z".into(),
                data: "{}".into(),
            },
            targets: vec!["sub_listener".into()],
            delivery_ids: vec!["dlv_notice".into()],
        }
    }

    /// Runs the steps against a database in which only the statements `changes` names change
    /// a row; the SQL of each statement run, in order.
    fn run(settlement: &Settlement, changes: impl Fn(&str) -> bool) -> Vec<&'static str> {
        let writes = settlement.writes("node", "att_1", 1_000);
        let mut ran = Vec::new();
        writes
            .run_all(|statement| {
                ran.push(statement.sql);
                Ok::<u64, ()>(u64::from(changes(statement.sql)))
            })
            .unwrap();
        ran
    }

    #[test]
    fn a_healthy_subscriptions_delivery_writes_only_the_delivery() {
        let ran = run(&Settlement::example(), |_| true);
        assert_eq!(ran.len(), 1, "{ran:?}");
        assert!(ran[0].starts_with("UPDATE deliveries"));
    }

    #[test]
    fn the_notice_of_a_failed_delivery_is_stored_only_if_this_settlement_failed_it() {
        let failed = Settlement {
            status: DeliveryStatus::Failed,
            failed_event: Some(notice()),
            ..Settlement::example()
        };
        let stored = run(&failed, |_| true);
        assert!(
            stored
                .iter()
                .any(|sql| sql.starts_with("INSERT INTO events")),
            "{stored:?}"
        );
        assert!(stored.contains(&INSERT_DUE_DELIVERY), "{stored:?}");
        // An erasure cancelled the delivery meanwhile: the delivery update changes nothing.
        let cancelled = run(&failed, |sql| !sql.starts_with("UPDATE deliveries"));
        assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    }

    #[test]
    fn a_stop_for_failing_announces_itself_only_when_it_stopped_the_subscription() {
        let exhausted = Settlement {
            status: DeliveryStatus::Failed,
            disable: Some(Disable {
                reason: DisabledReason::Failing,
                failing_before: Some(500),
                announce: Some(notice()),
            }),
            ..Settlement::example()
        };
        let stopped = run(&exhausted, |_| true);
        assert!(
            stopped.iter().any(|sql| sql.contains("disabled_reason")),
            "{stopped:?}"
        );
        assert!(
            stopped
                .iter()
                .any(|sql| sql.starts_with("INSERT INTO events")),
            "{stopped:?}"
        );
        // Not failing long enough (or already stopped): no notice.
        let kept = run(&exhausted, |sql| !sql.contains("disabled_reason"));
        assert!(
            !kept.iter().any(|sql| sql.starts_with("INSERT")),
            "{kept:?}"
        );
    }
}
