//! The typed booking object.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// Reads a field leniently: a value of an unexpected type reads as `None` instead of failing the
/// whole booking. The raw JSON is still reachable through [`Event::data`](crate::Event::data).
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// [`lenient`] on a borrowed value: the same result as `serde_json::from_value(value.clone()).ok()`
/// without the clone.
fn lenient_ref<T: DeserializeOwned>(value: &Value) -> Option<T> {
    T::deserialize(value).ok()
}

/// The fast equivalent of deserializing a struct with lenient fields and a flattened `extra`:
/// `None` unless `value` is an object; known keys read leniently, all others kept in `extra`.
macro_rules! from_ref {
    ($ty:ident { $($field:ident $(= $read:path)?),* $(,)? }) => {
        impl $ty {
            fn from_ref(value: &Value) -> Option<$ty> {
                let map = value.as_object()?;
                let mut out = $ty::default();
                for (key, value) in map {
                    match key.as_str() {
                        $(stringify!($field) => out.$field = from_ref!(@read value $($read)?),)*
                        _ => {
                            out.extra.insert(key.clone(), value.clone());
                        }
                    }
                }
                Some(out)
            }
        }
    };
    (@read $value:ident) => {
        lenient_ref($value)
    };
    (@read $value:ident $read:path) => {
        $read($value)
    };
}

from_ref!(Service { id, name, duration_minutes, price = Price::from_ref });
from_ref!(Price { amount, currency });
from_ref!(Therapist { id, name, email });
from_ref!(Client {
    id,
    name,
    email,
    phone
});

/// Like [`lenient`], for a string that defaults to `""`.
fn lenient_string<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(lenient::<D, String>(deserializer)?.unwrap_or_default())
}

/// A booking, as the booking system sent it.
///
/// Every field is optional: a missing field, or one of an unexpected type, reads as `None` (or
/// `""` for [`id`](Booking::id)) and never fails parsing. Fields krog does not know are kept in
/// [`extra`](Booking::extra), and the whole raw JSON object is available as
/// [`Event::data`](crate::Event::data).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    /// The booking id, e.g. `bk_1042` (`""` when missing).
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    /// The booking's status.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<Status>,
    /// Start time, RFC 3339 with offset, e.g. `2026-12-03T14:00:00+01:00`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub start: Option<String>,
    /// End time, RFC 3339 with offset.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub end: Option<String>,
    /// The booked service.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub service: Option<Service>,
    /// The therapist.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub therapist: Option<Therapist>,
    /// The client (personal data: handle with care).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub client: Option<Client>,
    /// Where the booking takes place: an address or an online meeting.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub location: Option<Location>,
    /// Free-text notes (may contain personal data).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub notes: Option<String>,
    /// When the booking was created, RFC 3339.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<String>,
    /// When the booking was last updated, RFC 3339.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at: Option<String>,
    /// For `booking.updated`: what changed, by field name (e.g. `start`).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub changes: Option<BTreeMap<String, Change>>,
    /// Every other field of the booking object, untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Booking {
    /// Parses a booking from its JSON text in one pass, without building a `Value` tree of the
    /// whole object first: known fields are read leniently as they stream by, and only unknown
    /// fields (kept in `extra`) and the small nested objects become `Value`s. Fails when `text`
    /// is not JSON or not an object.
    pub fn from_json(text: &str) -> Result<Booking, crate::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let parsed = deserializer
            .deserialize_any(BookingVisitor)
            .and_then(|booking| deserializer.end().map(|()| booking));
        parsed.map_err(|e| {
            if e.is_data() {
                crate::Error::msg(format!(
                    "the booking must be a JSON object, got {}",
                    json_kind_of_text(text)
                ))
            } else {
                crate::Error::msg(format!("the event data is not valid JSON: {e}"))
            }
        })
    }

    /// Parses a booking from its JSON value. Fails only when `value` is not a JSON object.
    pub fn from_value(value: &Value) -> Result<Booking, crate::Error> {
        if !value.is_object() {
            return Err(crate::Error::msg(format!(
                "the booking must be a JSON object, got {}",
                json_kind(value)
            )));
        }
        Ok(Booking::from_map(value.as_object().expect("checked above")))
    }

    /// What `Booking::deserialize` gives for an object, without serde's `flatten` buffering
    /// (which copies the whole booking into an intermediate tree and every field once more).
    fn from_map(map: &Map<String, Value>) -> Booking {
        let mut b = Booking::default();
        for (key, value) in map {
            match key.as_str() {
                "id" => b.id = lenient_ref::<String>(value).unwrap_or_default(),
                "status" => b.status = lenient_ref(value),
                "start" => b.start = lenient_ref(value),
                "end" => b.end = lenient_ref(value),
                "service" => b.service = Service::from_ref(value),
                "therapist" => b.therapist = Therapist::from_ref(value),
                "client" => b.client = Client::from_ref(value),
                "location" => b.location = lenient_ref(value),
                "notes" => b.notes = lenient_ref(value),
                "created_at" => b.created_at = lenient_ref(value),
                "updated_at" => b.updated_at = lenient_ref(value),
                "changes" => b.changes = lenient_ref(value),
                _ => {
                    b.extra.insert(key.clone(), value.clone());
                }
            }
        }
        b
    }

    /// The service name, or `""`.
    pub fn service_name(&self) -> &str {
        self.service
            .as_ref()
            .and_then(|s| s.name.as_deref())
            .unwrap_or("")
    }

    /// The therapist's name, or `""`.
    pub fn therapist_name(&self) -> &str {
        self.therapist
            .as_ref()
            .and_then(|t| t.name.as_deref())
            .unwrap_or("")
    }

    /// The client's name, or `""`.
    pub fn client_name(&self) -> &str {
        self.client
            .as_ref()
            .and_then(|c| c.name.as_deref())
            .unwrap_or("")
    }
}

