"""SMS reminders: each booking event as the text message a clinic sends its client, with when
to send it, for an SMS gateway or an automation (Zapier, Make, n8n) to deliver.

- ``booking.created``: a reminder, to go out ``hours_before`` the appointment.
- ``booking.updated``: when the time changed, a note of the new time, to go out now, and a new
  reminder time; other changes are skipped (the reminder already says what is needed).
- ``booking.deleted``: a confirmation of the cancellation, to go out now
  (``confirm_cancellations``).

The text is counted the way phones count it: GSM-7 (160 characters, 153 per part of a long
message; Danish æ ø å are in it) or UCS-2 (70 / 67) when it holds anything else, and cut down
to ``max_segments`` by leaving out the address, then the therapist.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from krog_plugin import Event, PluginError, deliver_json, log, plugin, skip

TEXT = {
    "en": {
        "reminder": "Hi {first}, a reminder of your {service} appointment{with_} on {when}{at}.",
        "moved": "Hi {first}, your {service} appointment{with_} has moved to {when}{at}.",
        "cancelled": "Hi {first}, your {service} appointment on {when} is cancelled.",
        "with": " with {therapist}",
        "at": " at {place}",
        "online": " (online: {url})",
        "sign": " - {clinic}",
        "service": "",
        "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        "date": "{day} {d} {month} at {time}",
        "months": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    },
    "da": {
        "reminder": "Hej {first}, husk din tid til {service}{with_} {when}{at}.",
        "moved": "Hej {first}, din tid til {service}{with_} er flyttet til {when}{at}.",
        "cancelled": "Hej {first}, din tid til {service} {when} er aflyst.",
        "with": " hos {therapist}",
        "at": ", {place}",
        "online": " (online: {url})",
        "sign": " - {clinic}",
        "days": ["man", "tir", "ons", "tor", "fre", "lør", "søn"],
        "date": "{day}. {d}. {month} kl. {time}",
        "months": ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
    },
    "de": {
        "reminder": "Hallo {first}, eine Erinnerung an Ihren Termin ({service}){with_} am {when}{at}.",
        "moved": "Hallo {first}, Ihr Termin ({service}){with_} wurde auf {when}{at} verschoben.",
        "cancelled": "Hallo {first}, Ihr Termin ({service}) am {when} ist abgesagt.",
        "with": " bei {therapist}",
        "at": ", {place}",
        "online": " (online: {url})",
        "sign": " - {clinic}",
        "days": ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"],
        "date": "{day}. {d}. {month} um {time}",
        "months": ["Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez"],
    },
}

CONFIG_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SMS reminders",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "locale": {"enum": ["en", "da", "de"], "default": "da", "description": "Language of the text."},
        "hours_before": {
            "type": "integer",
            "minimum": 1,
            "maximum": 336,
            "default": 24,
            "description": "How long before the appointment the reminder goes out.",
        },
        "clinic_name": {
            "type": "string",
            "maxLength": 60,
            "description": "Signs the text; default: the booking's location name.",
        },
        "max_segments": {
            "type": "integer",
            "minimum": 1,
            "maximum": 4,
            "default": 2,
            "description": "Most SMS parts one text may take.",
        },
        "confirm_cancellations": {"type": "boolean", "default": True},
    },
}

# GSM 03.38: the basic set, and the extension characters that take two places.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€")


def segments(text: str) -> tuple[str, int]:
    """(encoding, parts) of an SMS with this text."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        units = sum(2 if c in GSM_EXTENDED else 1 for c in text)
        return "GSM-7", 1 if units <= 160 else -(-units // 153)
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    return "UCS-2", 1 if units <= 70 else -(-units // 67)


def phone_number(raw: str | None) -> str | None:
    """E.164-ish: digits with a leading +; ``None`` when it has too few digits."""
    if not raw:
        return None
    digits = re.sub(r"[^\d]", "", raw)
    if len(digits) < 6:
        return None
    return ("+" if raw.strip().startswith(("+", "00")) else "") + digits.removeprefix("00")


def when(start: datetime, t: dict) -> str:
    return t["date"].format(
        day=t["days"][start.weekday()],
        d=start.day,
        month=t["months"][start.month - 1],
        time=start.strftime("%H:%M"),
    )


def parse_time(value: str | None, field: str) -> datetime:
    if not value:
        raise PluginError(f"the booking has no {field} time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PluginError(f"the booking's {field} time {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise PluginError(f"the booking's {field} time {value!r} has no UTC offset")
    return parsed


def compose(kind: str, event: Event, config: dict, start: datetime, t: dict) -> str:
    """The text, cut down to ``max_segments``: first without the place, then without the
    therapist."""
    b = event.booking
    first = (b.client_name.split() or [""])[0]
    place = ""
    if b.location is not None:
        place = (
            t["online"].format(url=b.location.url) if b.location.online and b.location.url
            else t["at"].format(place=b.location.display()) if b.location.display() else ""
        )
    clinic = config.get("clinic_name") or (b.location.name if b.location and not b.location.online else None)
    sign = t["sign"].format(clinic=clinic) if clinic else ""
    therapist = t["with"].format(therapist=b.therapist_name) if b.therapist_name else ""
    limit = config.get("max_segments", 2)
    for with_, at in ((therapist, place), (therapist, ""), ("", "")):
        text = t[kind].format(
            first=first, service=b.service_name or "", with_=with_, when=when(start, t), at=at
        ) + sign
        if segments(text)[1] <= limit:
            return text
    raise PluginError(
        f"the shortest text takes {segments(text)[1]} SMS parts; max_segments is {limit}"
    )


@plugin(
    name="reminder",
    version="0.1.0",
    description="SMS reminder texts for each booking, with when to send them.",
    config_schema=CONFIG_SCHEMA,
)
def transform(event: Event, config: dict):
    t = TEXT.get(config.get("locale", "da"))
    if t is None:
        raise PluginError(f"locale {config.get('locale')!r} is not one of en, da, de")
    b = event.booking
    to = phone_number(b.client.phone if b.client else None)
    if to is None:
        return skip("the client has no phone number")
    start = parse_time(b.start, "start")
    if event.type == "booking.created":
        kind, send_at = "reminder", start - timedelta(hours=config.get("hours_before", 24))
    elif event.type == "booking.updated":
        if not b.changes or "start" not in b.changes:
            return skip("the appointment's time did not change")
        kind, send_at = "moved", None
    elif event.type == "booking.deleted":
        if not config.get("confirm_cancellations", True):
            return skip("cancellations are not confirmed (confirm_cancellations is false)")
        kind, send_at = "cancelled", None
    else:
        return skip(f"{event.type} is not a booking event")
    text = compose(kind, event, config, start, t)
    encoding, parts = segments(text)
    log.info(f"{kind} for {b.id}: {parts} part(s), {encoding}")
    message = {
        "to": to,
        "text": text,
        "send_at": send_at.isoformat() if send_at else None,
        "kind": kind,
        "booking_id": b.id,
        "encoding": encoding,
        "segments": parts,
    }
    if kind == "moved":
        hours = config.get("hours_before", 24)
        message["reminder_at"] = (start - timedelta(hours=hours)).isoformat()
    return deliver_json(message)
