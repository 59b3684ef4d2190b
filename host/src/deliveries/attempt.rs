//! One delivery attempt: transform (in the sandbox), sign, POST, record. Whatever happens —
//! a plugin failure, a refused destination, a timeout — ends as a recorded attempt and a
//! settled or rescheduled delivery, never a lost one.

use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::db::{new_id, now_ms};
use crate::modules::{ModuleRef, compiled, find_version};
use crate::runtime::{EventInput, Outcome};
use crate::signing::{SigningKey, signature};
use crate::state::AppState;
use crate::subscriptions::Transform;

/// How much of a response body is kept on the attempt.
const RESPONSE_KEEP: usize = 1024;

#[derive(sqlx::FromRow)]
struct Job {
    status: String,
    attempt_count: i64,
    tenant_id: String,
    event_id: String,
    subscription_id: String,
    event_type: String,
    timestamp: String,
    data: String,
    url: Option<String>,
    transform: Option<String>,
    enabled: Option<i64>,
}

/// The request to send.
pub struct Request {
    content_type: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
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
    },
    /// The subscriber said 410 Gone: stop and disable the subscription.
    Gone {
        response: String,
    },
    /// Nothing to send to any more (subscription deleted or disabled).
    Abandoned(String),
}

/// What an attempt row records besides its time and duration.
pub struct AttemptRow {
    status_code: Option<i64>,
    error: Option<String>,
    kind: Option<&'static str>,
    response: Option<String>,
}

