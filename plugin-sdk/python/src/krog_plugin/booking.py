"""The event and the booking, typed, with every field the booking system sent kept.

Known fields become attributes; whatever else an object carries stays in its ``extra`` dict,
so a plugin can pass on fields krog does not know yet. Every attribute may be ``None``: the
booking system does not promise any field but ``id``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = [
    "Booking",
    "Change",
    "Client",
    "Event",
    "Location",
    "Price",
    "Service",
    "Therapist",
]


def _take(obj: dict, key: str, kind: type) -> Any:
    """Remove ``key`` from ``obj`` when it holds a ``kind``; a value of another type stays in
    ``obj`` (and so in ``extra``) rather than being lost."""
    value = obj.get(key)
    if value is None:
        obj.pop(key, None)
        return None
    if kind is int and isinstance(value, bool):
        return None
    if isinstance(value, kind):
        del obj[key]
        return value
    return None


def _object(obj: dict, key: str) -> Optional[dict]:
    value = _take(obj, key, dict)
    return dict(value) if value is not None else None


@dataclass
class Price:
    """``{"amount", "currency"}``: the amount in minor units (øre, cents)."""

    amount: Optional[int] = None
    currency: Optional[str] = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: dict) -> "Price":
        return cls(_take(obj, "amount", int), _take(obj, "currency", str), obj)

    def display(self) -> str:
        """``950.00 DKK``, or ``""`` without an amount."""
        if self.amount is None:
            return ""
        text = f"{self.amount // 100}.{self.amount % 100:02d}"
        return f"{text} {self.currency}" if self.currency else text


@dataclass
class Service:
    id: Optional[str] = None
    name: Optional[str] = None
    duration_minutes: Optional[int] = None
    price: Optional[Price] = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: dict) -> "Service":
        price = _object(obj, "price")
        return cls(
            _take(obj, "id", str),
            _take(obj, "name", str),
            _take(obj, "duration_minutes", int),
            Price.from_dict(price) if price is not None else None,
            obj,
        )


@dataclass
class Therapist:
    id: Optional[str] = None
    name: Optional[str] = None
    email: Optional[str] = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: dict) -> "Therapist":
        return cls(_take(obj, "id", str), _take(obj, "name", str), _take(obj, "email", str), obj)


@dataclass
class Client:
    id: Optional[str] = None
    name: Optional[str] = None
    email: Optional[str] = None
    phone: Optional[str] = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: dict) -> "Client":
        return cls(
            _take(obj, "id", str),
            _take(obj, "name", str),
            _take(obj, "email", str),
            _take(obj, "phone", str),
            obj,
        )


@dataclass
class Location:
    """A place (``name``, ``address``) or, when ``online``, a meeting ``url``."""

    online: bool = False
    name: Optional[str] = None
    address: Optional[str] = None
    url: Optional[str] = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: dict) -> "Location":
        online = obj.get("type") == "online" or ("url" in obj and "address" not in obj)
        if obj.get("type") == "online":
            del obj["type"]
        return cls(
            online,
            _take(obj, "name", str),
            _take(obj, "address", str),
            _take(obj, "url", str),
            obj,
        )

    def display(self) -> str:
        """One line: ``name, address``, or the meeting URL."""
        if self.online:
            return self.url or ""
        return ", ".join(part for part in (self.name, self.address) if part)


@dataclass
class Change:
    """One field of an update: what it was and what it became."""

    before: Any = None
    after: Any = None


@dataclass
class Booking:
    """The booking object of an event. ``extra`` holds the fields not named here."""

    id: str = ""
    status: Optional[str] = None
    start: Optional[str] = None
    end: Optional[str] = None
    service: Optional[Service] = None
    therapist: Optional[Therapist] = None
    client: Optional[Client] = None
    location: Optional[Location] = None
    notes: Optional[str] = None
    created_at: Optional[str] = None
    updated_at: Optional[str] = None
    #: On ``booking.updated``: the fields that changed, by name.
    changes: Optional[dict] = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "Booking":
        if not isinstance(data, dict):
            raise ValueError("the booking must be a JSON object")
        obj = dict(data)
        booking_id = _take(obj, "id", str)
        if booking_id is None:
            raise ValueError("the booking has no string `id`")
        service = _object(obj, "service")
        therapist = _object(obj, "therapist")
        client = _object(obj, "client")
        location = _object(obj, "location")
        changes = _object(obj, "changes")
        return cls(
            id=booking_id,
            status=_take(obj, "status", str),
            start=_take(obj, "start", str),
            end=_take(obj, "end", str),
            service=Service.from_dict(service) if service is not None else None,
            therapist=Therapist.from_dict(therapist) if therapist is not None else None,
            client=Client.from_dict(client) if client is not None else None,
            location=Location.from_dict(location) if location is not None else None,
            notes=_take(obj, "notes", str),
            created_at=_take(obj, "created_at", str),
            updated_at=_take(obj, "updated_at", str),
            changes=(
                {
                    name: Change(c.get("from"), c.get("to")) if isinstance(c, dict) else Change(None, c)
                    for name, c in changes.items()
                }
                if changes is not None
                else None
            ),
            extra=obj,
        )

    @property
    def client_name(self) -> str:
        return (self.client.name if self.client else None) or ""

    @property
    def therapist_name(self) -> str:
        return (self.therapist.name if self.therapist else None) or ""

    @property
    def service_name(self) -> str:
        return (self.service.name if self.service else None) or ""


@dataclass
class Event:
    """One booking event: ``type`` is ``booking.created``, ``booking.updated`` or
    ``booking.deleted``; ``data`` is the booking object exactly as sent."""

    id: str
    type: str
    timestamp: str
    tenant: str
    data: dict
    booking: Booking

    @classmethod
    def from_parts(cls, id: str, type: str, timestamp: str, tenant: str, data: str) -> "Event":
        """The event as the host hands it over (``data`` is JSON text)."""
        parsed = json.loads(data)
        return cls(id, type, timestamp, tenant, parsed, Booking.from_dict(parsed))

    @classmethod
    def from_envelope(cls, envelope: Any, tenant: str = "local") -> "Event":
        """An event from the booking system's envelope ``{"id"?, "type", "timestamp"?,
        "data"}`` (a dict, JSON text, or a path to a fixture file), as ``krog plugin run``
        reads one."""
        if isinstance(envelope, os.PathLike) or (
            isinstance(envelope, str) and not envelope.lstrip().startswith("{")
        ):
            with open(envelope, encoding="utf-8") as file:
                envelope = json.load(file)
        elif isinstance(envelope, (str, bytes)):
            envelope = json.loads(envelope)
        data = envelope["data"]
        return cls(
            envelope.get("id") or "evt_local",
            envelope["type"],
            envelope.get("timestamp") or "1970-01-01T00:00:00Z",
            tenant,
            data,
            Booking.from_dict(data),
        )