/// Reads the booking object field by field (see [`Booking::from_json`]).
struct BookingVisitor;

impl<'de> Visitor<'de> for BookingVisitor {
    type Value = Booking;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the booking as a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Booking, A::Error> {
        let mut b = Booking::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "id" => b.id = map.next_value::<LenientString>()?.0.unwrap_or_default(),
                "status" => {
                    b.status = map
                        .next_value::<LenientString>()?
                        .0
                        .map(|s| Status::from(s.as_str()))
                }
                "start" => b.start = map.next_value::<LenientString>()?.0,
                "end" => b.end = map.next_value::<LenientString>()?.0,
                "notes" => b.notes = map.next_value::<LenientString>()?.0,
                "created_at" => b.created_at = map.next_value::<LenientString>()?.0,
                "updated_at" => b.updated_at = map.next_value::<LenientString>()?.0,
                "service" => b.service = Service::from_ref(&map.next_value::<Value>()?),
                "therapist" => b.therapist = Therapist::from_ref(&map.next_value::<Value>()?),
                "client" => b.client = Client::from_ref(&map.next_value::<Value>()?),
                "location" => b.location = lenient_ref(&map.next_value::<Value>()?),
                "changes" => b.changes = lenient_ref(&map.next_value::<Value>()?),
                _ => {
                    let value = map.next_value::<Value>()?;
                    b.extra.insert(key, value);
                }
            }
        }
        Ok(b)
    }
}

/// A string, or `None` for a value of any other type (skipped without building it).
struct LenientString(Option<String>);

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LenientStringVisitor)
    }
}

struct LenientStringVisitor;

