//! `sheets`: one spreadsheet row per booking event, as the Google Sheets API append body
//! `{"values": [[...]]}` — also what the Apps Script web app in the README expects.

use krog_sdk::{Error, Event, Outcome, Plugin, Value};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The Google Sheets formatter.
pub struct Sheets;

/// One column of the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    /// `booking.created`, `booking.updated` or `booking.deleted`.
    EventType,
    /// The event id (`evt_…`).
    EventId,
    /// Time of the event (RFC 3339).
    Timestamp,
    /// The booking id (`bk_…`).
    BookingId,
    /// The booking status (`confirmed`, `pending`, `cancelled`, `completed`, `no_show`).
    Status,
    /// Start time as sent (RFC 3339 with offset).
    Start,
    /// End time as sent (RFC 3339 with offset).
    End,
    /// The service name.
    Service,
    /// The service id.
    ServiceId,
    /// The price in major units, as a number (`950` for 95000 øre).
    Price,
    /// The price's currency code (`DKK`).
    Currency,
    /// The therapist's name.
    Therapist,
    /// The therapist id.
    TherapistId,
    /// The client's name.
    ClientName,
    /// The client's e-mail address (personal data).
    ClientEmail,
    /// The client's phone number (personal data).
    ClientPhone,
    /// `name, address`, or the meeting URL of an online booking.
    Location,
    /// The booking's free-text notes (may hold personal data).
    Notes,
}

/// Config of the `sheets` plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SheetsConfig {
    /// The columns of the row, in order. Default: `event_type`, `booking_id`, `start`, `end`,
    /// `service`, `therapist`, `client_name`, `status`. A value the booking lacks is `""`.
    pub columns: Vec<Column>,
}

impl Default for SheetsConfig {
    fn default() -> Self {
        SheetsConfig {
            columns: vec![
                Column::EventType,
                Column::BookingId,
                Column::Start,
                Column::End,
                Column::Service,
                Column::Therapist,
                Column::ClientName,
                Column::Status,
            ],
        }
    }
}

impl Plugin for Sheets {
    type Config = SheetsConfig;
    const NAME: &str = "sheets";
    const VERSION: &str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &str =
        "Appends one spreadsheet row per booking event (Google Sheets API / Apps Script body).";

    fn transform(event: &Event, config: SheetsConfig) -> Result<Outcome, Error> {
        if config.columns.is_empty() {
            return Err(Error::msg(
                "invalid config at `columns`: list at least one column",
            ));
        }
        // A row is a booking: krog's own operational events have no place in the sheet.
        if event.event_type.as_str().starts_with("krog.") {
            return Ok(Outcome::skip(format!(
                "{} is not a booking; the sheet gets bookings only",
                event.event_type
            )));
        }
        let row: Vec<Value> = config.columns.iter().map(|c| cell(event, *c)).collect();
        Outcome::json(&json!({ "values": [row] }))
    }
}

krog_sdk::export!(Sheets);

fn text(value: Option<&str>) -> Value {
    Value::String(value.unwrap_or_default().to_string())
}

/// The value of one column for an event; `""` when the booking lacks it.
pub fn cell(event: &Event, column: Column) -> Value {
    let b = &event.booking;
    let service = b.service.as_ref();
    let price = service.and_then(|s| s.price.as_ref());
    let therapist = b.therapist.as_ref();
    let client = b.client.as_ref();
    match column {
        Column::EventType => text(Some(event.event_type.as_str())),
        Column::EventId => text(Some(&event.id)),
        Column::Timestamp => text(Some(&event.timestamp)),
        Column::BookingId => text(Some(&b.id)),
        Column::Status => text(b.status.as_ref().map(|s| s.as_str())),
        Column::Start => text(b.start.as_deref()),
        Column::End => text(b.end.as_deref()),
        Column::Service => text(service.and_then(|s| s.name.as_deref())),
        Column::ServiceId => text(service.and_then(|s| s.id.as_deref())),
        Column::Price => match price.and_then(|p| p.amount) {
            Some(amount) => {
                let currency = price.and_then(|p| p.currency.as_deref()).unwrap_or("");
                major_units(amount, currency)
            }
            None => text(None),
        },
        Column::Currency => text(price.and_then(|p| p.currency.as_deref())),
        Column::Therapist => text(therapist.and_then(|t| t.name.as_deref())),
        Column::TherapistId => text(therapist.and_then(|t| t.id.as_deref())),
        Column::ClientName => text(client.and_then(|c| c.name.as_deref())),
        Column::ClientEmail => text(client.and_then(|c| c.email.as_deref())),
        Column::ClientPhone => text(client.and_then(|c| c.phone.as_deref())),
        Column::Location => text(b.location.as_ref().map(|l| l.display()).as_deref()),
        Column::Notes => text(b.notes.as_deref()),
    }
}

