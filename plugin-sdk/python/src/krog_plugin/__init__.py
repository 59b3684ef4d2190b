"""Write krog transforms in Python: a booking event in, a webhook request (or a skip) out.

    from krog_plugin import Event, deliver_json, log, plugin, skip

    @plugin(name="hello", version="0.1.0", description="Says hello.")
    def transform(event: Event, config: dict):
        if event.type != "booking.created":
            return skip("only new bookings")
        log.info(f"booking {event.booking.id}")
        return deliver_json({"hello": event.booking.client_name})

The same function runs natively under pytest (``krog_plugin.testing.run``) and, built with
``python -m krog_plugin.build`` (componentize-py), as a component of krog's world
``krog:plugin/transformer@0.1.0``. An exception the plugin raises becomes the plugin's own
error, with its type, message and traceback, never a bare trap.
"""

from __future__ import annotations

import json
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from .booking import Booking, Change, Client, Event, Location, Price, Service, Therapist

__all__ = [
    "Booking",
    "Change",
    "Client",
    "Deliver",
    "Event",
    "Location",
    "Outcome",
    "Plugin",
    "PluginError",
    "Price",
    "Service",
    "Skip",
    "Therapist",
    "deliver",
    "deliver_json",
    "log",
    "plugin",
    "skip",
]


