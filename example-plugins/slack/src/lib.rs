//! `slack`: turns booking events into a Slack incoming-webhook message — a `text` summary plus
//! Block Kit `blocks` — in Danish or English, with times in the clinic's time zone and no client
//! contact details unless the config asks for them. krog's own operational events
//! (`krog.subscription.disabled`, `krog.delivery.failed`) are rendered too, as a short notice
//! in the same language ([`operational`]).

use std::borrow::Cow;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use chrono_tz::Tz;
use krog_sdk::{Booking, Error, Event, EventType, Location, Outcome, Plugin, Status, Value};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Slack formatter.
pub struct Slack;

/// Language of the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    /// Danish.
    #[default]
    Da,
    /// English.
    En,
}

/// Config of the `slack` plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SlackConfig {
    /// Language of labels, weekdays and months: `da` (Danish, the default) or `en` (English).
    pub locale: Locale,
    /// IANA time zone the booking times are shown in, e.g. `Europe/Copenhagen` (the default)
    /// or `Europe/Oslo`.
    pub timezone: String,
    /// Show the client's e-mail address and phone number. Off by default: the message names the
    /// client but carries no contact details.
    pub include_client_contact: bool,
    /// Show the booking's free-text notes. Off by default, as notes may hold sensitive details.
    pub include_notes: bool,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            locale: Locale::Da,
            timezone: "Europe/Copenhagen".to_string(),
            include_client_contact: false,
            include_notes: false,
        }
    }
}

impl Plugin for Slack {
    type Config = SlackConfig;
    const NAME: &str = "slack";
    const VERSION: &str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &str =
        "Posts bookings to a Slack channel through an incoming webhook (Danish or English).";

    fn transform(event: &Event, config: SlackConfig) -> Result<Outcome, Error> {
        let tz = Tz::from_str(config.timezone.trim()).map_err(|_| {
            Error::msg(format!(
                "invalid config at `timezone`: unknown time zone {:?} (use an IANA name such as \"Europe/Copenhagen\")",
                config.timezone
            ))
        })?;
        if let Some(message) = operational(event, Words::of(config.locale), tz) {
            return Ok(Outcome::deliver("application/json", message));
        }
        let message = Message {
            words: Words::of(config.locale),
            tz,
            config: &config,
        }
        .render(event);
        Ok(Outcome::deliver("application/json", message))
    }
}

krog_sdk::export!(Slack);

/// All the words of one language.
struct Words {
    locale: Locale,
    created: &'static str,
    updated: &'static str,
    deleted: &'static str,
    other_event: &'static str,
    when: &'static str,
    service: &'static str,
    therapist: &'static str,
    client: &'static str,
    location: &'static str,
    price: &'static str,
    status: &'static str,
    notes: &'static str,
    changes: &'static str,
    end: &'static str,
    start: &'static str,
    with: &'static str,
    minutes: &'static str,
    times_in: &'static str,
    online: &'static str,
    at: &'static str,
    weekdays: [&'static str; 7],
    months: [&'static str; 12],
}

const DA: Words = Words {
    locale: Locale::Da,
    created: "Ny booking",
    updated: "Booking ændret",
    deleted: "Booking aflyst",
    other_event: "Booking-hændelse",
    when: "Tid",
    service: "Ydelse",
    therapist: "Behandler",
    client: "Klient",
    location: "Sted",
    price: "Pris",
    status: "Status",
    notes: "Noter",
    changes: "Ændringer",
    start: "Start",
    end: "Slut",
    with: "med",
    minutes: "min.",
    times_in: "Tider i",
    online: "Online",
    at: "kl.",
    weekdays: [
        "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag",
    ],
    months: [
        "januar",
        "februar",
        "marts",
        "april",
        "maj",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "december",
    ],
};

const EN: Words = Words {
    locale: Locale::En,
    created: "New booking",
    updated: "Booking changed",
    deleted: "Booking cancelled",
    other_event: "Booking event",
    when: "When",
    service: "Service",
    therapist: "Therapist",
    client: "Client",
    location: "Location",
    price: "Price",
    status: "Status",
    notes: "Notes",
    changes: "Changes",
    start: "Start",
    end: "End",
    with: "with",
    minutes: "min",
    times_in: "Times in",
    online: "Online",
    at: "at",
    weekdays: [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
};

impl Words {
    fn of(locale: Locale) -> &'static Words {
        match locale {
            Locale::Da => &DA,
            Locale::En => &EN,
        }
    }

    fn status(&self, status: &Status) -> String {
        let (da, en) = match status {
            Status::Confirmed => ("Bekræftet", "Confirmed"),
            Status::Pending => ("Afventer", "Pending"),
            Status::Cancelled => ("Aflyst", "Cancelled"),
            Status::Completed => ("Gennemført", "Completed"),
            Status::NoShow => ("Udeblevet", "No-show"),
            Status::Other(s) => return s.clone(),
        };
        match self.locale {
            Locale::Da => da.to_string(),
            Locale::En => en.to_string(),
        }
    }

    /// The label of a changed field, localized where known.
    fn field<'a>(&self, name: &'a str) -> &'a str {
        match name {
            "start" => self.start,
            "end" => self.end,
            "status" => self.status,
            "service" => self.service,
            "therapist" => self.therapist,
            "client" => self.client,
            "location" => self.location,
            "notes" => self.notes,
            "price" => self.price,
            _ => name,
        }
    }

