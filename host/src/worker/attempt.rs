//! One delivery attempt, as named stages, each given only what it needs:
//!
//! 1. [`prepare`]: the delivery as a [`Pending`] — in hand for fresh work, read back (and the
//!    claim checked) for work claimed by id — with the subscription it goes to;
//! 2. [`dispatch`]: [`transform`] in the sandbox, then [`sign_and_send`]; whatever happens
//!    ends as an [`Ending`];
//! 3. [`settle`]: the ending becomes a [`Settlement`] stored by the group-commit writer, and is
//!    reported.
//!
//! A plugin failure, a refused destination, a timeout: each ends as a recorded attempt and a
//! settled or rescheduled delivery, never a lost one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::Context;
use super::queue::{Job, Turn, Work};
use super::report::{self, Attempted, Outcome as Reported};
use crate::directory::{Resolved, Target};
use crate::model::delivery::FailureKind;
use crate::model::operational::{self, DeliveryFailed, SubscriptionDisabled};
use crate::model::{AttemptKind, DeliveryStatus, DisabledReason, Event};
use crate::runtime::{EventInput, Outcome};
use crate::signing::signature;
use crate::store::writer::{AttemptRecord, Disable, Emitted, Health, SentRequest, Settlement};
use crate::store::{self, bounded, new_id, now_ms, rfc3339, storable};

/// How much of a response body is kept on the attempt.
const RESPONSE_KEEP: usize = 1024;

/// The longest error text or skip reason stored on a delivery (a plugin's message included).
const MAX_ERROR_BYTES: usize = 4096;

/// How an attempt ended.
pub enum Ending {
    /// The receiver answered 2xx.
    Delivered {
        /// Its status.
        status: u16,
        /// The start of its answer.
        response: String,
    },
    /// The plugin chose not to send; its reason.
    Skipped(String),
    /// Failed; retry unless attempts are exhausted.
    Failed {
        /// The receiver's status, if it answered.
        status: Option<u16>,
        /// What went wrong, for people.
        error: String,
        /// What kind of failure.
        kind: AttemptKind,
        /// The start of the receiver's answer.
        response: Option<String>,
        /// The receiver's `Retry-After`.
        retry_after: Option<Duration>,
        /// It would fail the same way again (a plugin's config error, trap or invalid output):
        /// not retried; a retry by hand after the fix runs it again.
        fails_again: bool,
    },
    /// The subscriber said 410 Gone: stop and disable the subscription.
    Gone {
        /// The start of its answer.
        response: String,
    },
    /// Nothing to send to any more (subscription deleted or disabled).
    Abandoned(String),
    /// The event's payload was deleted (retention, erasure): there is nothing to send, now or
    /// later.
    PayloadDeleted(String),
}

impl Ending {
    fn failed(error: String, kind: AttemptKind) -> Ending {
        Ending::Failed {
            status: None,
            error,
            kind,
            response: None,
            retry_after: None,
            fails_again: false,
        }
    }
}

/// A delivery ready for its attempt.
pub struct Pending {
    /// The delivery and its event.
    pub job: Job,
    /// Where it goes, as the directory knows it; `None`: the subscription is gone.
    pub target: Option<Arc<Target>>,
}

/// Runs one attempt of a delivery, if it is still pending. `turn` is the worker slot: it is
/// given back once the request is answered, before waiting for the record to commit
/// ([`Turn::settle`]).
pub async fn run(state: &Context, work: Work, turn: Turn) -> anyhow::Result<()> {
    let Some(pending) = prepare(state, work).await? else {
        return Ok(());
    };
    let started = Instant::now();
    let at = now_ms();
    let (ending, request) = match &pending.job.deleted {
        Some(note) => (
            Ending::PayloadDeleted(format!("{note}: there is nothing to send")),
            None,
        ),
        None => dispatch(state, &pending.job, pending.target.as_deref()).await,
    };
    let duration = started.elapsed();
    let _place = turn.settle().await;
    settle(state, &pending.job, at, duration, ending, request).await
}

