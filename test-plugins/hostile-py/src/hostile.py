"""A deliberately misbehaving Python plugin for the runtime's tests, written with the SDK as an
author would. The config (a JSON string) picks the behaviour: ``loop``, ``memory``, ``throw``,
``big``, ``ok``, ``count`` (how many calls this instance has served)."""

from krog_plugin import deliver, log, plugin, skip

calls = 0


def explode(booking):
    return {"rooms": 0}[booking.id]


@plugin(
    name="hostile-py",
    description="Misbehaves on purpose, as the config says.",
    config_schema={"type": "string", "enum": ["loop", "memory", "throw", "big", "ok", "count"]},
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
    if behaviour == "big":
        return deliver(b"x" * (10 << 20))
    if behaviour == "count":
        return deliver(str(calls))
    if behaviour == "ok":
        return skip(f"fine: {event.booking.id}")
    return skip(f"unknown behaviour {behaviour}")