    /// `torsdag 3. december 2026` / `Thursday 3 December 2026`.
    fn push_date(&self, out: &mut String, t: &DateTime<Tz>) {
        out.push_str(self.weekdays[t.weekday().num_days_from_monday() as usize]);
        out.push(' ');
        push_number(out, t.day());
        if self.locale == Locale::Da {
            out.push('.');
        }
        out.push(' ');
        out.push_str(self.months[t.month0() as usize]);
        out.push(' ');
        // `{}` of an `i32` year, as `format!` writes it.
        let year = t.year();
        if year < 0 {
            out.push('-');
        }
        push_number(out, year.unsigned_abs());
    }

    /// `torsdag 3. december 2026 kl. 14:00`.
    fn date_time(&self, t: &DateTime<Tz>) -> String {
        let mut out = String::with_capacity(48);
        self.push_date(&mut out, t);
        out.push(' ');
        out.push_str(self.at);
        out.push(' ');
        push_clock(&mut out, t);
        out
    }

    /// Amount in minor units: `950,00 kr.` (da, DKK), `DKK 950.00` (en).
    fn price(&self, amount: i64, currency: &str) -> String {
        let without_minor_units = ["ISK", "JPY", "KRW", "CLP", "VND"];
        let decimals = if without_minor_units
            .iter()
            .any(|c| currency.eq_ignore_ascii_case(c))
        {
            0
        } else {
            2
        };
        let (decimal, group) = match self.locale {
            Locale::Da => (',', '.'),
            Locale::En => ('.', ','),
        };
        let number = format_minor(amount, decimals, decimal, group);
        let mut out = String::with_capacity(number.len() + currency.len() + 4);
        match (self.locale, currency.eq_ignore_ascii_case("DKK")) {
            (Locale::Da, true) => {
                out.push_str(&number);
                out.push_str(" kr.");
            }
            (Locale::Da, false) => {
                out.push_str(&number);
                out.push(' ');
                out.push_str(currency);
            }
            (Locale::En, _) => {
                out.push_str(currency);
                out.push(' ');
                out.push_str(&number);
                if out.trim().len() != out.len() {
                    return out.trim().to_string();
                }
            }
        }
        out
    }
}

/// `14:05`: hours and minutes, two digits each.
fn push_clock(out: &mut String, t: &DateTime<Tz>) {
    push_two_digits(out, t.hour());
    out.push(':');
    push_two_digits(out, t.minute());
}

