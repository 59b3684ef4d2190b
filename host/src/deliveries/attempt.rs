//! One delivery attempt: transform (in the sandbox), sign, POST, record. Whatever happens —
//! a plugin failure, a refused destination, a timeout — ends as a recorded attempt and a
//! settled or rescheduled delivery, never a lost one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::report::{self, Attempted, Outcome as Reported};
use crate::db::{bounded, now_ms, storable};
use crate::directory::{Resolved, Target};
use crate::events::{Event, EventType};
use crate::queue::{Job, Turn, Work};
use crate::runtime::{EventInput, Outcome};
use crate::signing::signature;
use crate::state::AppState;
use crate::writer::{Param, Statement};

/// How much of a response body is kept on the attempt.
const RESPONSE_KEEP: usize = 1024;

/// The longest error text or skip reason stored on a delivery (a plugin's message included).
const MAX_ERROR_BYTES: usize = 4096;

#[derive(sqlx::FromRow)]
struct Row {
    status: String,
    claimed_by: Option<String>,
    attempt_count: i64,
    tenant_id: String,
    event_id: String,
    subscription_id: String,
    event_type: String,
    timestamp: String,
    data: String,
    payload_deleted_note: Option<String>,
}

/// The request to send.
pub struct Request {
    content_type: String,
    headers: Vec<(String, String)>,
    body: axum::body::Bytes,
    /// The body is the event envelope: not stored with the delivery (the event is), rebuilt
    /// when the delivery is read.
    envelope: bool,
}

/// How an attempt ended.
enum Ending {
    Delivered {
        status: u16,
        response: String,
    },
    Skipped(String),
    /// Failed; retry unless attempts are exhausted. `retry_after` from the response.
    Failed {
        status: Option<u16>,
        error: String,
        kind: &'static str,
        response: Option<String>,
        retry_after: Option<Duration>,
        /// It would fail the same way again (a plugin's config error, trap or invalid output):
        /// not retried; a retry by hand after the fix runs it again.
        fails_again: bool,
    },
    /// The subscriber said 410 Gone: stop and disable the subscription.
    Gone {
        response: String,
    },
    /// Nothing to send to any more (subscription deleted or disabled).
    Abandoned(String),
    /// The event's payload was deleted (retention, erasure): there is nothing to send, now or
    /// later.
    PayloadDeleted(String),
}

/// What an attempt row records besides its time and duration.
pub struct AttemptRow {
    status_code: Option<i64>,
    error: Option<String>,
    kind: Option<&'static str>,
    response: Option<String>,
}

/// Runs one attempt of a delivery, if it is still pending. `turn` is the worker slot: it is
/// given back once the request is answered, before waiting for the record to commit
/// ([`Turn::settle`]).
pub async fn run(state: &AppState, work: Work, turn: Turn) -> anyhow::Result<()> {
    let (job, deleted) = match work {
        // An erasure cancelled it (and recorded that) while it waited here.
        Work::Fresh(job) if state.cancelled.take(&job.delivery_id) => return Ok(()),
        Work::Fresh(job) => (job, None),
        Work::Stored(claimed) => match load(state, claimed.id).await? {
            Some(loaded) => loaded,
            None => return Ok(()),
        },
    };
    let target = match &job.target {
        Some(target) => Some(target.clone()),
        None => state
            .directory
            .routes(&job.tenant_id)
            .await?
            .and_then(|routes| routes.target(&job.subscription_id).cloned()),
    };
    let started = Instant::now();
    let at = now_ms();
    let (ending, request) = match deleted {
        Some(note) => (
            Ending::PayloadDeleted(format!("{note}: there is nothing to send")),
            None,
        ),
        None => attempt(state, &job, target.as_deref()).await,
    };
    let duration = started.elapsed();
    let _place = turn.settle().await;
    record(state, &job, at, duration, ending, request).await
}

