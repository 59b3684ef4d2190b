// Run a plugin natively, the way the component runs it:
//
//   const out = run(plugin, "../fixtures/booking-created.json", { locale: "da" });
//   assert.equal(out.outcome, "deliver"); out.json(); out.logs;
//
// `event` is a fixture path, an envelope object `{id?, type, timestamp?, data}` or its JSON
// text; `config` an object or JSON text. A failure throws `PluginFailed` with the message krog
// would record.

import { readFileSync } from "node:fs";
import { setLogSink } from "./index.js";

export class PluginFailed extends Error {
  constructor(message, logs) {
    super(message);
    this.name = "PluginFailed";
    this.logs = logs;
  }
}

function envelopeOf(event) {
  if (typeof event === "string") {
    return JSON.parse(event.trimStart().startsWith("{") ? event : readFileSync(event, "utf8"));
  }
  return event;
}

export function run(plugin, event, config = {}) {
  const envelope = envelopeOf(event);
  const wire = {
    id: envelope.id ?? "evt_local",
    eventType: envelope.type,
    timestamp: envelope.timestamp ?? "1970-01-01T00:00:00Z",
    tenant: "local",
    data: JSON.stringify(envelope.data),
  };
  const logs = [];
  const previous = setLogSink((level, message) => logs.push([level, message]));
  let result;
  try {
    result = plugin.call(wire, typeof config === "string" ? config : JSON.stringify(config));
  } catch (error) {
    throw new PluginFailed(typeof error === "string" ? error : String(error), logs);
  } finally {
    setLogSink(previous);
  }
  if (result.tag === "skip") return { outcome: "skip", reason: result.val, logs };
  const { contentType, headers, body } = result.val;
  const text = new TextDecoder().decode(body);
  return { outcome: "deliver", contentType, headers, body, text, json: () => JSON.parse(text), logs };
}