/// Runs one attempt of delivery `id`, if it is still pending.
pub async fn run(state: &AppState, id: &str) -> anyhow::Result<()> {
    let job: Option<Job> = sqlx::query_as(
        "SELECT d.status, d.attempt_count, d.tenant_id, d.event_id, d.subscription_id, \
         e.event_type, e.timestamp, e.data, s.url, s.transform, s.enabled \
         FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
         LEFT JOIN subscriptions s ON s.id = d.subscription_id WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(state.db.pool())
    .await?;
    let Some(job) = job else { return Ok(()) };
    if job.status != "pending" {
        return Ok(());
    }
    let started = Instant::now();
    let at = now_ms();
    let (ending, request) = attempt(state, &job).await;
    let duration = started.elapsed();
    record(state, id, &job, at, duration, ending, request).await
}

async fn attempt(state: &AppState, job: &Job) -> (Ending, Option<Request>) {
    let Some(url) = &job.url else {
        return (
            Ending::Abandoned("the subscription was deleted".into()),
            None,
        );
    };
    if job.enabled == Some(0) {
        return (
            Ending::Abandoned("the subscription is disabled".into()),
            None,
        );
    }
    let request = match &job.transform {
        None => envelope(job),
        Some(transform) => match run_transform(state, job, transform).await {
            Ok(Outcome::Skip { reason }) => return (Ending::Skipped(reason), None),
            Ok(Outcome::Deliver {
                content_type,
                headers,
                body,
            }) => Request {
                content_type,
                headers,
                body,
            },
            Err((kind, error)) => {
                metrics::counter!("krog_plugin_errors_total", "kind" => kind).increment(1);
                let ending = Ending::Failed {
                    status: None,
                    error,
                    kind,
                    response: None,
                    retry_after: None,
                };
                return (ending, None);
            }
        },
    };
    let ending = send(state, job, url, &request).await;
    (ending, Some(request))
}

/// Without a transform the body is the event envelope; `data` is spliced in as received.
fn envelope(job: &Job) -> Request {
    let mut body = Vec::with_capacity(job.data.len() + 96);
    body.extend_from_slice(b"{\"type\":");
    serde_json::to_writer(&mut body, &job.event_type).expect("strings serialize");
    body.extend_from_slice(b",\"timestamp\":");
    serde_json::to_writer(&mut body, &job.timestamp).expect("strings serialize");
    body.extend_from_slice(b",\"data\":");
    body.extend_from_slice(job.data.as_bytes());
    body.push(b'}');
    Request {
        content_type: "application/json".into(),
        headers: Vec::new(),
        body,
    }
}

async fn run_transform(
    state: &AppState,
    job: &Job,
    transform: &str,
) -> Result<Outcome, (&'static str, String)> {
    let transform: Transform = serde_json::from_str(transform).map_err(|e| {
        (
            "invalid_module",
            format!("stored transform is unreadable: {e}"),
        )
    })?;
    let module = ModuleRef::parse(&transform.module, &job.tenant_id, transform.version)
        .map_err(|e| ("invalid_module", e.to_string()))?;
    let version = find_version(&state.db, &module)
        .await
        .map_err(|e| ("invalid_module", e.to_string()))?;
    let compiled = compiled(&state.db, &state.runtime, &version.sha256)
        .await
        .map_err(|e| ("invalid_module", e.to_string()))?;
    let input = EventInput {
        id: job.event_id.clone(),
        event_type: job.event_type.clone(),
        timestamp: job.timestamp.clone(),
        tenant: job.tenant_id.clone(),
        data: job.data.clone(),
    };
    let config = transform.config.to_string();
    let runtime = state.runtime.clone();
    let result = tokio::task::spawn_blocking(move || runtime.transform(&compiled, &input, &config))
        .await
        .map_err(|e| ("trap", format!("the plugin call did not complete: {e}")))?;
    match result {
        Ok(execution) => Ok(execution.outcome),
        Err(failure) => Err((
            failure.kind.as_str(),
            format!(
                "plugin error ({}): {}",
                failure.kind.as_str(),
                failure.message
            ),
        )),
    }
}

async fn send(state: &AppState, job: &Job, url: &str, request: &Request) -> Ending {
    let failed = |error: String, kind: &'static str| Ending::Failed {
        status: None,
        error,
        kind,
        response: None,
        retry_after: None,
    };
    // Checked again here, not only at create: IP literals never reach the guarded resolver.
    let parsed = match crate::destinations::check_url(url, &state.config) {
        Ok(url) => url,
        Err(why) => return failed(why, "destination"),
    };
    let timestamp = now_ms() / 1000;
    let keys = match signing_keys(state, &job.subscription_id).await {
        Ok(keys) if !keys.is_empty() => keys,
        Ok(_) => {
            return failed(
                "the subscription has no valid signing secret".into(),
                "signing",
            );
        }
        Err(e) => return failed(format!("could not read signing secrets: {e}"), "internal"),
    };
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
    let sig = signature(&keys, &job.event_id, timestamp, &request.body);
    let (Ok(id), Ok(sig)) = (
        HeaderValue::try_from(job.event_id.as_str()),
        HeaderValue::try_from(sig),
    ) else {
        return failed("event id is not a valid header value".into(), "signing");
    };
    headers.insert("webhook-id", id);
    headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
    headers.insert("webhook-signature", sig);

    let response = state
        .http
        .post(parsed)
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

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let ms = when.timestamp_millis() - now_ms();
    Some(Duration::from_millis(ms.max(0) as u64))
}

async fn signing_keys(
    state: &AppState,
    subscription: &str,
) -> Result<Vec<SigningKey>, sqlx::Error> {
    let secrets: Vec<(String,)> = sqlx::query_as(
        "SELECT secret FROM subscription_secrets WHERE subscription_id = $1 \
         AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at DESC",
    )
    .bind(subscription)
    .bind(now_ms())
    .fetch_all(state.db.pool())
    .await?;
    Ok(secrets
        .iter()
        .filter_map(|(s,)| SigningKey::parse(s))
        .collect())
}