/// Reads a delivery claimed by id, with its event; `None` unless it is still pending and
/// still claimed by this node. Beside the job, the note of a deleted payload (a retry by hand
/// after retention or an erasure), which fails the delivery instead of sending an empty body.
async fn load(state: &AppState, id: String) -> anyhow::Result<Option<(Job, Option<String>)>> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT d.status, d.claimed_by, d.attempt_count, d.tenant_id, d.event_id, d.subscription_id, \
         e.event_type, e.timestamp, e.data, e.payload_deleted_note \
         FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
         WHERE d.id = $1",
    )
    .bind(&id)
    .fetch_optional(state.db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.status != "pending" {
        return Ok(None);
    }
    // Another node took it (this node's claim ran out while the work waited here): it is
    // theirs to send.
    if row.claimed_by.as_deref() != Some(state.queue.node_id()) {
        metrics::counter!("krog_deliveries_claim_lost_total").increment(1);
        return Ok(None);
    }
    let event_type = EventType::parse(&row.event_type)
        .ok_or_else(|| anyhow::anyhow!("stored event has unknown type {:?}", row.event_type))?;
    let deleted = row.payload_deleted_note;
    let job = Job {
        delivery_id: id,
        attempt_count: row.attempt_count,
        tenant_id: row.tenant_id.into(),
        subscription_id: row.subscription_id,
        target: None,
        event: Arc::new(Event {
            id: row.event_id,
            event_type: event_type.as_str(),
            timestamp: row.timestamp,
            data: row.data,
        }),
    };
    Ok(Some((job, deleted)))
}

async fn attempt(
    state: &AppState,
    job: &Job,
    target: Option<&Target>,
) -> (Ending, Option<Request>) {
    let Some(target) = target else {
        return (
            Ending::Abandoned("the subscription was deleted".into()),
            None,
        );
    };
    if !target.enabled {
        return (
            Ending::Abandoned("the subscription is disabled".into()),
            None,
        );
    }
    let mut request = match &target.transform {
        None => envelope(&job.event),
        Some(transform) => match run_transform(state, job, transform).await {
            Ok(Outcome::Skip { reason }) => return (Ending::Skipped(reason), None),
            Ok(Outcome::Deliver {
                content_type,
                headers,
                body,
            }) => Request {
                content_type,
                headers,
                body: body.into(),
                envelope: false,
            },
            Err(failed) => {
                metrics::counter!("krog_plugin_errors_total", "kind" => failed.kind).increment(1);
                let ending = Ending::Failed {
                    status: None,
                    error: failed.error,
                    kind: failed.kind,
                    response: None,
                    retry_after: None,
                    fails_again: failed.fails_again,
                };
                return (ending, None);
            }
        },
    };
    let ending = send(state, job, target, &mut request).await;
    (ending, Some(request))
}

/// Without a transform the body is the event envelope; `data` is spliced in as received.
fn envelope(event: &Event) -> Request {
    Request {
        content_type: "application/json".into(),
        headers: Vec::new(),
        body: envelope_body(event).into(),
        envelope: true,
    }
}

/// The envelope `{"type","timestamp","data"}` of an event, as sent without a transform.
pub fn envelope_body(event: &Event) -> Vec<u8> {
    let mut body = Vec::with_capacity(event.data.len() + 96);
    body.extend_from_slice(b"{\"type\":");
    serde_json::to_writer(&mut body, &event.event_type).expect("strings serialize");
    body.extend_from_slice(b",\"timestamp\":");
    serde_json::to_writer(&mut body, &event.timestamp).expect("strings serialize");
    body.extend_from_slice(b",\"data\":");
    body.extend_from_slice(event.data.as_bytes());
    body.push(b'}');
    body
}

/// Why a transform did not give an outcome.
struct TransformFailed {
    kind: &'static str,
    error: String,
    fails_again: bool,
}

