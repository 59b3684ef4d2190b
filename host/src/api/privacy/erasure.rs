//! Erasure of one person's data: which stored bookings are theirs (by parsed field, or the
//! value anywhere in them), which other texts mention them, and the pass over the tenant's
//! events and deliveries that blanks them, a page per transaction.

use std::collections::HashSet;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{BATCH, ErasureRequest};
use crate::api::error::{Error, Result};
use crate::model::DeliveryStatus;
use crate::store::privacy::{ErasureRow, PageErasure};
use crate::store::{self, Db, new_id, now_ms};
use crate::worker::Context;

/// The key, normalized for matching.
#[derive(Debug, Clone)]
pub(super) enum Key {
    BookingId(String),
    /// Lower case.
    ClientEmail(String),
    /// As given, and its digits (with a leading `+` if any).
    ClientPhone {
        given: String,
        digits: String,
    },
}

impl Key {
    pub(super) fn from_request(request: ErasureRequest) -> Result<Key> {
        let given = [
            request.booking_id.is_some(),
            request.client_email.is_some(),
            request.client_phone.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(Error::Validation(
                "give exactly one of booking_id, client_email, client_phone".into(),
            ));
        }
        if let Some(id) = request.booking_id {
            let id = id.trim().to_owned();
            if id.len() < 2 || id.len() > 255 {
                return Err(Error::Validation(
                    "booking_id must be 2 to 255 characters".into(),
                ));
            }
            return Ok(Key::BookingId(id));
        }
        if let Some(email) = request.client_email {
            let email = email.trim().to_lowercase();
            if email.len() < 3 || !email.contains('@') || email.len() > 320 {
                return Err(Error::Validation(
                    "client_email must be an email address".into(),
                ));
            }
            return Ok(Key::ClientEmail(email));
        }
        let given = request.client_phone.unwrap_or_default().trim().to_owned();
        let digits = phone_digits(&given);
        if digits.trim_start_matches('+').len() < 6 || given.len() > 64 {
            return Err(Error::Validation(
                "client_phone must have at least 6 digits".into(),
            ));
        }
        Ok(Key::ClientPhone { given, digits })
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Key::BookingId(_) => "booking_id",
            Key::ClientEmail(_) => "client_email",
            Key::ClientPhone { .. } => "client_phone",
        }
    }

    /// The normalized value, for the keyed hash.
    fn normalized(&self) -> &str {
        match self {
            Key::BookingId(v) | Key::ClientEmail(v) => v,
            Key::ClientPhone { digits, .. } => digits,
        }
    }

    /// Whether a stored booking (the event's `data`) is this person's: by the parsed field, or
    /// the value anywhere in it (a booking that mentions the email in its notes is theirs too).
    /// A phone number found in a booking adds the way it is written there to `needles`, for
    /// the search of bodies and answers derived from it.
    fn matches_event(&self, data: &str, needles: &mut Needles) -> bool {
        let booking: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        match self {
            Key::BookingId(id) => {
                booking["id"].as_str() == Some(id.as_str())
                    || data.contains(&serde_json::to_string(id).unwrap_or_default())
            }
            Key::ClientEmail(email) => {
                booking["client"]["email"]
                    .as_str()
                    .is_some_and(|e| e.trim().eq_ignore_ascii_case(email))
                    || data.to_lowercase().contains(email.as_str())
            }
            Key::ClientPhone { given, digits } => {
                let stored = booking["client"]["phone"].as_str();
                let hit = stored.is_some_and(|p| phone_digits(p) == *digits)
                    || data.contains(given.as_str());
                if hit && let Some(stored) = stored {
                    needles.add(stored.trim());
                }
                hit
            }
        }
    }
}

/// Digits of a phone number, with its leading `+` kept (so `+45 20 12 34 56` and
/// `+4520123456` are one number).
fn phone_digits(phone: &str) -> String {
    let mut out = String::new();
    if phone.trim_start().starts_with('+') {
        out.push('+');
    }
    out.extend(phone.chars().filter(char::is_ascii_digit));
    out
}