impl<'de> Visitor<'de> for LenientStringVisitor {
    type Value = LenientString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LenientString, E> {
        Ok(LenientString(Some(v.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<LenientString, E> {
        Ok(LenientString(Some(v)))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<LenientString, E> {
        Ok(LenientString(None))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<LenientString, E> {
        Ok(LenientString(None))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<LenientString, E> {
        Ok(LenientString(None))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<LenientString, E> {
        Ok(LenientString(None))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<LenientString, E> {
        Ok(LenientString(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LenientString, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(LenientString(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LenientString, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(LenientString(None))
    }
}

/// What kind of JSON value `text` holds, from its first character (for error messages).
fn json_kind_of_text(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The status of a booking. Unknown statuses are kept as [`Status::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Status {
    /// `confirmed`
    Confirmed,
    /// `pending`
    Pending,
    /// `cancelled`
    Cancelled,
    /// `completed`
    Completed,
    /// `no_show`
    NoShow,
    /// Any other status string, as sent.
    Other(String),
}

impl Status {
    /// The status as the booking system spells it, e.g. `no_show`.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Confirmed => "confirmed",
            Status::Pending => "pending",
            Status::Cancelled => "cancelled",
            Status::Completed => "completed",
            Status::NoShow => "no_show",
            Status::Other(s) => s,
        }
    }
}

impl From<&str> for Status {
    fn from(s: &str) -> Status {
        match s {
            "confirmed" => Status::Confirmed,
            "pending" => Status::Pending,
            "cancelled" => Status::Cancelled,
            "completed" => Status::Completed,
            "no_show" => Status::NoShow,
            other => Status::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Status, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(Status::from(s.as_str()))
    }
}

/// The booked service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Service id, e.g. `svc_parterapi`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Display name, e.g. `Parterapi`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Duration in minutes.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration_minutes: Option<u32>,
    /// The price.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<Price>,
    /// Other fields, untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A price in minor units (øre, cents) of a currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// The amount in minor units: `95000` DKK is 950,00 kr.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<i64>,
    /// ISO 4217 currency code, e.g. `DKK`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub currency: Option<String>,
    /// Other fields, untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The therapist of a booking.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Therapist {
    /// Therapist id, e.g. `th_7`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Display name.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// E-mail address.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    /// Other fields, untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The client of a booking (personal data).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// Client id, e.g. `cl_3301`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Full name.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// E-mail address.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    /// Phone number.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone: Option<String>,
    /// Other fields, untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where a booking takes place.
///
/// An object with `"type": "online"` (or with a `url` and no `address`) is [`Location::Online`];
/// anything else is [`Location::Address`].
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// A physical place: `{"name", "address"}`.
    Address {
        /// The place's name, e.g. `Klinik Nørrebro`.
        name: Option<String>,
        /// The street address.
        address: Option<String>,
        /// Other fields, untouched.
        extra: Map<String, Value>,
    },
    /// An online meeting: `{"type": "online", "url"}`.
    Online {
        /// The meeting link.
        url: Option<String>,
        /// Other fields, untouched (without `type`).
        extra: Map<String, Value>,
    },
}

impl Location {
    /// A one-line description: `name, address` or the meeting URL.
    pub fn display(&self) -> String {
        match self {
            Location::Address { name, address, .. } => [name.as_deref(), address.as_deref()]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            Location::Online { url, .. } => url.clone().unwrap_or_default(),
        }
    }
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key) {
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            // Keep values of an unexpected type rather than lose them.
            map.insert(key.to_string(), other);
            None
        }
        None => None,
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Location, D::Error> {
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        let online = match map.get("type") {
            Some(Value::String(t)) => t == "online",
            _ => map.contains_key("url") && !map.contains_key("address"),
        };
        if online {
            if map.get("type").and_then(Value::as_str) == Some("online") {
                map.remove("type");
            }
            let url = take_string(&mut map, "url");
            Ok(Location::Online { url, extra: map })
        } else {
            let name = take_string(&mut map, "name");
            let address = take_string(&mut map, "address");
            Ok(Location::Address {
                name,
                address,
                extra: map,
            })
        }
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Map::new();
        match self {
            Location::Address {
                name,
                address,
                extra,
            } => {
                if let Some(n) = name {
                    map.insert("name".into(), Value::String(n.clone()));
                }
                if let Some(a) = address {
                    map.insert("address".into(), Value::String(a.clone()));
                }
                map.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Location::Online { url, extra } => {
                map.insert("type".into(), Value::String("online".into()));
                if let Some(u) = url {
                    map.insert("url".into(), Value::String(u.clone()));
                }
                map.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        map.serialize(serializer)
    }
}

/// One entry of [`Booking::changes`]: the old and the new value of a field, as raw JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The value before the update (`null` when missing).
    #[serde(default)]
    pub from: Value,
    /// The value after the update (`null` when missing).
    #[serde(default)]
    pub to: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_object_is_a_booking_with_nothing_set() {
        let b = Booking::from_value(&json!({})).unwrap();
        assert_eq!(b, Booking::default());
    }

    #[test]
    fn fields_of_the_wrong_type_read_as_none_and_unknown_fields_are_kept() {
        let b = Booking::from_value(&json!({
            "id": 7, "status": "no_show", "start": 12, "service": {"price": {"amount": "lots"}},
            "intake_form": {"answers": 3}
        }))
        .unwrap();
        assert_eq!(b.id, "");
        assert_eq!(b.status, Some(Status::NoShow));
        assert_eq!(b.start, None);
        assert_eq!(b.service.unwrap().price.unwrap().amount, None);
        assert_eq!(b.extra["intake_form"], json!({"answers": 3}));
    }

    #[test]
    fn reading_the_text_in_one_pass_gives_what_the_value_gives() {
        let awkward = r#"{"id": 7, "status": "no_show", "start": [1, {"a": 2}], "end": {"x": 1},
            "notes": null, "service": {"price": {"amount": "lots"}}, "intake_form": {"answers": 3},
            "client": "not an object", "changes": {"start": {"from": "a", "to": "b"}}}"#;
        let fixtures = [
            include_str!("../../fixtures/booking-created.json"),
            include_str!("../../fixtures/booking-updated.json"),
            include_str!("../../fixtures/booking-deleted.json"),
        ];
        let bookings = fixtures
            .iter()
            .map(|f| serde_json::from_str::<Value>(f).unwrap()["data"].to_string());
        for text in bookings.chain([awkward.to_string(), "{}".to_string()]) {
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                Booking::from_json(&text).unwrap(),
                Booking::from_value(&value).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn text_that_is_not_an_object_or_not_json_says_which() {
        let err = Booking::from_json(" [1]").unwrap_err();
        assert!(err.to_string().contains("an array"), "{err}");
        let err = Booking::from_json("\"bk_1\"").unwrap_err();
        assert!(err.to_string().contains("a string"), "{err}");
        let err = Booking::from_json("{\"id\": ").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = Booking::from_json("{} trailing").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }

    #[test]
    fn a_non_object_is_refused() {
        let err = Booking::from_value(&json!([1])).unwrap_err();
        assert!(err.to_string().contains("an array"), "{err}");
    }

    #[test]
    fn locations_are_told_apart_and_round_trip() {
        let online = json!({"type": "online", "url": "https://meet.example.com/x"});
        let place = json!({"name": "Klinik", "address": "Gade 1", "floor": 2});
        let o: Location = serde_json::from_value(online.clone()).unwrap();
        let p: Location = serde_json::from_value(place.clone()).unwrap();
        assert!(matches!(o, Location::Online { .. }));
        assert_eq!(p.display(), "Klinik, Gade 1");
        assert_eq!(serde_json::to_value(&o).unwrap(), online);
        assert_eq!(serde_json::to_value(&p).unwrap(), place);
    }

    #[test]
    fn unknown_statuses_are_kept() {
        let s: Status = serde_json::from_value(json!("on_hold")).unwrap();
        assert_eq!(s, Status::Other("on_hold".into()));
        assert_eq!(s.as_str(), "on_hold");
    }
}