async fn run_transform(
    state: &AppState,
    job: &Job,
    transform: &Result<Resolved, String>,
) -> Result<Outcome, TransformFailed> {
    let resolved = transform.as_ref().map_err(|why| TransformFailed {
        kind: "invalid_module",
        error: why.clone(),
        fails_again: false,
    })?;
    let input = EventInput {
        id: job.event.id.clone(),
        event_type: job.event.event_type.to_owned(),
        timestamp: job.event.timestamp.clone(),
        tenant: job.tenant_id.to_string(),
        data: job.event.data.clone(),
    };
    let scope = &job.subscription_id;
    // A warm instance with a record of quick calls runs right here: handing ~50 µs of work to
    // another thread and back costs more than the work (measured in BENCHMARKS.md).
    let quick = state
        .runtime
        .transform_quick(scope, &resolved.module, &input, &resolved.config);
    let result = match quick {
        Some(result) => result,
        None => {
            let module = resolved.module.clone();
            let config = resolved.config.clone();
            let scope = scope.clone();
            let runtime = state.runtime.clone();
            // Otherwise on a blocking thread (it may run until the timeout), at most one per
            // core at a time: more would only queue for the CPU holding an instance each.
            // The tenant's own share first, so that one tenant's heavy plugin queues behind
            // itself rather than in front of everyone else's.
            let _share = state.plugin_slots.acquire(&job.tenant_id).await;
            let _turn = state.transforms.acquire().await;
            tokio::task::spawn_blocking(move || {
                runtime.transform_in(&scope, &module, &input, &config)
            })
            .await
            .map_err(|e| TransformFailed {
                kind: "trap",
                error: format!("the plugin call did not complete: {e}"),
                fails_again: false,
            })?
        }
    };
    match result {
        Ok(execution) => Ok(execution.outcome),
        Err(failure) => {
            let fails_again = failure.kind.fails_again();
            // The note goes before the plugin's message, so that the bound on stored error
            // text never cuts it off.
            let note = if fails_again {
                ", not retried: it would fail the same way (fix the module or its config, then \
                 retry by hand)"
            } else {
                ""
            };
            let error = format!(
                "plugin error ({}){note}: {}",
                failure.kind.as_str(),
                failure.message
            );
            Err(TransformFailed {
                kind: failure.kind.as_str(),
                error,
                fails_again,
            })
        }
    }
}

