//! How a delivery settles after an attempt, and the statements that store it in the writer's
//! transaction.

use bytes::Bytes;

use super::{Param, Statement};
use crate::model::{AttemptKind, DeliveryStatus};

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
    /// Its subscription (stopped when `disable_subscription`).
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
    /// The receiver answered 410 Gone: stop the subscription.
    pub disable_subscription: bool,
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
            disable_subscription: false,
            request: None,
            request_headers: None,
        }
    }

    /// Whether another attempt is scheduled (to announce to other nodes).
    pub fn retries(&self) -> bool {
        self.next_attempt_at.is_some()
    }

    /// The statements that store the settlement (run in the writer's transaction); `attempt_id`
    /// names the attempt row when there is one.
    pub(super) fn statements<'a>(
        &'a self,
        node: &'a str,
        attempt_id: &'a str,
        now: i64,
    ) -> Vec<Statement<'a>> {
        use Param::{Blob, Int, Text};
        let mut statements = Vec::with_capacity(3);
        if self.disable_subscription {
            statements.push(Statement {
                sql: "UPDATE subscriptions SET enabled = 0, disabled_reason = $1, updated_at = $2 WHERE id = $3",
                params: vec![
                    Text(Some("the endpoint answered 410 Gone")),
                    Int(Some(now)),
                    Text(Some(&self.subscription_id)),
                ],
            });
        }
        // Both writes below apply only while the delivery is still pending: an erasure may have
        // cancelled it (or a tenant deletion removed it) while this attempt was in flight, and
        // the attempt must then neither undo the cancellation nor store the receiver's answer
        // or the transformed body again.
        if let Some(row) = &self.attempt {
            statements.push(Statement {
                sql: "INSERT INTO attempts (id, delivery_id, at, duration_ms, status_code, error, error_kind, response, node) \
                      SELECT $1, $2, $3, $4, $5, $6, $7, CASE WHEN d.status = 'pending' THEN $8 END, $9 \
                      FROM deliveries d WHERE d.id = $2",
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
        }
        // The request is kept when there was one (the last one otherwise); an envelope body is
        // stored as NULL beside its content type, since the event row already holds it.
        let (content_type, body) = match &self.request {
            Some(r) => (
                Some(r.content_type.as_str()),
                (!r.envelope).then_some(&r.body[..]),
            ),
            None => (None, None),
        };
        statements.push(Statement {
            sql: "UPDATE deliveries SET status = $1, attempt_count = $2, next_attempt_at = $3, \
                  claimed_until = NULL, claimed_by = NULL, updated_at = $4, skip_reason = COALESCE($5, skip_reason), \
                  request_content_type = COALESCE($6, request_content_type), \
                  request_headers = COALESCE($7, request_headers), \
                  request_body = CASE WHEN $6 IS NULL THEN request_body ELSE $8 END \
                  WHERE id = $9 AND status = 'pending'",
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
        });
        statements
    }
}