/// The texts searched for in transformed bodies, headers, skip reasons and attempt answers.
struct Needles {
    texts: Vec<String>,
    /// Case-insensitive (emails).
    fold_case: bool,
    /// A hit must not run on into a longer word (`bk_10` is not in `bk_1042`).
    whole_word: bool,
}

impl Needles {
    fn of(key: &Key) -> Needles {
        match key {
            Key::BookingId(id) => Needles {
                texts: vec![id.clone()],
                fold_case: false,
                whole_word: true,
            },
            Key::ClientEmail(email) => Needles {
                texts: vec![email.clone()],
                fold_case: true,
                whole_word: false,
            },
            Key::ClientPhone { given, .. } => Needles {
                texts: vec![given.clone()],
                fold_case: false,
                whole_word: false,
            },
        }
    }

    fn add(&mut self, text: &str) {
        if !text.is_empty() && !self.texts.iter().any(|t| t == text) {
            self.texts.push(text.to_owned());
        }
    }

    fn found_in(&self, haystack: &str) -> bool {
        let folded;
        let haystack = if self.fold_case {
            folded = haystack.to_lowercase();
            folded.as_str()
        } else {
            haystack
        };
        self.texts.iter().any(|needle| {
            if !self.whole_word {
                return haystack.contains(needle.as_str());
            }
            let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
            haystack.match_indices(needle.as_str()).any(|(at, _)| {
                let before = haystack[..at].chars().next_back();
                let after = haystack[at + needle.len()..].chars().next();
                !before.is_some_and(word) && !after.is_some_and(word)
            })
        })
    }

    fn found_in_bytes(&self, bytes: &[u8]) -> bool {
        self.found_in(&String::from_utf8_lossy(bytes))
    }
}

