//! The export of everything stored about a tenant as JSON Lines, read a page at a time.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{Erasure, format_retention};
use crate::store::{self, Db, rfc3339};

/// Rows read per query by the export.
const EXPORT_PAGE: i64 = 200;

/// The export of the tenant's data as a streamed body; a failure ends the stream with an
/// error (the client sees a cut-off file without its `end` line) and is logged.
pub(super) fn stream(db: Db, tenant: String) -> Body {
    let start = Export {
        db,
        tenant,
        phase: Phase::Tenant,
        counts: HashMap::new(),
    };
    let stream = futures_util::stream::unfold(start, |mut export| async move {
        loop {
            if matches!(export.phase, Phase::Done) {
                return None;
            }
            match export.next_chunk().await {
                Ok(Some(chunk)) => return Some((Ok::<Bytes, std::io::Error>(chunk), export)),
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, tenant = %export.tenant, "export failed");
                    export.phase = Phase::Done;
                    return Some((Err(std::io::Error::other("export failed")), export));
                }
            }
        }
    });
    Body::from_stream(stream)
}

/// Where the export is.
#[derive(Clone)]
enum Phase {
    Tenant,
    Subscriptions(String),
    Modules,
    Events(String),
    Deliveries(String),
    Erasures,
    End,
    Done,
}

struct Export {
    db: Db,
    tenant: String,
    phase: Phase,
    counts: HashMap<&'static str, i64>,
}

fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

impl Export {
    fn line(&mut self, out: &mut Vec<u8>, kind: &'static str, mut value: Value) {
        value["kind"] = Value::from(kind);
        serde_json::to_writer(&mut *out, &value).expect("JSON values serialize");
        out.push(b'\n');
        *self.counts.entry(kind).or_default() += 1;
    }

    /// The next page of lines (`None`: this phase had nothing more; go on).
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, store::Error> {
        let db = self.db.clone();
        let tenant = self.tenant.clone();
        let mut out = Vec::new();
        match self.phase.clone() {
            Phase::Tenant => {
                let row = store::export::tenant(&db, &tenant).await?;
                if let Some((id, name, created_at, retention)) = row {
                    self.line(
                        &mut out,
                        "tenant",
                        json!({"id": id, "name": name, "created_at": rfc3339(created_at),
                               "retention": retention.map(format_retention)}),
                    );
                }
                self.phase = Phase::Subscriptions(String::new());
            }
            Phase::Subscriptions(after) => {
                let rows = store::export::subscriptions(&db, &tenant, &after, EXPORT_PAGE).await?;
                self.phase = match rows.last() {
                    Some(last) => Phase::Subscriptions(last.id.clone()),
                    None => Phase::Modules,
                };
                for s in rows {
                    self.line(
                        &mut out,
                        "subscription",
                        json!({"id": s.id, "url": s.url, "event_types": json_text(&s.event_types),
                               "transform": s.transform.as_deref().map(json_text),
                               "enabled": s.enabled != 0, "description": s.description,
                               "disabled_reason": s.disabled_reason,
                               "disabled_at": s.disabled_at.map(rfc3339),
                               "created_at": rfc3339(s.created_at), "updated_at": rfc3339(s.updated_at)}),
                    );
                }
            }
            Phase::Modules => {
                let rows = store::export::modules(&db, &tenant).await?;
                for m in rows {
                    self.line(
                        &mut out,
                        "module",
                        json!({"name": m.name, "version": m.version, "sha256": m.sha256,
                               "size": m.size, "info": json_text(&m.info),
                               "created_at": rfc3339(m.created_at)}),
                    );
                }
                self.phase = Phase::Events(String::new());
            }
            Phase::Events(after) => {
                let rows = store::export::events(&db, &tenant, &after, EXPORT_PAGE).await?;
                self.phase = match rows.last() {
                    Some(last) => Phase::Events(last.id.clone()),
                    None => Phase::Deliveries(String::new()),
                };
                for e in rows {
                    let data = match &e.payload_deleted_note {
                        Some(_) => Value::Null,
                        None => json_text(&e.data),
                    };
                    self.line(
                        &mut out,
                        "event",
                        json!({"id": e.id, "type": e.event_type, "timestamp": e.timestamp,
                               "received_at": rfc3339(e.created_at), "data": data,
                               "payload_deleted": e.payload_deleted_note}),
                    );
                }
            }
            Phase::Deliveries(after) => {
                let (rows, attempts) =
                    store::export::deliveries(&db, &tenant, &after, EXPORT_PAGE).await?;
                let Some(last) = rows.last() else {
                    self.phase = Phase::Erasures;
                    return Ok(None);
                };
                self.phase = Phase::Deliveries(last.id.clone());
                let mut by_delivery: HashMap<String, Vec<Value>> = HashMap::new();
                for a in attempts {
                    by_delivery.entry(a.delivery_id).or_default().push(json!({
                        "at": rfc3339(a.at), "duration_ms": a.duration_ms,
                        "status_code": a.status_code, "error": a.error, "kind": a.error_kind,
                        "response": a.response,
                    }));
                }
                for d in rows {
                    let request = d.request_content_type.map(|content_type| {
                        let mut request = json!({
                            "content_type": content_type,
                            "headers": d.request_headers.as_deref().map(json_text),
                        });
                        match d.request_body {
                            Some(body) => match String::from_utf8(body) {
                                Ok(text) => request["body"] = Value::from(text),
                                Err(e) => {
                                    request["body_base64"] = Value::from(
                                        base64::engine::general_purpose::STANDARD
                                            .encode(e.into_bytes()),
                                    )
                                }
                            },
                            // The body was the event's envelope: see the event's line.
                            None if d.payload_deleted_note.is_none() => {
                                request["body_is_event_envelope"] = Value::from(true)
                            }
                            None => {}
                        }
                        request
                    });
                    let attempts = by_delivery.remove(&d.id).unwrap_or_default();
                    self.line(
                        &mut out,
                        "delivery",
                        json!({"id": d.id, "event_id": d.event_id,
                               "subscription_id": d.subscription_id, "status": d.status,
                               "attempt_count": d.attempt_count, "skip_reason": d.skip_reason,
                               "next_attempt_at": d.next_attempt_at.map(rfc3339),
                               "request": request, "payload_deleted": d.payload_deleted_note,
                               "attempts": attempts,
                               "created_at": rfc3339(d.created_at), "updated_at": rfc3339(d.updated_at)}),
                    );
                }
            }
            Phase::Erasures => {
                let rows = store::privacy::erasures(&db, &tenant).await?;
                for r in rows.into_iter().map(Erasure::from) {
                    let value = serde_json::to_value(&r).expect("an erasure serializes");
                    self.line(&mut out, "erasure", value);
                }
                self.phase = Phase::End;
            }
            Phase::End => {
                let counts = json!(self.counts);
                self.line(&mut out, "end", json!({ "counts": counts }));
                self.phase = Phase::Done;
            }
            Phase::Done => return Ok(None),
        }
        Ok((!out.is_empty()).then(|| Bytes::from(out)))
    }
}
