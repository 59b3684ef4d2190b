//! How the console names things for people: what an integration is, where it goes, its
//! state, events and delivery results in plain words, times in Danish time.

use chrono::TimeZone as _;

use super::lang::Texts;
use crate::api::subscriptions::Subscription;
use crate::model::DisabledReason;

/// The booking events, then krog's operational events, in the order forms list them.
pub fn event_types() -> impl Iterator<Item = &'static str> {
    krog_rules::EVENT_TYPES
        .into_iter()
        .chain(krog_rules::OPERATIONAL_EVENT_TYPES)
}

/// Whether `event_type` is one of krog's own operational events.
pub fn is_operational(event_type: &str) -> bool {
    krog_rules::is_operational(event_type)
}

/// An event type in plain words.
pub fn event_words(t: &Texts, event_type: &str) -> String {
    match event_type {
        "booking.created" => t.event_created.into(),
        "booking.updated" => t.event_updated.into(),
        "booking.deleted" => t.event_deleted.into(),
        "krog.subscription.disabled" => t.event_subscription_disabled.into(),
        "krog.delivery.failed" => t.event_delivery_failed.into(),
        other => other.into(),
    }
}

/// What an integration is: Slack, Google Sheets, Webhook, or its module's name.
pub fn kind_label(t: &Texts, subscription: &Subscription) -> String {
    match subscription.transform.as_ref().map(|tr| tr.module.as_str()) {
        None => t.kind_webhook.into(),
        Some(module) => module_label(module),
    }
}

/// A module's name as the console shows it.
pub fn module_label(module: &str) -> String {
    match module {
        "slack" => "Slack".into(),
        "sheets" => "Google Sheets".into(),
        "teams" => "Microsoft Teams".into(),
        other => other.strip_prefix("tenant:").unwrap_or(other).to_owned(),
    }
}

/// The integration's name: its description, else what it is.
pub fn name(t: &Texts, subscription: &Subscription) -> String {
    if subscription.description.trim().is_empty() {
        kind_label(t, subscription)
    } else {
        subscription.description.clone()
    }
}

/// The host of a URL only: the rest of it may be a secret (a Slack webhook path, an Apps
/// Script deployment id).
pub fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether, and why not, an integration delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// It delivers.
    Active,
    /// Someone paused it.
    Paused,
    /// krog stopped it: its receiver kept failing.
    Failing,
    /// krog stopped it: its receiver answered 410 Gone.
    Gone,
}

impl State {
    /// The state of `subscription`.
    pub fn of(subscription: &Subscription) -> State {
        if subscription.enabled {
            return State::Active;
        }
        match subscription.disabled_reason {
            Some(DisabledReason::Failing) => State::Failing,
            Some(DisabledReason::Gone) => State::Gone,
            Some(DisabledReason::Paused) | None => State::Paused,
        }
    }

    /// In plain words.
    pub fn words(self, t: &Texts) -> &'static str {
        match self {
            State::Active => t.state_active,
            State::Paused => t.state_paused,
            State::Failing => t.state_failing,
            State::Gone => t.state_gone,
        }
    }

    /// A CSS class for it.
    pub fn class(self) -> &'static str {
        match self {
            State::Active => "state-active",
            State::Paused => "state-paused",
            State::Failing | State::Gone => "state-stopped",
        }
    }

    /// Whether krog stopped it (not a person).
    pub fn stopped_by_krog(self) -> bool {
        matches!(self, State::Failing | State::Gone)
    }
}

/// A delivery status in plain words.
pub fn status_words(t: &Texts, status: &str) -> &'static str {
    match status {
        "pending" => t.status_pending,
        "succeeded" => t.status_succeeded,
        "failed" => t.status_failed,
        "skipped" => t.status_skipped,
        _ => t.error_other,
    }
}

/// What went wrong in an attempt, in plain words: by its kind, with the status code when the
/// receiver answered.
pub fn attempt_error(t: &Texts, kind: Option<&str>, status_code: Option<i64>) -> String {
    match (kind, status_code) {
        (_, Some(code)) if !(200..300).contains(&code) => (t.error_http_status)(code),
        (Some("timeout"), _) => t.error_timeout.into(),
        (Some("connect"), _) => t.error_connect.into(),
        (Some("http_status"), _) => t.error_other.into(),
        (Some(_), _) => t.error_plugin.into(),
        (None, _) => String::new(),
    }
}

/// A time (ms since the epoch) in Danish time, `2026-12-03 14:05`.
pub fn time(ms: i64) -> String {
    chrono_tz::Europe::Copenhagen
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// An RFC 3339 time in Danish time.
pub fn time_of(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| time(t.timestamp_millis()))
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// `text` with every URL in it cut to its host: a receiver's URL may carry a secret in its
/// path (a Slack webhook, an Apps Script deployment), and error messages quote it.
pub fn without_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = [rest.find("http://"), rest.find("https://")]
        .into_iter()
        .flatten()
        .min()
    {
        out.push_str(&rest[..start]);
        let length = rest[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .unwrap_or(rest.len() - start);
        let cut = host(&rest[start..start + length]);
        out.push_str(if cut.is_empty() { "…" } else { &cut });
        rest = &rest[start + length..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_an_error_are_cut_to_their_host() {
        assert_eq!(
            without_urls(
                "error sending request for url (https://hooks.slack.com/services/T0/B0/x)"
            ),
            "error sending request for url (hooks.slack.com)"
        );
        assert_eq!(without_urls("no url here"), "no url here");
    }
}