fn push_two_digits(out: &mut String, n: u32) {
    if n < 10 {
        out.push('0');
    }
    push_number(out, n);
}

/// Appends `n` in decimal, as `{}` formats it.
fn push_number(out: &mut String, n: impl Into<u64>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n: u64 = n.into();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// Formats an amount in minor units with `decimals` decimals and grouped thousands.
fn format_minor(amount: i64, decimals: u32, decimal: char, group: char) -> String {
    let abs = amount.unsigned_abs();
    let unit = 10u64.pow(decimals);
    let (whole, frac) = (abs / unit, abs % unit);
    let mut digits = String::with_capacity(20);
    push_number(&mut digits, whole);
    let mut out = String::with_capacity(32);
    if amount < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(group);
        }
        out.push(c);
    }
    if decimals > 0 {
        out.push(decimal);
        digits.clear();
        push_number(&mut digits, frac);
        for _ in digits.len()..decimals as usize {
            out.push('0');
        }
        out.push_str(&digits);
    }
    out
}

/// A Slack message for one of krog's operational events (`None` for any other event): a header,
/// the notice, and the ids for looking it up in krog.
fn operational(event: &Event, w: &Words, tz: Tz) -> Option<Vec<u8>> {
    let data = event.data();
    let text = |key: &str| data[key].as_str().unwrap_or_default();
    let (title, notice, context) = match event.event_type.as_str() {
        "krog.subscription.disabled" => {
            let host = match text("destination_host") {
                "" => "?",
                host => host,
            };
            let host = escape(host);
            let since = parse_time(text("since"), tz).map(|t| w.date_time(&t));
            let since = since.as_deref().unwrap_or_else(|| text("since"));
            let notice = match (w.locale, text("reason")) {
                (Locale::Da, "gone") => format!(
                    "Integrationen til {host} er stoppet: modtageren svarede, at adressen ikke findes længere (410 Gone)."
                ),
                (Locale::Da, "paused") => format!("Integrationen til {host} er sat på pause."),
                (Locale::Da, _) => format!(
                    "Integrationen til {host} er stoppet: den har fejlet siden {since}. Start den igen, når modtageren virker; det, der fejlede, kan sendes igen."
                ),
                (Locale::En, "gone") => format!(
                    "The integration to {host} was stopped: the receiver answered that the address is gone (410 Gone)."
                ),
                (Locale::En, "paused") => format!("The integration to {host} was paused."),
                (Locale::En, _) => format!(
                    "The integration to {host} was stopped: it has been failing since {since}. Start it again once the receiver works; what failed can be sent again."
                ),
            };
            let notice = match text("description").trim() {
                "" => notice,
                description => format!("{notice}\n_{}_", escape(description)),
            };
            let title = match w.locale {
                Locale::Da => "Integration stoppet",
                Locale::En => "Integration stopped",
            };
            (
                title,
                notice,
                format!("`{}`", escape(text("subscription_id"))),
            )
        }
        "krog.delivery.failed" => {
            let error = escape(text("last_error"));
            let (title, notice) = match w.locale {
                Locale::Da => (
                    "Levering fejlede",
                    format!(
                        "En levering fejlede efter sidste forsøg og sendes ikke igen af sig selv: {error}"
                    ),
                ),
                Locale::En => (
                    "Delivery failed",
                    format!(
                        "A delivery failed after its last attempt and is not sent again by itself: {error}"
                    ),
                ),
            };
            let (delivery, event_word) = match w.locale {
                Locale::Da => ("Levering", "hændelse"),
                Locale::En => ("Delivery", "event"),
            };
            let context = format!(
                "{delivery} `{}` · {event_word} `{}` · `{}`",
                escape(text("delivery_id")),
                escape(text("event_id")),
                escape(text("subscription_id"))
            );
            (title, notice, context)
        }
        _ => return None,
    };
    let message = serde_json::json!({
        "text": format!("{title}: {notice}"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": true}},
            {"type": "section", "text": {"type": "mrkdwn", "text": notice}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    });
    serde_json::to_vec(&message).ok()
}

/// Escapes text for Slack `mrkdwn` (`&`, `<`, `>`).
fn escape(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| matches!(b, b'&' | b'<' | b'>')) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A JSON text being written by hand, in the exact form `serde_json::to_vec` gives a `Value`.
struct Json(Vec<u8>);

impl Json {
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    /// A JSON string, escaped by serde_json itself.
    fn str(&mut self, text: &str) {
        // Writing to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut self.0, text);
    }

    /// `,{"text":{"text":…,"type":"mrkdwn"},"type":"section"}`.
    fn text_section(&mut self, text: &str) {
        self.raw(r#",{"text":{"text":"#);
        self.str(text);
        self.raw(r#","type":"mrkdwn"},"type":"section"}"#);
    }
}

fn parse_time(text: &str, tz: Tz) -> Option<DateTime<Tz>> {
    DateTime::<FixedOffset>::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&tz))
}

struct Message<'a> {
    words: &'static Words,
    tz: Tz,
    config: &'a SlackConfig,
}

impl Message<'_> {
    /// Renders the message as JSON text: the bytes `serde_json` would write for the equivalent
    /// `Value` (keys in sorted order, the same string escaping), without building the `Value`.
    fn render(&self, event: &Event) -> Vec<u8> {
        let w = self.words;
        let b = &event.booking;
        let other_title;
        let title: &str = match &event.event_type {
            EventType::BookingCreated => w.created,
            EventType::BookingUpdated => w.updated,
            EventType::BookingDeleted => w.deleted,
            EventType::Other(t) => {
                other_title = format!("{}: {t}", w.other_event);
                &other_title
            }
        };
        let when = self.when(b);

        let mut fields: Vec<String> = Vec::with_capacity(8);
        let mut field = |label: &str, value: &str| {
            if !value.trim().is_empty() && fields.len() < 10 {
                // Slack allows at most 10 fields per section.
                let mut text = String::with_capacity(label.len() + value.len() + 3);
                text.push('*');
                text.push_str(label);
                text.push_str("*\n");
                text.push_str(value);
                fields.push(text);
            }
        };
        field(w.when, &escape(&when));
        if let Some(service) = &b.service {
            let mut text = escape(service.name.as_deref().unwrap_or_default()).into_owned();
            if let Some(minutes) = service.duration_minutes {
                text.push_str(" (");
                push_number(&mut text, minutes);
                text.push(' ');
                text.push_str(w.minutes);
                text.push(')');
            }
            field(w.service, &text);
        }
        field(w.therapist, &escape(b.therapist_name()));
        field(w.client, &self.client(b));
        if let Some(location) = &b.location {
            field(w.location, &self.location(location));
        }
        if let Some((amount, currency)) = b
            .service
            .as_ref()
            .and_then(|s| s.price.as_ref())
            .and_then(|p| Some((p.amount?, p.currency.as_deref().unwrap_or(""))))
        {
            field(w.price, &escape(&w.price(amount, currency)));
        }
        if let Some(status) = &b.status {
            field(w.status, &escape(&w.status(status)));
        }

        let mut out = Json(Vec::with_capacity(1536));
        out.raw(r#"{"blocks":[{"text":{"emoji":true,"text":"#);
        out.str(title);
        out.raw(r#","type":"plain_text"},"type":"header"}"#);
        if !fields.is_empty() {
            out.raw(r#",{"fields":["#);
            for (i, text) in fields.iter().enumerate() {
                if i > 0 {
                    out.raw(",");
                }
                out.raw(r#"{"text":"#);
                out.str(text);
                out.raw(r#","type":"mrkdwn"}"#);
            }
            out.raw(r#"],"type":"section"}"#);
        }

        if let Some(changes) = self.changes(b) {
            out.text_section(&format!("*{}*\n{changes}", w.changes));
        }

        if self.config.include_notes
            && let Some(notes) = b.notes.as_deref().filter(|n| !n.trim().is_empty())
        {
            out.text_section(&format!("*{}*\n{}", w.notes, escape(notes)));
        }

        let mut context = String::with_capacity(64);
        if !b.id.is_empty() {
            context.push_str("Booking `");
            context.push_str(&escape(&b.id));
            context.push_str("` · ");
        }
        context.push_str(w.times_in);
        context.push(' ');
        context.push_str(self.tz.name());
        out.raw(r#",{"elements":[{"text":"#);
        out.str(&context);
        out.raw(r#","type":"mrkdwn"}],"type":"context"}],"text":"#);

        let mut summary = String::with_capacity(128);
        summary.push_str(title);
        let service = b.service_name();
        if !service.is_empty() {
            summary.push_str(": ");
            summary.push_str(service);
            let therapist = b.therapist_name();
            if !therapist.is_empty() {
                summary.push(' ');
                summary.push_str(w.with);
                summary.push(' ');
                summary.push_str(therapist);
            }
        }
        if !when.is_empty() {
            summary.push_str(", ");
            summary.push_str(&when);
        }
        out.str(&escape(&summary));
        out.raw("}");
        out.0
    }

    /// `torsdag 3. december 2026, 14:00–14:50`.
    fn when(&self, b: &Booking) -> String {
        let w = self.words;
        let start = b.start.as_deref().map(|s| (s, parse_time(s, self.tz)));
        let end = b.end.as_deref().map(|s| (s, parse_time(s, self.tz)));
        match (start, end) {
            (Some((_, Some(s))), Some((_, Some(e)))) if s.date_naive() == e.date_naive() => {
                let mut out = String::with_capacity(48);
                w.push_date(&mut out, &s);
                out.push_str(", ");
                push_clock(&mut out, &s);
                out.push('–');
                push_clock(&mut out, &e);
                out
            }
            (Some((_, Some(s))), Some((_, Some(e)))) => {
                format!("{} – {}", w.date_time(&s), w.date_time(&e))
            }
            (Some((_, Some(s))), _) => w.date_time(&s),
            (Some((raw, None)), _) => raw.to_string(),
            (None, _) => String::new(),
        }
    }

    fn client(&self, b: &Booking) -> String {
        let Some(client) = &b.client else {
            return String::new();
        };
        let mut lines = vec![escape(client.name.as_deref().unwrap_or_default())];
        if self.config.include_client_contact {
            lines.extend(client.email.as_deref().map(escape));
            lines.extend(client.phone.as_deref().map(escape));
        }
        lines.retain(|l| !l.is_empty());
        lines.join("\n")
    }

    fn location(&self, location: &Location) -> String {
        match location {
            Location::Online { url, .. } => match url {
                Some(url) => format!("{}: {}", self.words.online, escape(url)),
                None => self.words.online.to_string(),
            },
            Location::Address { .. } => escape(&location.display()).into_owned(),
        }
    }

    /// One line per changed field: `• Start: … → …`.
    fn changes(&self, b: &Booking) -> Option<String> {
        let changes = b.changes.as_ref().filter(|c| !c.is_empty())?;
        let mut lines = String::with_capacity(160);
        for (name, change) in changes
            .iter()
            .filter(|(name, _)| self.config.include_client_contact || !is_contact(name))
            .filter(|(name, _)| self.config.include_notes || name.as_str() != "notes")
        {
            if !lines.is_empty() {
                lines.push('\n');
            }
            lines.push_str("• ");
            lines.push_str(&escape(self.words.field(name)));
            lines.push_str(": ");
            lines.push_str(&escape(&self.value(name, &change.from)));
            lines.push_str(" → ");
            lines.push_str(&escape(&self.value(name, &change.to)));
        }
        (!lines.is_empty()).then_some(lines)
    }

    /// A changed value, readable: times formatted, statuses translated, objects by name.
    fn value(&self, field: &str, value: &Value) -> String {
        match value {
            Value::Null => "–".to_string(),
            Value::String(s) if field == "status" => self.words.status(&Status::from(s.as_str())),
            Value::String(s) => match parse_time(s, self.tz) {
                Some(t) => self.words.date_time(&t),
                None => s.clone(),
            },
            Value::Object(_) if field == "location" => {
                match serde_json::from_value::<Location>(value.clone()) {
                    Ok(location) => self.location(&location),
                    Err(_) => String::new(),
                }
            }
            Value::Object(map) => {
                let mut parts: Vec<String> = map
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .into_iter()
                    .collect();
                // Names of therapists, services, …; contact details of a client only when asked.
                if field == "client" && self.config.include_client_contact {
                    for key in ["email", "phone"] {
                        parts.extend(map.get(key).and_then(Value::as_str).map(str::to_string));
                    }
                }
                if parts.is_empty() {
                    map.get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("…")
                        .to_string()
                } else {
                    parts.join(", ")
                }
            }
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Array(items) => items
                .iter()
                .map(|v| self.value(field, v))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// Whether a changed field name is a contact detail (e.g. `client.email`, `phone`).
fn is_contact(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("email") || lower.contains("phone")
}

#[cfg(test)]
mod tests {
    use super::*;
    use krog_sdk::RawEvent;

    const CREATED: &str = include_str!("../../../fixtures/booking-created.json");
    const UPDATED: &str = include_str!("../../../fixtures/booking-updated.json");
    const DELETED: &str = include_str!("../../../fixtures/booking-deleted.json");
    const ONLINE: &str = include_str!("../../../fixtures/booking-created-online.json");

    fn raw(envelope: &str) -> RawEvent {
        RawEvent::from_envelope(envelope, "t_test").unwrap()
    }

    fn message(envelope: &str, config: &str) -> Value {
        krog_sdk::run::<Slack>(&raw(envelope), config)
            .unwrap()
            .body_json()
            .unwrap()
    }

    fn header(message: &Value) -> &str {
        message["blocks"][0]["text"]["text"].as_str().unwrap()
    }

    fn operational_event(event_type: &str, data: &str) -> RawEvent {
        RawEvent {
            id: "evt_krog_1".into(),
            event_type: event_type.into(),
            timestamp: "2026-12-03T10:00:00.000Z".into(),
            tenant: "t_test".into(),
            data: data.into(),
        }
    }

    const DISABLED: &str = r#"{"subscription_id": "sub_1", "description": "Bookingark",
        "destination_host": "docs.google.com", "reason": "failing", "since": "2026-11-28T09:30:00.000Z"}"#;

    #[test]
    fn a_stopped_integration_is_announced_in_danish_and_english_with_its_host_and_since_when() {
        let event = operational_event("krog.subscription.disabled", DISABLED);
        let da = krog_sdk::run::<Slack>(&event, "")
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(header(&da), "Integration stoppet");
        let text = da["text"].as_str().unwrap();
        assert!(
            text.contains("Integrationen til docs.google.com er stoppet: den har fejlet siden lørdag 28. november 2026 kl. 10:30"),
            "{text}"
        );
        assert!(da.to_string().contains("Bookingark"), "{da}");
        let en = krog_sdk::run::<Slack>(&event, r#"{"locale": "en"}"#)
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(header(&en), "Integration stopped");
        assert!(
            en["text"].as_str().unwrap().contains(
                "The integration to docs.google.com was stopped: it has been failing since Saturday 28 November 2026 at 10:30"
            ),
            "{en}"
        );
        let gone = operational_event(
            "krog.subscription.disabled",
            r#"{"subscription_id": "sub_1", "description": "", "destination_host": "example.com", "reason": "gone", "since": "2026-12-03T10:00:00Z"}"#,
        );
        let m = krog_sdk::run::<Slack>(&gone, "")
            .unwrap()
            .body_json()
            .unwrap();
        assert!(m["text"].as_str().unwrap().contains("410 Gone"), "{m}");
    }

    #[test]
    fn a_delivery_that_failed_for_good_is_announced_with_its_error_and_ids() {
        let event = operational_event(
            "krog.delivery.failed",
            r#"{"delivery_id": "dlv_1", "event_id": "evt_1", "subscription_id": "sub_1",
                "last_error": "the endpoint answered 503 <Service Unavailable>"}"#,
        );
        let da = krog_sdk::run::<Slack>(&event, "")
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(header(&da), "Levering fejlede");
        let body = da.to_string();
        assert!(body.contains("503 &lt;Service Unavailable&gt;"), "{body}");
        assert!(
            body.contains("`dlv_1`") && body.contains("`evt_1`"),
            "{body}"
        );
        let en = krog_sdk::run::<Slack>(&event, r#"{"locale": "en"}"#)
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(header(&en), "Delivery failed");
    }

    #[test]
    fn a_new_booking_is_announced_in_danish_with_copenhagen_times() {
        let out = krog_sdk::run::<Slack>(&raw(CREATED), "").unwrap();
        assert_eq!(out.content_type(), Some("application/json"));
        let m = out.body_json().unwrap();
        assert_eq!(header(&m), "Ny booking");
        let text = m["text"].as_str().unwrap();
        assert_eq!(
            text,
            "Ny booking: Parterapi med Mette Søndergaard, torsdag 3. december 2026, 14:00–14:50"
        );
        let body = m.to_string();
        assert!(body.contains("950,00 kr."), "{body}");
        assert!(body.contains("Klinik Nørrebro, Nørrebrogade 52"), "{body}");
        assert!(body.contains("Bekræftet"), "{body}");
        assert!(body.contains("Tider i Europe/Copenhagen"), "{body}");
        assert_eq!(m["blocks"][1]["type"], "section");
        assert_eq!(
            m["blocks"].as_array().unwrap().last().unwrap()["type"],
            "context"
        );
    }

    #[test]
    fn the_english_locale_translates_labels_weekdays_and_months() {
        let m = message(CREATED, r#"{"locale": "en"}"#);
        assert_eq!(header(&m), "New booking");
        assert_eq!(
            m["text"],
            "New booking: Parterapi with Mette Søndergaard, Thursday 3 December 2026, 14:00–14:50"
        );
        let body = m.to_string();
        assert!(body.contains("DKK 950.00"), "{body}");
        assert!(body.contains("*Therapist*"), "{body}");
        assert!(!body.contains("torsdag"), "{body}");
    }

    #[test]
    fn an_updated_booking_lists_what_changed() {
        let m = message(UPDATED, "");
        assert_eq!(header(&m), "Booking ændret");
        let changes = m["blocks"][2]["text"]["text"].as_str().unwrap();
        assert_eq!(
            changes,
            "*Ændringer*\n\
             • Slut: torsdag 3. december 2026 kl. 14:50 → fredag 4. december 2026 kl. 10:50\n\
             • Start: torsdag 3. december 2026 kl. 14:00 → fredag 4. december 2026 kl. 10:00"
        );
        let en = message(UPDATED, r#"{"locale":"en"}"#);
        assert_eq!(header(&en), "Booking changed");
        assert!(en.to_string().contains(
            "• Start: Thursday 3 December 2026 at 14:00 → Friday 4 December 2026 at 10:00"
        ));
    }

    #[test]
    fn a_deleted_booking_is_announced_as_cancelled() {
        assert_eq!(header(&message(DELETED, "")), "Booking aflyst");
        assert_eq!(
            header(&message(DELETED, r#"{"locale":"en"}"#)),
            "Booking cancelled"
        );
    }

    #[test]
    fn client_contact_details_and_notes_are_absent_by_default() {
        for fixture in [CREATED, UPDATED, DELETED] {
            let out = krog_sdk::run::<Slack>(&raw(fixture), "").unwrap();
            let body = String::from_utf8(out.body().unwrap().to_vec()).unwrap();
            assert!(body.contains("Jens Ødegård"), "{body}");
            assert!(!body.contains("jens.odegaard@example.com"), "{body}");
            assert!(!body.contains("+45 20 12 34 56"), "{body}");
            assert!(!body.contains("Første samtale"), "{body}");
            assert!(!body.contains("Aflyst af klienten"), "{body}");
        }
    }

    #[test]
    fn client_contact_details_appear_when_asked_for() {
        let body = message(
            CREATED,
            r#"{"include_client_contact": true, "include_notes": true}"#,
        )
        .to_string();
        assert!(body.contains("jens.odegaard@example.com"), "{body}");
        assert!(body.contains("+45 20 12 34 56"), "{body}");
        assert!(body.contains("Første samtale"), "{body}");
    }

    #[test]
    fn an_online_booking_shows_the_meeting_link() {
        let m = message(ONLINE, "");
        let body = m.to_string();
        assert!(
            body.contains("Online: https://meet.example.com/r/9f3a"),
            "{body}"
        );
        assert!(body.contains("700,00 kr."), "{body}");
        assert!(body.contains("Afventer"), "{body}");
    }

    #[test]
    fn times_are_shown_in_the_configured_time_zone() {
        let m = message(CREATED, r#"{"locale":"en","timezone":"America/New_York"}"#);
        assert!(
            m["text"]
                .as_str()
                .unwrap()
                .ends_with("Thursday 3 December 2026, 08:00–08:50"),
            "{m}"
        );
        assert!(m.to_string().contains("Times in America/New_York"));
    }

    #[test]
    fn an_unknown_time_zone_or_locale_is_a_config_error() {
        let err =
            krog_sdk::run::<Slack>(&raw(CREATED), r#"{"timezone":"Mars/Olympus"}"#).unwrap_err();
        assert!(
            err.contains("`timezone`") && err.contains("Mars/Olympus"),
            "{err}"
        );
        let err = krog_sdk::run::<Slack>(&raw(CREATED), r#"{"locale":"fr"}"#).unwrap_err();
        assert!(err.contains("`locale`"), "{err}");
    }

    #[test]
    fn prices_are_formatted_from_minor_units() {
        assert_eq!(DA.price(95000, "DKK"), "950,00 kr.");
        assert_eq!(DA.price(123456789, "DKK"), "1.234.567,89 kr.");
        assert_eq!(DA.price(5, "EUR"), "0,05 EUR");
        assert_eq!(EN.price(95000, "DKK"), "DKK 950.00");
        assert_eq!(EN.price(-150000, "USD"), "USD -1,500.00");
        assert_eq!(EN.price(5000, "ISK"), "ISK 5,000");
    }

    #[test]
    fn slack_markup_in_booking_text_is_escaped() {
        let envelope = r#"{"type":"booking.created","data":{"id":"bk_1","service":{"name":"<!channel> & co"}}}"#;
        let body = message(envelope, "").to_string();
        assert!(body.contains("&lt;!channel&gt; &amp; co"), "{body}");
        assert!(!body.contains("<!channel>"), "{body}");
    }

    #[test]
    fn a_sparse_booking_still_renders() {
        let m = message(r#"{"type":"booking.created","data":{}}"#, "");
        assert_eq!(m["text"], "Ny booking");
    }

    #[test]
    fn info_describes_the_config() {
        let info = krog_sdk::info::<Slack>();
        assert_eq!(info.name, "slack");
        let schema: Value = serde_json::from_str(&info.config_schema).unwrap();
        let props = &schema["properties"];
        assert!(props["locale"].is_object());
        assert!(
            props["include_client_contact"]["description"]
                .as_str()
                .unwrap()
                .contains("contact")
        );
    }
}
