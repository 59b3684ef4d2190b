from krog_plugin import Event, deliver, log, plugin, skip


@plugin(
    name="{{name}}",
    version="0.1.0",
    description="Greets new clients in plain text.",
    config_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {"greeting": {"type": "string", "description": "Put before the client's name."}},
    },
)
def transform(event: Event, config: dict):
    if event.type != "booking.created":
        return skip("only new bookings are greeted")
    log.info(f"greeting booking {event.booking.id}")
    return deliver(f"{config.get('greeting', 'Hello')}, {event.booking.client_name or 'there'}!")
