//! The typed booking object.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

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
        // The same reader as `from_json`, over the tree instead of the text.
        value
            .deserialize_any(BookingVisitor)
            .map_err(|e| crate::Error::msg(format!("the booking could not be read: {e}")))
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
        while let Some(Key(key)) = map.next_key()? {
            match &*key {
                "id" => b.id = map.next_value::<Lenient<String>>()?.0.unwrap_or_default(),
                "status" => b.status = map.next_value::<Lenient<_>>()?.0,
                "start" => b.start = map.next_value::<Lenient<_>>()?.0,
                "end" => b.end = map.next_value::<Lenient<_>>()?.0,
                "notes" => b.notes = map.next_value::<Lenient<_>>()?.0,
                "created_at" => b.created_at = map.next_value::<Lenient<_>>()?.0,
                "updated_at" => b.updated_at = map.next_value::<Lenient<_>>()?.0,
                "service" => b.service = map.next_value::<Lenient<_>>()?.0,
                "therapist" => b.therapist = map.next_value::<Lenient<_>>()?.0,
                "client" => b.client = map.next_value::<Lenient<_>>()?.0,
                "changes" => b.changes = map.next_value::<Lenient<_>>()?.0,
                // Rarer and irregular: read as a tree, then moved (not copied) into shape.
                "location" => b.location = serde_json::from_value(map.next_value()?).ok(),
                _ => {
                    let value = map.next_value::<Value>()?;
                    b.extra.insert(key.into_owned(), value);
                }
            }
        }
        Ok(b)
    }
}

/// An object key, borrowed from the input when it has no escapes: most keys are known field
/// names, compared and dropped, so copying them would be wasted.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// One field read leniently as it streams by: `None` for a value of an unexpected type, which
/// is skipped without being built. Gives what [`lenient`] gives, without the `Value` in between.
struct Lenient<T>(Option<T>);

/// The kinds of JSON value a [`Lenient`] field accepts; every other kind reads as `None`.
trait ReadLeniently: Sized {
    fn from_str(_: &str) -> Option<Self> {
        None
    }

    fn from_string(v: String) -> Option<Self> {
        Self::from_str(&v)
    }

    fn from_i64(_: i64) -> Option<Self> {
        None
    }

    fn from_u64(_: u64) -> Option<Self> {
        None
    }

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl ReadLeniently for String {
    fn from_str(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    fn from_string(v: String) -> Option<String> {
        Some(v)
    }
}

impl ReadLeniently for Status {
    fn from_str(v: &str) -> Option<Status> {
        Some(Status::from(v))
    }
}

macro_rules! read_integers_leniently {
    ($($ty:ty),*) => {$(
        impl ReadLeniently for $ty {
            fn from_i64(v: i64) -> Option<$ty> {
                <$ty>::try_from(v).ok()
            }

            fn from_u64(v: u64) -> Option<$ty> {
                <$ty>::try_from(v).ok()
            }
        }
    )*};
}

read_integers_leniently!(u32, i64);

/// An object read field by field: known fields leniently, all others kept in `extra`.
macro_rules! read_objects_leniently {
    ($($ty:ident { $($field:ident),* $(,)? })*) => {$(
        impl ReadLeniently for $ty {
            fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<$ty>, A::Error> {
                let mut out = $ty::default();
                while let Some(Key(key)) = map.next_key()? {
                    match &*key {
                        $(stringify!($field) => out.$field = map.next_value::<Lenient<_>>()?.0,)*
                        _ => {
                            let value = map.next_value::<Value>()?;
                            out.extra.insert(key.into_owned(), value);
                        }
                    }
                }
                Ok(Some(out))
            }
        }
    )*};
}

read_objects_leniently! {
    Service { id, name, duration_minutes, price }
    Price { amount, currency }
    Therapist { id, name, email }
    Client { id, name, email, phone }
}

/// `changes`: all entries valid, or `None` (as `lenient` gives for the whole map).
impl ReadLeniently for BTreeMap<String, Change> {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut out = Some(BTreeMap::new());
        while let Some(key) = map.next_key::<String>()? {
            // After an invalid entry the rest is still read (and dropped): the text goes on.
            match (map.next_value::<Lenient<Change>>()?.0, &mut out) {
                (Some(change), Some(changes)) => {
                    changes.insert(key, change);
                }
                _ => out = None,
            }
        }
        Ok(out)
    }
}

/// A change is `{"from", "to"}` (other keys ignored, either may be missing) or, as serde reads
/// structs, a `[from, to]` array (shorter ones take `null`, longer ones are invalid).
impl ReadLeniently for Change {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut change = Change::default();
        while let Some(Key(key)) = map.next_key()? {
            match &*key {
                "from" => change.from = map.next_value()?,
                "to" => change.to = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(change))
    }

    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let from = seq.next_element::<Value>()?;
        let to = seq.next_element::<Value>()?;
        let mut extra = false;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            extra = true;
        }
        Ok((!extra).then(|| Change {
            from: from.unwrap_or_default(),
            to: to.unwrap_or_default(),
        }))
    }
}