/// The delivery with its event and target; `None` when there is nothing to attempt (an
/// erasure cancelled it, it settled meanwhile, or another node holds it now).
pub async fn prepare(state: &Context, work: Work) -> anyhow::Result<Option<Pending>> {
    let job = match work {
        // An erasure cancelled it (and recorded that) while it waited here.
        Work::Ready(job) if state.cancelled.take(&job.delivery_id) => return Ok(None),
        Work::Ready(job) if state.cancelled.heard_since(job.heard) => job,
        // An erasure on another node may have gone unheard since it was taken: read it back.
        Work::Ready(job) => match load(state, job.delivery_id).await? {
            Some(job) => job,
            None => return Ok(None),
        },
        Work::Stored(claimed) => match load(state, claimed.id).await? {
            Some(job) => job,
            None => return Ok(None),
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
    Ok(Some(Pending { job, target }))
}

/// Reads a delivery claimed by id, with its event; `None` unless it is still pending and
/// still claimed by this node.
async fn load(state: &Context, id: String) -> anyhow::Result<Option<Job>> {
    let Some(row) = store::deliveries::claimed(&state.db, &id).await? else {
        return Ok(None);
    };
    if row.status != DeliveryStatus::Pending.as_str() {
        return Ok(None);
    }
    // Another node took it (this node's claim ran out while the work waited here): it is
    // theirs to send.
    if row.claimed_by.as_deref() != Some(state.queue.node_id()) {
        metrics::counter!("krog_deliveries_claim_lost_total").increment(1);
        return Ok(None);
    }
    let job = Job::claimed(
        row.delivery,
        std::time::Instant::now(),
        state.cancelled.hearing(),
    )
    .map_err(|row| anyhow::anyhow!("stored event has unknown type {:?}", row.event_type))?;
    Ok(Some(job))
}

/// Transforms and sends: the ending, and the request when one was made.
pub async fn dispatch(
    state: &Context,
    job: &Job,
    target: Option<&Target>,
) -> (Ending, Option<SentRequest>) {
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
        Some(resolved) => match transform(state, job, resolved).await {
            Ok(Outcome::Skip { reason }) => return (Ending::Skipped(reason), None),
            Ok(Outcome::Deliver {
                content_type,
                headers,
                body,
            }) => SentRequest {
                content_type,
                headers,
                body: body.into(),
                envelope: false,
            },
            Err(failed) => {
                metrics::counter!("krog_plugin_errors_total", "kind" => failed.kind.as_str())
                    .increment(1);
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
    let ending = sign_and_send(state, job, target, &mut request).await;
    (ending, Some(request))
}

/// Without a transform the body is the event envelope.
fn envelope(event: &Event) -> SentRequest {
    SentRequest {
        content_type: "application/json".into(),
        headers: Vec::new(),
        body: event.envelope().into(),
        envelope: true,
    }
}

/// Why a transform did not give an outcome.
struct TransformFailed {
    kind: AttemptKind,
    error: String,
    fails_again: bool,
}

/// Runs the subscription's plugin on the event, on this thread when its instance is warm
/// and quick, else on a blocking thread within the tenant's share.
async fn transform(
    state: &Context,
    job: &Job,
    transform: &Result<Resolved, String>,
) -> Result<Outcome, TransformFailed> {
    let resolved = transform.as_ref().map_err(|why| TransformFailed {
        kind: AttemptKind::Plugin(FailureKind::InvalidModule),
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
    // another thread and back costs more than the work (BENCHMARKS.md, "What was tried and what
    // it did").
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
                kind: AttemptKind::Plugin(FailureKind::Trap),
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
                kind: AttemptKind::Plugin(failure.kind),
                error,
                fails_again,
            })
        }
    }
}

/// Signs the request with the subscription's secrets and POSTs it, filling in the headers
/// as sent.
async fn sign_and_send(
    state: &Context,
    job: &Job,
    target: &Target,
    request: &mut SentRequest,
) -> Ending {
    let failed = Ending::failed;
    // Checked again (when the directory loaded it), not only at create: IP literals never
    // reach the guarded resolver.
    let url = match &target.destination {
        Ok(url) => url.clone(),
        Err(why) => return failed(why.clone(), AttemptKind::Destination),
    };
    let now = now_ms();
    let timestamp = now / 1000;
    let keys = match target.signing_keys(now) {
        Ok(keys) => keys,
        Err(why) => return failed(why, AttemptKind::Signing),
    };
    if keys.is_empty() {
        return failed(
            "the subscription has no valid signing secret".into(),
            AttemptKind::Signing,
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
        return failed(
            "event id is not a valid header value".into(),
            AttemptKind::Signing,
        );
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
                AttemptKind::Timeout
            } else if e.is_connect() {
                AttemptKind::Connect
            } else {
                AttemptKind::Request
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
            kind: AttemptKind::HttpStatus,
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

/// Turns the ending into a [`Settlement`], stores it through the group-commit writer and
/// reports the attempt.
async fn settle(
    state: &Context,
    job: &Job,
    at: i64,
    duration: Duration,
    ending: Ending,
    request: Option<SentRequest>,
) -> anyhow::Result<()> {
    let attempts = job.attempt_count + 1;
    let now = now_ms();
    let row =
        |status_code: Option<i64>, error: String, kind: AttemptKind, response: Option<String>| {
            Some(AttemptRecord {
                status_code,
                error: Some(storable(bounded(error, MAX_ERROR_BYTES))),
                kind: Some(kind),
                response: response.map(storable),
            })
        };
    let mut skip_reason = None;
    let mut gone = false;
    // What the attempt says of the endpoint: it took a request, or it failed one.
    let endpoint_ok = match &ending {
        Ending::Delivered { .. } => Some(true),
        Ending::Failed { .. } => Some(false),
        _ => None,
    };
    let (status, next_attempt_at, attempt) = match ending {
        Ending::Delivered { status, response } => {
            let ok = AttemptRecord {
                status_code: Some(status as i64),
                error: None,
                kind: None,
                response: Some(storable(response)),
            };
            (DeliveryStatus::Succeeded, None, Some(ok))
        }
        Ending::Skipped(reason) => {
            skip_reason = Some(storable(bounded(reason, MAX_ERROR_BYTES)));
            (DeliveryStatus::Skipped, None, None)
        }
        Ending::Abandoned(why) => (
            DeliveryStatus::Failed,
            None,
            row(None, why, AttemptKind::Abandoned, None),
        ),
        Ending::PayloadDeleted(why) => (
            DeliveryStatus::Failed,
            None,
            row(None, why, AttemptKind::PayloadDeleted, None),
        ),
        Ending::Gone { response } => {
            gone = true;
            let why = "the endpoint answered 410 Gone; subscription disabled".to_owned();
            (
                DeliveryStatus::Failed,
                None,
                row(Some(410), why, AttemptKind::Gone, Some(response)),
            )
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
                Some(delay) => (DeliveryStatus::Pending, Some(at_after(now, delay)), attempt),
                None => (DeliveryStatus::Failed, None, attempt),
            }
        }
    };
    let outcome = match status {
        DeliveryStatus::Succeeded => Reported::Succeeded,
        DeliveryStatus::Skipped => Reported::Skipped,
        DeliveryStatus::Pending => Reported::Retrying,
        DeliveryStatus::Failed => Reported::Failed,
    };
    let kind = attempt.as_ref().and_then(|a| a.kind);
    let status_code = attempt.as_ref().and_then(|a| a.status_code);
    let attempt_count = if attempt.is_some() {
        attempts
    } else {
        job.attempt_count
    };
    let exhausted = endpoint_ok == Some(false) && status == DeliveryStatus::Failed;
    let last_error = attempt
        .as_ref()
        .and_then(|a| a.error.clone())
        .unwrap_or_default();
    let (health, subject) = health(state, job, endpoint_ok).await;
    let (disable, failed_event) = if gone || exhausted {
        consequences(state, job, at, now, gone, exhausted, &last_error).await
    } else {
        (None, None)
    };
    let settlement = Settlement {
        delivery_id: job.delivery_id.clone(),
        subscription_id: job.subscription_id.clone(),
        at,
        duration_ms: duration.as_millis() as i64,
        status,
        attempt_count,
        next_attempt_at,
        attempt,
        skip_reason,
        health,
        disable,
        failed_event,
        request_headers: request
            .as_ref()
            .map(|r| serde_json::to_string(&r.headers).unwrap_or_default()),
        request,
    };
    let stops = settlement.disable.is_some();
    let emits = settlement.emits();
    if let Err(e) = state.writer.settle(settlement).await {
        // Stored text is made storable (`storable`), so this should not happen; if the
        // database still refuses the record, the outcome is kept without its details rather
        // than sending the delivery again. If even that fails the claim is left to lapse: the
        // lease is the back-off, never an immediate re-send.
        metrics::counter!("krog_settlement_failures_total").increment(1);
        tracing::error!(delivery = %job.delivery_id, error = %e, "recording an attempt failed; recording it without its details");
        let bare = Settlement {
            delivery_id: job.delivery_id.clone(),
            subscription_id: job.subscription_id.clone(),
            at,
            duration_ms: duration.as_millis() as i64,
            status,
            attempt_count,
            next_attempt_at,
            attempt: Some(AttemptRecord {
                status_code: None,
                error: Some(
                    "the details of this attempt could not be stored and were dropped".into(),
                ),
                kind: Some(kind.unwrap_or(AttemptKind::Unrecorded)),
                response: None,
            }),
            skip_reason: None,
            health,
            // Without its details, the settlement keeps a 410's stop but leaves out the
            // operational events (and a stop for failing, which the next exhausted delivery
            // decides again).
            disable: gone.then_some(Disable {
                reason: DisabledReason::Gone,
                failing_before: None,
                announce: None,
            }),
            failed_event: None,
            request: None,
            request_headers: None,
        };
        state.writer.settle(bare).await?;
    }
    // What this node knows of the subscription follows what was stored: its failing
    // streak in place (no reload), a stop by a reload here and on every node.
    match (health, &subject) {
        (Health::StartsFailing, Some(target)) => target.set_failing_since(Some(at)),
        (Health::Recovered, Some(target)) => target.set_failing_since(None),
        _ => {}
    }
    if stops {
        state.directory.invalidate();
    }
    if emits {
        state.queue.wake_scheduler();
    }
    report::attempt(&Attempted {
        tenant: &job.tenant_id,
        subscription: &job.subscription_id,
        delivery: &job.delivery_id,
        attempt: attempts,
        outcome,
        kind,
        status_code,
        retry_in: next_attempt_at.map(|at| Duration::from_millis(at.saturating_sub(now) as u64)),
        duration,
    });
    if next_attempt_at.is_some() {
        state.queue.wake_scheduler();
    }
    Ok(())
}

/// What the settlement must write of the subscription's health, judged by what this node's
/// directory knows now (not the job's copy, which may predate a reload): a failure of a
/// subscription not known to be failing starts the count, a success of one known to be
/// failing ends it, and anything else writes nothing. Beside it, the subscription as the
/// directory holds it, to record the change in once it is stored.
async fn health(
    state: &Context,
    job: &Job,
    endpoint_ok: Option<bool>,
) -> (Health, Option<Arc<Target>>) {
    let Some(ok) = endpoint_ok else {
        return (Health::Unchanged, None);
    };
    let current = match state.directory.routes(&job.tenant_id).await {
        Ok(Some(routes)) => routes.target(&job.subscription_id).cloned(),
        _ => job.target.clone(),
    };
    let Some(target) = current else {
        return (Health::Unchanged, None);
    };
    let health = match (ok, target.failing_since()) {
        (true, Some(_)) => Health::Recovered,
        (false, None) => Health::StartsFailing,
        _ => Health::Unchanged,
    };
    (health, Some(target))
}

/// What a 410 or a delivery failed for good causes: the subscription stopped (`gone`, or
/// `failing` if it has failed for `KROG_DISABLE_AFTER` — decided in the writer's transaction),
/// and the operational events about it, to the tenant's subscriptions that listen to them. A
/// delivery of an operational event causes no operational event, so that two subscriptions
/// listening to each other's failures cannot feed each other.
async fn consequences(
    state: &Context,
    job: &Job,
    at: i64,
    now: i64,
    gone: bool,
    exhausted: bool,
    last_error: &str,
) -> (Option<Disable>, Option<Emitted>) {
    let quiet = krog_rules::is_operational(job.event.event_type);
    let routes = match state.directory.routes(&job.tenant_id).await {
        Ok(routes) => routes,
        Err(e) => {
            tracing::warn!(tenant = %job.tenant_id, error = %e, "the subscriptions could not be read; no operational event is emitted");
            None
        }
    };
    let subject = routes
        .as_ref()
        .and_then(|r| r.target(&job.subscription_id).cloned())
        .or_else(|| job.target.clone());
    let emit = |event_type: &'static str, data: String| -> Option<Emitted> {
        if quiet {
            return None;
        }
        let targets: Vec<String> = routes
            .as_ref()?
            .targets
            .iter()
            .filter(|t| t.enabled && t.id != job.subscription_id && t.listens_to(event_type))
            .map(|t| t.id.clone())
            .collect();
        // Nobody listens: nothing is stored.
        if targets.is_empty() {
            return None;
        }
        Some(Emitted {
            tenant: job.tenant_id.to_string(),
            event: Event {
                id: new_id("evt_krog"),
                event_type,
                timestamp: rfc3339(now),
                data,
            },
            delivery_ids: targets.iter().map(|_| new_id("dlv")).collect(),
            targets,
        })
    };
    let failed_event = exhausted
        .then(|| {
            let data = DeliveryFailed {
                delivery_id: &job.delivery_id,
                event_id: &job.event.id,
                subscription_id: &job.subscription_id,
                last_error,
            };
            emit(
                operational::DELIVERY_FAILED,
                serde_json::to_string(&data).expect("serializable"),
            )
        })
        .flatten();
    let reason = if gone {
        DisabledReason::Gone
    } else {
        DisabledReason::Failing
    };
    let since = match reason {
        DisabledReason::Failing => subject
            .as_ref()
            .and_then(|t| t.failing_since())
            .unwrap_or(at),
        _ => at,
    };
    let (description, host) = subject
        .as_ref()
        .map_or(("", ""), |t| (t.description.as_str(), t.host.as_str()));
    let data = SubscriptionDisabled {
        subscription_id: &job.subscription_id,
        description,
        destination_host: host,
        reason,
        since: rfc3339(since),
    };
    let announce = emit(
        operational::SUBSCRIPTION_DISABLED,
        serde_json::to_string(&data).expect("serializable"),
    );
    let cutoff = now
        .saturating_sub(i64::try_from(state.config.disable_after.as_millis()).unwrap_or(i64::MAX));
    let disable = Disable {
        reason,
        failing_before: (!gone).then_some(cutoff),
        announce,
    };
    (Some(disable), failed_event)
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