/// The keyed hash of an erased value: the installation's key, so that the same value hashes
/// alike on every node but cannot be guessed from the table alone.
async fn key_hash(db: &Db, key: &Key) -> Result<String> {
    let secret = db.installation_key("erasure_hash").await?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC takes any key length");
    mac.update(key.kind().as_bytes());
    mac.update(b":");
    mac.update(key.normalized().as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// Blanks every stored copy of the person's data in the tenant's events, deliveries and
/// attempts, cancels the pending deliveries of their bookings, and records the erasure (its
/// counts and the keyed hash of the value, never the value).
pub(super) async fn run(state: &Context, tenant: &str, key: &Key) -> Result<ErasureRow> {
    let hash = key_hash(&state.db, key).await?;
    let id = new_id("era");
    let note = format!("payload erased on request (erasure {id})");
    let mut needles = Needles::of(key);
    let mut record = ErasureRow {
        id: id.clone(),
        key_kind: key.kind().to_owned(),
        events: 0,
        deliveries: 0,
        attempts: 0,
        cancelled_deliveries: 0,
        created_at: now_ms(),
    };

    // The bookings first: their deliveries are erased whole, whatever their bodies contain.
    let mut matched = HashSet::new();
    let mut after = String::new();
    loop {
        let rows = store::privacy::events_page(&state.db, tenant, &after, BATCH).await?;
        let Some((last, _)) = rows.last() else { break };
        after = last.clone();
        let hits: Vec<String> = rows
            .into_iter()
            .filter(|(_, data)| key.matches_event(data, &mut needles))
            .map(|(id, _)| id)
            .collect();
        if hits.is_empty() {
            continue;
        }
        store::privacy::erase_events(&state.db, tenant, &hits, &note, now_ms()).await?;
        record.events += hits.len() as i64;
        matched.extend(hits);
    }

    // Then every delivery of the tenant, a page at a time, with the attempts of the page.
    let cancel_reason =
        format!("cancelled by erasure {id}: the booking's personal data was erased on request");
    let mut after = String::new();
    loop {
        let (rows, attempts) =
            store::privacy::deliveries_page(&state.db, tenant, &after, BATCH).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id.clone();
        let of_matched: HashSet<&str> = rows
            .iter()
            .filter(|d| matched.contains(&d.event_id))
            .map(|d| d.id.as_str())
            .collect();

        let mut page = PageErasure::default();
        for delivery in &rows {
            let whole = of_matched.contains(delivery.id.as_str());
            let skip_hit = delivery
                .skip_reason
                .as_deref()
                .is_some_and(|r| whole || needles.found_in(r));
            let hit = whole
                || skip_hit
                || delivery
                    .request_body
                    .as_deref()
                    .is_some_and(|b| needles.found_in_bytes(b))
                || delivery
                    .request_headers
                    .as_deref()
                    .is_some_and(|h| needles.found_in(h));
            if hit {
                page.deliveries.push((delivery.id.clone(), skip_hit));
            }
            if whole && delivery.status == DeliveryStatus::Pending.as_str() {
                page.cancel.push(delivery.id.clone());
            }
        }
        for attempt in &attempts {
            let whole = of_matched.contains(attempt.delivery_id.as_str());
            let response_hit = attempt
                .response
                .as_deref()
                .is_some_and(|r| whole || needles.found_in(r));
            let error_hit = attempt
                .error
                .as_deref()
                .is_some_and(|e| needles.found_in(e));
            if response_hit || error_hit {
                page.attempts.push((
                    attempt.delivery_id.clone(),
                    attempt.id.clone(),
                    response_hit,
                    error_hit,
                ));
            }
        }
        let cancelled = store::privacy::erase_page(
            &state.db,
            &page,
            &note,
            &cancel_reason,
            state.queue.node_id(),
            now_ms(),
            // Before the commit: from the commit on, a worker must not send what waits here.
            |cancelled| state.cancelled.add(cancelled.iter().cloned()),
        )
        .await?;
        record.deliveries += page.deliveries.len() as i64;
        record.attempts += page.attempts.len() as i64;
        record.cancelled_deliveries += cancelled.len() as i64;
    }

    store::privacy::insert_erasure(&state.db, tenant, &record, &hash).await?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booking_is_matched_by_its_parsed_fields_and_phone_numbers_by_their_digits() {
        let data = include_str!("../../../../fixtures/booking-created.json");
        let data = serde_json::from_str::<Value>(data).unwrap()["data"].to_string();
        let key = |r: ErasureRequest| Key::from_request(r).unwrap();
        let phone = key(ErasureRequest {
            booking_id: None,
            client_email: None,
            client_phone: Some("+4520123456".into()),
        });
        let mut needles = Needles::of(&phone);
        assert!(phone.matches_event(&data, &mut needles));
        assert!(
            needles.found_in("call +45 20 12 34 56"),
            "{:?}",
            needles.texts
        );
        let email = key(ErasureRequest {
            booking_id: None,
            client_email: Some("Jens.Odegaard@Example.com".into()),
            client_phone: None,
        });
        assert!(email.matches_event(&data, &mut Needles::of(&email)));
        assert!(Needles::of(&email).found_in("to: JENS.ODEGAARD@example.com"));
        let other = key(ErasureRequest {
            booking_id: Some("bk_104".into()),
            client_email: None,
            client_phone: None,
        });
        assert!(!other.matches_event(&data, &mut Needles::of(&other)));
        assert!(!Needles::of(&other).found_in("booking bk_1042"));
        assert!(Needles::of(&other).found_in("booking bk_104."));
    }

    #[test]
    fn an_erasure_needs_exactly_one_usable_key() {
        let none = ErasureRequest {
            booking_id: None,
            client_email: None,
            client_phone: None,
        };
        assert!(Key::from_request(none).is_err());
        let short = ErasureRequest {
            booking_id: None,
            client_email: None,
            client_phone: Some("12".into()),
        };
        assert!(Key::from_request(short).is_err());
    }
}