impl<'de, T: ReadLeniently> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LenientVisitor(PhantomData))
    }
}

struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: ReadLeniently> Visitor<'de> for LenientVisitor<T> {
    type Value = Lenient<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Lenient<T>, E> {
        Ok(Lenient(T::from_str(v)))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Lenient<T>, E> {
        Ok(Lenient(T::from_string(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Lenient<T>, E> {
        Ok(Lenient(T::from_i64(v)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Lenient<T>, E> {
        Ok(Lenient(T::from_u64(v)))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Lenient<T>, E> {
        Ok(Lenient(None))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Lenient<T>, E> {
        Ok(Lenient(None))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Lenient<T>, E> {
        Ok(Lenient(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Lenient<T>, A::Error> {
        T::from_seq(seq).map(Lenient)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Lenient<T>, A::Error> {
        T::from_map(map).map(Lenient)
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
    fn the_streaming_reader_gives_what_the_derived_deserializer_gives() {
        // `#[derive(Deserialize)]` on `Booking` (lenient fields, flattened `extra`) is the
        // definition; `from_json` and `from_value` are the fast readers plugins use.
        let awkward = [
            r#"{"id": 7, "status": "no_show", "start": [1, {"a": 2}], "end": {"x": 1},
            "notes": null, "service": {"price": {"amount": "lots"}}, "intake_form": {"answers": 3},
            "client": "not an object", "changes": {"start": {"from": "a", "to": "b"}}}"#,
            r#"{"service": {"duration_minutes": 50.0, "price": {"amount": 18446744073709551615,
            "currency": 3, "vat": true}, "n\u0061me": "escaped key", "tags": ["a"]},
            "therapist": [1, 2], "client": {"id": null, "phone": {"cc": 45}, "x\"y": 1}}"#,
            r#"{"service": {"duration_minutes": -1, "price": [1]}, "id": "first", "id": 2,
            "status": "x", "status": false, "location": {"type": "online", "url": 5},
            "changes": {"end": [1, 2]}}"#,
            r#"{"changes": {"a": [1], "b": {"to": {"x": [1]}, "note": 1}}}"#,
            r#"{"changes": {"a": [], "b": [1, 2, 3]}}"#,
            r#"{"changes": {"a": {"from": 1, "from": 2}}}"#,
            r#"{"changes": [{"from": 1}]}"#,
            r#"{"changes": {"b": {"from": 1, "to": 2}, "a": "x", "c": {"from": 3}}}"#,
            r#"{"service": {"duration_minutes": 4294967296, "price": {"amount": -950}},
            "location": "Nørrebro", "changes": {"a": {"from": 1}, "b": 2}, "extra": {}}"#,
            r#"{"client": {"name": "A \"quoted\" \u00e6 name", "name": "second wins"}}"#,
        ];
        let fixtures = [
            include_str!("../../fixtures/booking-created.json"),
            include_str!("../../fixtures/booking-updated.json"),
            include_str!("../../fixtures/booking-deleted.json"),
        ];
        let bookings = fixtures
            .iter()
            .map(|f| serde_json::from_str::<Value>(f).unwrap()["data"].to_string());
        for text in bookings
            .chain(awkward.map(str::to_string))
            .chain(["{}".into()])
        {
            let value: Value = serde_json::from_str(&text).unwrap();
            let fast = Booking::from_json(&text).unwrap();
            assert_eq!(Booking::from_value(&value).unwrap(), fast, "{text}");
            match serde_json::from_str::<Booking>(&text) {
                Ok(derived) => assert_eq!(fast, derived, "{text}"),
                // The derived reader refuses a repeated key; the fast ones keep the last, as
                // a `Value` does.
                Err(e) => assert!(e.to_string().contains("duplicate field"), "{e}"),
            }
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