/// The delay before attempt number `attempts + 1`, with ±20 % jitter, at least `retry_after`;
/// `None` when the schedule is exhausted.
fn next_delay(
    schedule: &[Duration],
    attempts: i64,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let base = *schedule.get(usize::try_from(attempts - 1).ok()?)?;
    let jitter = rand::rng().random_range(0.8..=1.2);
    let delay = base.mul_f64(jitter);
    Some(match retry_after {
        Some(after) => delay.max(after),
        None => delay,
    })
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
}

async fn record(
    state: &AppState,
    id: &str,
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
                error: Some(error),
                kind: Some(kind),
                response,
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
                    response: Some(response),
                };
                ("succeeded", None, Some(ok))
            }
            Ending::Skipped(reason) => {
                skip_reason = Some(reason);
                ("skipped", None, None)
            }
            Ending::Abandoned(why) => ("failed", None, row(None, why, "abandoned", None)),
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
            } => {
                let attempt = row(status.map(i64::from), error, kind, response);
                match next_delay(&state.config.retry_schedule, attempts, retry_after) {
                    Some(delay) => ("pending", Some(now + delay.as_millis() as i64), attempt),
                    None => ("failed", None, attempt),
                }
            }
        };
    let settlement = Settlement {
        delivery_id: id.to_owned(),
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
        request,
    };
    state.writer.settle(settlement).await?;
    metrics::counter!("krog_delivery_attempts_total", "status" => status).increment(1);
    metrics::histogram!("krog_delivery_attempt_seconds").record(duration.as_secs_f64());
    if next_attempt_at.is_some() {
        state.queue.wake_scheduler();
    }
    Ok(())
}

impl Settlement {
    /// Whether another attempt is scheduled (to announce to other nodes).
    pub fn retries(&self) -> bool {
        self.next_attempt_at.is_some()
    }

    /// Stores the settlement inside the writer's transaction.
    pub async fn apply(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        node: &str,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        if self.disable_subscription {
            sqlx::query("UPDATE subscriptions SET enabled = 0, disabled_reason = $1, updated_at = $2 WHERE id = $3")
                .bind("the endpoint answered 410 Gone")
                .bind(now)
                .bind(&self.subscription_id)
                .execute(&mut **tx)
                .await?;
        }
        if let Some(AttemptRow {
            status_code,
            error,
            kind,
            response,
        }) = &self.attempt
        {
            sqlx::query(
                "INSERT INTO attempts (id, delivery_id, at, duration_ms, status_code, error, error_kind, response, node) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(new_id("att"))
            .bind(&self.delivery_id)
            .bind(self.at)
            .bind(self.duration_ms)
            .bind(*status_code)
            .bind(error.as_deref())
            .bind(*kind)
            .bind(response.as_deref())
            .bind(node)
            .execute(&mut **tx)
            .await?;
        }
        // The request is kept when there was one; COALESCE keeps the last one otherwise.
        let (content_type, headers, body) = match &self.request {
            Some(r) => (
                Some(r.content_type.as_str()),
                Some(serde_json::to_string(&r.headers).unwrap_or_default()),
                Some(r.body.as_slice()),
            ),
            None => (None, None, None),
        };
        sqlx::query(
            "UPDATE deliveries SET status = $1, attempt_count = $2, next_attempt_at = $3, \
             claimed_until = NULL, claimed_by = NULL, updated_at = $4, skip_reason = COALESCE($5, skip_reason), \
             request_content_type = COALESCE($6, request_content_type), \
             request_headers = COALESCE($7, request_headers), request_body = COALESCE($8, request_body) \
             WHERE id = $9",
        )
        .bind(self.status)
        .bind(self.attempt_count)
        .bind(self.next_attempt_at)
        .bind(now)
        .bind(self.skip_reason.as_deref())
        .bind(content_type)
        .bind(headers)
        .bind(body)
        .bind(&self.delivery_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
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
        let schedule = [Duration::from_millis(10)];
        let delay = next_delay(&schedule, 1, Some(Duration::from_secs(2))).unwrap();
        assert_eq!(delay, Duration::from_secs(2));
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