/// Minor units to a JSON number in major units: whole amounts stay integers (`950`).
fn major_units(amount: i64, currency: &str) -> Value {
    let decimals = match currency.to_ascii_uppercase().as_str() {
        "ISK" | "JPY" | "KRW" | "CLP" | "VND" => 0,
        _ => 2,
    };
    let unit = 10i64.pow(decimals);
    if amount % unit == 0 {
        json!(amount / unit)
    } else {
        json!(amount as f64 / unit as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use krog_sdk::RawEvent;

    const CREATED: &str = include_str!("../../../fixtures/booking-created.json");
    const ONLINE: &str = include_str!("../../../fixtures/booking-created-online.json");
    const DELETED: &str = include_str!("../../../fixtures/booking-deleted.json");

    #[test]
    fn krogs_operational_events_are_skipped() {
        let event = RawEvent {
            id: "evt_krog_1".into(),
            event_type: "krog.delivery.failed".into(),
            timestamp: "2026-12-03T10:00:00Z".into(),
            tenant: "t".into(),
            data: r#"{"delivery_id": "dlv_1"}"#.into(),
        };
        let out = krog_sdk::run::<Sheets>(&event, r#"{"columns": ["start"]}"#).unwrap();
        assert!(out.is_skip(), "{:?}", out.skip_reason());
    }

    fn raw(envelope: &str) -> RawEvent {
        RawEvent::from_envelope(envelope, "t_test").unwrap()
    }

    fn row(envelope: &str, config: &str) -> Value {
        let out = krog_sdk::run::<Sheets>(&raw(envelope), config).unwrap();
        assert_eq!(out.content_type(), Some("application/json"));
        let body = out.body_json().unwrap();
        assert_eq!(body["values"].as_array().unwrap().len(), 1, "one row");
        body["values"][0].clone()
    }

    #[test]
    fn the_default_columns_make_one_row() {
        assert_eq!(
            row(CREATED, ""),
            json!([
                "booking.created",
                "bk_1042",
                "2026-12-03T14:00:00+01:00",
                "2026-12-03T14:50:00+01:00",
                "Parterapi",
                "Mette Søndergaard",
                "Jens Ødegård",
                "confirmed"
            ])
        );
    }

    #[test]
    fn columns_come_in_the_configured_order() {
        let config = r#"{"columns": ["price", "currency", "event_id", "timestamp", "client_email", "client_phone", "service_id", "therapist_id"]}"#;
        assert_eq!(
            row(CREATED, config),
            json!([
                950,
                "DKK",
                "evt_01JDX4K7T9M2Q8R5S3V6W1Y0ZA",
                "2026-11-27T09:30:12Z",
                "jens.odegaard@example.com",
                "+45 20 12 34 56",
                "svc_parterapi",
                "th_7"
            ])
        );
    }

    #[test]
    fn missing_values_are_empty_strings() {
        let config = r#"{"columns": ["client_email", "notes", "therapist", "price"]}"#;
        assert_eq!(row(ONLINE, config), json!(["", "", "Lars Bæk", 700]));
        let sparse = r#"{"type":"booking.created","data":{}}"#;
        assert_eq!(
            row(sparse, ""),
            json!(["booking.created", "", "", "", "", "", "", ""])
        );
    }

    #[test]
    fn the_location_column_reads_an_address_or_a_meeting_link() {
        let config = r#"{"columns": ["location"]}"#;
        assert_eq!(
            row(CREATED, config),
            json!(["Klinik Nørrebro, Nørrebrogade 52, 2200 København N"])
        );
        assert_eq!(
            row(ONLINE, config),
            json!(["https://meet.example.com/r/9f3a"])
        );
    }

    #[test]
    fn a_deleted_booking_is_a_row_too() {
        let r = row(DELETED, r#"{"columns": ["event_type", "status", "notes"]}"#);
        assert_eq!(
            r,
            json!([
                "booking.deleted",
                "cancelled",
                "Aflyst af klienten via SMS."
            ])
        );
    }

    #[test]
    fn an_unknown_column_is_a_config_error() {
        let err = krog_sdk::run::<Sheets>(&raw(CREATED), r#"{"columns": ["start", "colour"]}"#)
            .unwrap_err();
        assert!(
            err.contains("`columns[1]`") && err.contains("colour"),
            "{err}"
        );
        let err = krog_sdk::run::<Sheets>(&raw(CREATED), r#"{"columns": []}"#).unwrap_err();
        assert!(err.contains("`columns`"), "{err}");
    }

    #[test]
    fn odd_prices_keep_their_decimals() {
        assert_eq!(major_units(95050, "DKK"), json!(950.5));
        assert_eq!(major_units(5000, "ISK"), json!(5000));
    }

    #[test]
    fn the_schema_lists_the_columns() {
        let info = krog_sdk::info::<Sheets>();
        assert_eq!(info.name, "sheets");
        assert!(info.config_schema.contains("client_phone"));
        assert!(info.config_schema.contains("therapist_id"));
    }
}