async fn send(state: &AppState, job: &Job, target: &Target, request: &mut Request) -> Ending {
    let failed = |error: String, kind: &'static str| Ending::Failed {
        status: None,
        error,
        kind,
        response: None,
        retry_after: None,
        fails_again: false,
    };
    // Checked again (when the directory loaded it), not only at create: IP literals never
    // reach the guarded resolver.
    let url = match &target.destination {
        Ok(url) => url.clone(),
        Err(why) => return failed(why.clone(), "destination"),
    };
    let now = now_ms();
    let timestamp = now / 1000;
    let keys = match target.signing_keys(now) {
        Ok(keys) => keys,
        Err(why) => return failed(why, "signing"),
    };
    if keys.is_empty() {
        return failed(
            "the subscription has no valid signing secret".into(),
            "signing",
        );
    }
    let mut headers = HeaderMap::with_capacity(request.headers.len() + 4);
    for (name, value) in &request.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
    let content_type = HeaderValue::try_from(request.content_type.as_str())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(reqwest::header::CONTENT_TYPE, content_type);
    let sig = signature(&keys, &job.event.id, timestamp, &request.body);
    let (Ok(id), Ok(sig)) = (
        HeaderValue::try_from(job.event.id.as_str()),
        HeaderValue::try_from(sig),
    ) else {
        return failed("event id is not a valid header value".into(), "signing");
    };
    headers.insert("webhook-id", id);
    headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
    headers.insert("webhook-signature", sig);
    // The delivery log shows every header as sent, so that a receiver's author can debug
    // verification against it (the signature is no secret: it is public on the wire).
    request.headers = headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();

    let response = state
        .http
        .post(url)
        .headers(headers)
        .body(request.body.clone())
        .timeout(state.config.delivery_timeout)
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        Err(e) => {
            let kind = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else {
                "request"
            };
            return failed(describe_reqwest(&e), kind);
        }
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = read_prefix(response).await;
    if status.is_success() {
        Ending::Delivered {
            status: status.as_u16(),
            response: body,
        }
    } else if status == reqwest::StatusCode::GONE {
        Ending::Gone { response: body }
    } else {
        Ending::Failed {
            status: Some(status.as_u16()),
            error: format!("the endpoint answered {status}"),
            kind: "http_status",
            response: Some(body),
            retry_after,
            fails_again: false,
        }
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    // reqwest's Display is terse; the source chain says why (refused, resolver, TLS).
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Reads at most [`RESPONSE_KEEP`] bytes of the answer, without waiting for the rest.
async fn read_prefix(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_KEEP {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                kept.extend_from_slice(&chunk[..chunk.len().min(RESPONSE_KEEP - kept.len())])
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// `Retry-After` as seconds or an HTTP date. The receiver's word, so anything goes: a number
/// too large for any clock is read as "very long" (and capped by [`next_delay`]).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let ms = when.timestamp_millis().saturating_sub(now_ms());
    Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// The longest `Retry-After` honoured when the schedule's own steps are all shorter.
const RETRY_AFTER_FLOOR: Duration = Duration::from_secs(3600);

/// The delay before attempt number `attempts + 1`, with ±20 % jitter, at least `retry_after`
/// — but never longer than the schedule's longest step (or an hour, if every step is
/// shorter): a receiver may ask for a pause, not park a delivery for years or use up its
/// attempts at once. `None` when the schedule is exhausted.
fn next_delay(
    schedule: &[Duration],
    attempts: i64,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let base = *schedule.get(usize::try_from(attempts - 1).ok()?)?;
    let jitter = rand::rng().random_range(0.8..=1.2);
    let delay = base.mul_f64(jitter);
    let longest = schedule
        .iter()
        .max()
        .copied()
        .unwrap_or(base)
        .max(RETRY_AFTER_FLOOR);
    Some(match retry_after {
        Some(after) => delay.max(after.min(longest)),
        None => delay,
    })
}

/// `now` plus `delay` in milliseconds, saturating instead of wrapping.
fn at_after(now: i64, delay: Duration) -> i64 {
    now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
}

/// How a delivery settles after an attempt: everything the group-commit writer needs to
/// store it, computed here so that the transaction does no thinking.
pub struct Settlement {
    delivery_id: String,
    subscription_id: String,
    at: i64,
    duration_ms: i64,
    status: &'static str,
    attempt_count: i64,
    next_attempt_at: Option<i64>,
    attempt: Option<AttemptRow>,
    skip_reason: Option<String>,
    disable_subscription: bool,
    request: Option<Request>,
    /// The request's headers as JSON, when there was a request.
    request_headers: Option<String>,
}

async fn record(
    state: &AppState,
    job: &Job,
    at: i64,
    duration: Duration,
    ending: Ending,
    request: Option<Request>,
) -> anyhow::Result<()> {
    let attempts = job.attempt_count + 1;
    let now = now_ms();
    let row =
        |status_code: Option<i64>, error: String, kind: &'static str, response: Option<String>| {
            Some(AttemptRow {
                status_code,
                error: Some(storable(bounded(error, MAX_ERROR_BYTES))),
                kind: Some(kind),
                response: response.map(storable),
            })
        };
    let mut skip_reason = None;
    let mut disable_subscription = false;
    let (status, next_attempt_at, attempt): (&'static str, Option<i64>, Option<AttemptRow>) =
        match ending {
            Ending::Delivered { status, response } => {
                let ok = AttemptRow {
                    status_code: Some(status as i64),
                    error: None,
                    kind: None,
                    response: Some(storable(response)),
                };
                ("succeeded", None, Some(ok))
            }
            Ending::Skipped(reason) => {
                skip_reason = Some(storable(bounded(reason, MAX_ERROR_BYTES)));
                ("skipped", None, None)
            }
            Ending::Abandoned(why) => ("failed", None, row(None, why, "abandoned", None)),
            Ending::PayloadDeleted(why) => {
                ("failed", None, row(None, why, "payload_deleted", None))
            }
            Ending::Gone { response } => {
                disable_subscription = true;
                let why = "the endpoint answered 410 Gone; subscription disabled".to_owned();
                ("failed", None, row(Some(410), why, "gone", Some(response)))
            }
            Ending::Failed {
                status,
                error,
                kind,
                response,
                retry_after,
                fails_again,
            } => {
                let attempt = row(status.map(i64::from), error, kind, response);
                let delay = match fails_again {
                    true => None,
                    false => next_delay(&state.config.retry_schedule, attempts, retry_after),
                };
                match delay {
                    Some(delay) => ("pending", Some(at_after(now, delay)), attempt),
                    None => ("failed", None, attempt),
                }
            }
        };
    let outcome = match status {
        "succeeded" => Reported::Succeeded,
        "skipped" => Reported::Skipped,
        "pending" => Reported::Retrying,
        _ => Reported::Failed,
    };
    let reported_kind = attempt.as_ref().and_then(|a| a.kind);
    let reported_code = attempt.as_ref().and_then(|a| a.status_code);
    let settlement = Settlement {
        delivery_id: job.delivery_id.clone(),
        subscription_id: job.subscription_id.clone(),
        at,
        duration_ms: duration.as_millis() as i64,
        status,
        attempt_count: if attempt.is_some() {
            attempts
        } else {
            job.attempt_count
        },
        next_attempt_at,
        attempt,
        skip_reason,
        disable_subscription,
        request_headers: request
            .as_ref()
            .map(|r| serde_json::to_string(&r.headers).unwrap_or_default()),
        request,
    };
    let disabled = settlement.disable_subscription;
    let kept = (
        settlement.status,
        settlement.attempt_count,
        settlement.next_attempt_at,
    );
    let kind = settlement.attempt.as_ref().and_then(|a| a.kind);
    if let Err(e) = state.writer.settle(settlement).await {
        // Stored text is made storable (`storable`), so this should not happen; if the
        // database still refuses the record, the outcome is kept without its details rather
        // than sending the delivery again. If even that fails the claim is left to lapse: the
        // lease is the back-off, never an immediate re-send.
        metrics::counter!("krog_settlement_failures_total").increment(1);
        tracing::error!(delivery = %job.delivery_id, error = %e, "recording an attempt failed; recording it without its details");
        let (status, attempt_count, next_attempt_at) = kept;
        let bare = Settlement {
            delivery_id: job.delivery_id.clone(),
            subscription_id: job.subscription_id.clone(),
            at,
            duration_ms: duration.as_millis() as i64,
            status,
            attempt_count,
            next_attempt_at,
            attempt: Some(AttemptRow {
                status_code: None,
                error: Some(
                    "the details of this attempt could not be stored and were dropped".into(),
                ),
                kind: Some(kind.unwrap_or("unrecorded")),
                response: None,
            }),
            skip_reason: None,
            disable_subscription: disabled,
            request: None,
            request_headers: None,
        };
        state.writer.settle(bare).await?;
    }
    if disabled {
        state.directory.invalidate();
    }
    report::attempt(&Attempted {
        tenant: &job.tenant_id,
        subscription: &job.subscription_id,
        delivery: &job.delivery_id,
        attempt: attempts,
        outcome,
        kind: reported_kind,
        status_code: reported_code,
        retry_in: next_attempt_at.map(|at| Duration::from_millis(at.saturating_sub(now) as u64)),
        duration,
    });
    if next_attempt_at.is_some() {
        state.queue.wake_scheduler();
    }
    Ok(())
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
            status: "succeeded",
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
    pub fn statements<'a>(
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
                    Text(row.kind),
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
                Text(Some(self.status)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_runs_out_after_its_last_delay() {
        let schedule = [Duration::from_secs(5), Duration::from_secs(300)];
        let first = next_delay(&schedule, 1, None).unwrap();
        assert!(
            first >= Duration::from_secs(4) && first <= Duration::from_secs(6),
            "{first:?}"
        );
        assert!(next_delay(&schedule, 2, None).is_some());
        assert!(next_delay(&schedule, 3, None).is_none());
    }

    #[test]
    fn retry_after_stretches_the_delay() {
        let schedule = [Duration::from_millis(10), Duration::from_secs(5)];
        let delay = next_delay(&schedule, 1, Some(Duration::from_secs(2))).unwrap();
        assert_eq!(delay, Duration::from_secs(2));
    }

    #[test]
    fn retry_after_is_capped_at_the_longest_step_of_the_schedule() {
        let schedule = [Duration::from_secs(5), Duration::from_secs(7200)];
        for header in [
            "18446744073709551615",
            "99999999999",
            "999999999999999999999999",
        ] {
            let asked = parse_retry_after(header).unwrap();
            let delay = next_delay(&schedule, 1, Some(asked)).unwrap();
            assert_eq!(delay, Duration::from_secs(7200), "{header}");
            let at = at_after(now_ms(), delay);
            assert!(
                at > now_ms() && at <= now_ms() + 7_201_000,
                "{header}: {at}"
            );
        }
        // A schedule of short steps still honours a pause of up to an hour.
        let short = [Duration::from_millis(50)];
        let delay = next_delay(&short, 1, parse_retry_after("99999999999")).unwrap();
        assert_eq!(delay, RETRY_AFTER_FLOOR);
        assert_eq!(at_after(i64::MAX - 5, Duration::from_secs(10)), i64::MAX);
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
