"""A deliberately misbehaving Python plugin for the runtime's tests, written with the SDK as an
author would. The config (a JSON string) picks the behaviour: ``loop``, ``memory``, ``throw``,
``exit`` (``sys.exit`` in a helper), ``malformed`` (a delivery whose content type is not
text), ``big``, ``ok``, ``count`` (how many calls this instance has served)."""

import sys

from krog_plugin import Deliver, deliver, log, plugin, skip

calls = 0


def explode(booking):
    return {"rooms": 0}[booking.id]


def give_up(booking):
    sys.exit(f"giving up on {booking.id}")


@plugin(
    name="hostile-py",
    description="Misbehaves on purpose, as the config says.",
    config_schema={"type": "string", "enum": ["loop", "memory", "throw", "exit", "malformed", "big", "ok", "count"]},
)
def transform(event, behaviour):
    global calls
    calls += 1
    if behaviour == "loop":
        while True:
            calls += 1
    if behaviour == "memory":
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
    if behaviour == "throw":
        log.warn("about to throw")
        return explode(event.booking)
    if behaviour == "exit":
        return give_up(event.booking)
    if behaviour == "malformed":
        return Deliver(None, b"x")
    if behaviour == "big":
        return deliver(b"x" * (10 << 20))
    if behaviour == "count":
        return deliver(str(calls))
    if behaviour == "ok":
        return skip(f"fine: {event.booking.id}")
    return skip(f"unknown behaviour {behaviour}")
