// The event and the booking, typed, with every field the booking system sent kept: known
// fields become properties; whatever else an object carries stays in its `extra` object, so a
// plugin can pass on fields krog does not know yet. Every property but `id` may be null.

/** Takes `key` out of `rest` when it holds a value of `type`; one of another type stays in
 * `rest` (and so in `extra`) rather than being lost. */
function take(rest, key, type) {
  const value = rest[key];
  if (value === undefined || value === null) {
    delete rest[key];
    return null;
  }
  const ok =
    type === "integer" ? Number.isInteger(value) : type === "object" ? isObject(value) : typeof value === type;
  if (!ok) return null;
  delete rest[key];
  return value;
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function object(rest, key, parse) {
  const value = take(rest, key, "object");
  return value === null ? null : parse({ ...value });
}

function price(rest) {
  return { amount: take(rest, "amount", "integer"), currency: take(rest, "currency", "string"), extra: rest };
}

function service(rest) {
  return {
    id: take(rest, "id", "string"),
    name: take(rest, "name", "string"),
    durationMinutes: take(rest, "duration_minutes", "integer"),
    price: object(rest, "price", price),
    extra: rest,
  };
}

function person(rest, fields) {
  const out = {};
  for (const field of fields) out[field] = take(rest, field, "string");
  out.extra = rest;
  return out;
}

function location(rest) {
  const online = rest.type === "online" || ("url" in rest && !("address" in rest));
  if (rest.type === "online") delete rest.type;
  return {
    online,
    name: take(rest, "name", "string"),
    address: take(rest, "address", "string"),
    url: take(rest, "url", "string"),
    extra: rest,
  };
}

/** One line for a location: `name, address`, or the meeting URL. */
export function locationText(loc) {
  if (!loc) return "";
  if (loc.online) return loc.url ?? "";
  return [loc.name, loc.address].filter(Boolean).join(", ");
}

/** Reads the booking object of an event (its `data`). Throws when it is not an object with a
 * string `id`. */
export function parseBooking(data) {
  if (!isObject(data)) throw new TypeError("the booking must be a JSON object");
  const rest = { ...data };
  const id = take(rest, "id", "string");
  if (id === null) throw new TypeError("the booking has no string `id`");
  const changes = take(rest, "changes", "object");
  return {
    id,
    status: take(rest, "status", "string"),
    start: take(rest, "start", "string"),
    end: take(rest, "end", "string"),
    service: object(rest, "service", service),
    therapist: object(rest, "therapist", (r) => person(r, ["id", "name", "email"])),
    client: object(rest, "client", (r) => person(r, ["id", "name", "email", "phone"])),
    location: object(rest, "location", location),
    notes: take(rest, "notes", "string"),
    createdAt: take(rest, "created_at", "string"),
    updatedAt: take(rest, "updated_at", "string"),
    changes:
      changes === null
        ? null
        : Object.fromEntries(
            Object.entries(changes).map(([name, c]) => [name, isObject(c) ? { from: c.from, to: c.to } : { from: null, to: c }]),
          ),
    extra: rest,
  };
}

/** The event as the host hands it over: `{id, eventType, timestamp, tenant, data}` with
 * `data` as JSON text. */
export function parseEvent(wire) {
  const data = JSON.parse(wire.data);
  return {
    id: wire.id,
    type: wire.eventType,
    timestamp: wire.timestamp,
    tenant: wire.tenant,
    data,
    booking: parseBooking(data),
  };
}