@dataclass
class Deliver:
    """Send this request: krog signs it and POSTs it to the subscriber."""

    content_type: str
    body: bytes
    headers: List[Tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        """The body parsed as JSON (for tests)."""
        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Skip:
    """Send nothing; the reason is recorded on the delivery."""

    reason: str


Outcome = Union[Deliver, Skip]


def deliver(
    body: Union[str, bytes],
    content_type: str = "text/plain; charset=utf-8",
    headers: Sequence[Tuple[str, str]] = (),
) -> Deliver:
    """A request with ``body`` (text is sent as UTF-8)."""
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    return Deliver(content_type, data, [(str(k), str(v)) for k, v in headers])


def deliver_json(value: Any, headers: Sequence[Tuple[str, str]] = ()) -> Deliver:
    """A request whose body is ``value`` as JSON (``application/json``)."""
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return deliver(body, "application/json", headers)


def skip(reason: str) -> Skip:
    return Skip(str(reason))


class PluginError(Exception):
    """Raise it to fail the delivery with this message alone (no traceback): for errors the
    subscriber's config or the booking causes, whose message says what to fix."""


class _Log:
    """``log.info("…")`` writes a line to the delivery's log (krog keeps 64 lines of 1 KiB per
    call). Natively the lines go to ``krog_plugin.testing``'s capture, or stderr."""

    def __init__(self) -> None:
        self.sink: Callable[[str, str], None] = _stderr_sink

    def __call__(self, level: str, message: str) -> None:
        if level not in ("debug", "info", "warn", "error"):
            raise ValueError(f"log level {level!r} is not debug, info, warn or error")
        self.sink(level, str(message))

    def debug(self, message: str) -> None:
        self("debug", message)

    def info(self, message: str) -> None:
        self("info", message)

    def warn(self, message: str) -> None:
        self("warn", message)

    def error(self, message: str) -> None:
        self("error", message)


def _stderr_sink(level: str, message: str) -> None:
    import sys

    print(f"[{level}] {message}", file=sys.stderr)


log = _Log()


@dataclass
class Plugin:
    """A transform with what it says about itself (see :func:`plugin`)."""

    function: Callable[[Event, Any], Outcome]
    name: str
    version: str
    description: str
    config_schema: dict

    def __call__(self, event: Event, config: Any) -> Outcome:
        return self.function(event, config)

    def info(self) -> Tuple[str, str, str, str]:
        """(name, version, description, config schema as JSON text)."""
        return (self.name, self.version, self.description, json.dumps(self.config_schema))

    def call(self, event: Event, config_text: str) -> Outcome:
        """What the component's ``transform`` export runs: parses the config, runs the
        function, checks what it returned. Raises :class:`Failure` with the message krog
        records."""
        try:
            config = json.loads(config_text) if config_text.strip() else {}
        except ValueError as error:
            raise Failure(f"the config is not valid JSON: {error}") from None
        try:
            outcome = self.function(event, config)
        except PluginError as error:
            raise Failure(_text(error)) from None
        except BaseException as error:  # noqa: BLE001 - every failure becomes the plugin's error
            # BaseException too: a plugin's SystemExit or KeyboardInterrupt would otherwise
            # leave the component as a bare trap.
            raise Failure(describe(error)) from None
        return checked(outcome)


def checked(outcome: Any) -> Outcome:
    """``outcome`` if krog can send it; a wrong type would otherwise trap in the component's
    glue without a word."""
    if isinstance(outcome, Skip):
        return Skip(str(outcome.reason))
    if not isinstance(outcome, Deliver):
        raise Failure(
            f"transform returned {type(outcome).__name__}; return deliver(...), "
            "deliver_json(...) or skip(...)"
        )
    if not isinstance(outcome.content_type, str):
        raise Failure(f"the delivery's content_type is {outcome.content_type!r}, not a str")
    body = outcome.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    elif not isinstance(body, bytes):
        raise Failure(f"the delivery's body is {type(body).__name__}, not bytes or str")
    headers = outcome.headers
    if not isinstance(headers, (list, tuple)) or not all(
        isinstance(h, (list, tuple)) and len(h) == 2 and all(isinstance(p, str) for p in h)
        for h in headers
    ):
        raise Failure(f"the delivery's headers are {headers!r}, not a list of (name, value) str pairs")
    return Deliver(outcome.content_type, body, [(name, value) for name, value in headers])


class Failure(Exception):
    """A call that failed: the message is what krog records as the plugin's error."""


def describe(error: BaseException) -> str:
    """``Type: message`` and the traceback's lines, innermost last, as Python prints them,
    from the author's first frame (the SDK's own calls into the plugin are left out). Never
    raises: an exception whose ``str`` fails is still described by its type and traceback."""
    message = _text(error)
    head = f"{type(error).__name__}: {message}" if message else type(error).__name__
    frames = error.__traceback__
    while (
        frames is not None
        and frames.tb_next is not None
        and os.path.dirname(frames.tb_frame.f_code.co_filename) == _SDK_DIR
    ):
        frames = frames.tb_next
    try:
        lines = traceback.format_exception(type(error), error, frames)
    except BaseException:  # noqa: BLE001 - the message is unreadable; the frames are not
        lines = ["Traceback (most recent call last):\n"]
        lines += traceback.format_tb(frames)
        lines.append(head + "\n")
    return head + "\n" + "".join(lines).rstrip()


_SDK_DIR = os.path.dirname(os.path.abspath(__file__))


def _text(error: BaseException) -> str:
    """``str(error)``, or what can be said when that raises."""
    try:
        return str(error)
    except BaseException as unreadable:  # noqa: BLE001
        return f"(its message cannot be read: {type(unreadable).__name__})"


_registered: List[Plugin] = []


def plugin(
    name: str,
    version: str = "0.1.0",
    description: str = "",
    config_schema: Optional[dict] = None,
) -> Callable[[Callable[[Event, Any], Outcome]], Plugin]:
    """Declares the module's transform: ``@plugin(name=…, version=…, description=…,
    config_schema={…})`` on ``def transform(event, config)``. ``config`` is the
    subscription's config, parsed from JSON (krog validates it against ``config_schema``, a
    JSON Schema, when the subscription is saved)."""

    def wrap(function: Callable[[Event, Any], Outcome]) -> Plugin:
        # The schema is turned into JSON here, so that one JSON cannot hold fails at this
        # line (at build time) rather than in krog's call of ``info``.
        json.dumps(config_schema or {})
        declared = Plugin(function, str(name), str(version), str(description), config_schema or {})
        _registered.append(declared)
        return declared

    return wrap


def registered() -> Plugin:
    """The one plugin the program declared with :func:`plugin`."""
    if len(_registered) != 1:
        raise RuntimeError(
            f"the plugin module must declare exactly one @plugin transform; found {len(_registered)}"
        )
    return _registered[0]
