//! The typed booking object.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeOwned, Deserializer};
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
