// Write krog transforms in JavaScript: a booking event in, a webhook request (or a skip) out.
//
//   import { definePlugin, deliverJson, skip, log } from "@krog/plugin-sdk";
//
//   export default definePlugin({
//     name: "hello", version: "0.1.0", description: "Says hello.",
//     transform(event, config) {
//       if (event.type !== "booking.created") return skip("only new bookings");
//       log.info(`booking ${event.booking.id}`);
//       return deliverJson({ hello: event.booking.client?.name });
//     },
//   });
//
// The same module runs natively under `node --test` (`@krog/plugin-sdk/testing`) and, built
// with `npm run build` (componentize-qjs), as a component of krog's world
// `krog:plugin/transformer@0.1.0`. An exception becomes the plugin's own error with its
// message and stack, never a bare trap.

import { locationText, parseBooking, parseEvent } from "./booking.js";
import { utf8 } from "./utf8.js";

export { locationText, parseBooking, parseEvent };

/** Send this request: krog signs it and POSTs it. Text is sent as UTF-8. */
export function deliver(body, contentType = "text/plain; charset=utf-8", headers = []) {
  const bytes = typeof body === "string" ? utf8(body) : body instanceof Uint8Array ? body : Uint8Array.from(body);
  return { kind: "deliver", contentType, headers: headers.map(([k, v]) => [String(k), String(v)]), body: bytes };
}

/** A request whose body is `value` as JSON (`application/json`). */
export function deliverJson(value, headers = []) {
  return deliver(JSON.stringify(value), "application/json", headers);
}

/** Send nothing; the reason is recorded on the delivery. */
export function skip(reason) {
  return { kind: "skip", reason: String(reason) };
}

/** Throw it to fail the delivery with this message alone (no stack): for errors the
 * subscriber's config or the booking causes, whose message says what to fix. */
export class PluginError extends Error {
  constructor(message) {
    super(message);
    this.name = "PluginError";
  }
}

let sink = (level, message) => console.error(`[${level}] ${message}`);

/** Sets where log lines go (the component sets the host's `log`; tests capture them). */
export function setLogSink(next) {
  const previous = sink;
  sink = next;
  return previous;
}

const LEVELS = ["debug", "info", "warn", "error"];

/** `log.info("…")` writes a line to the delivery's log (krog keeps 64 lines of 1 KiB). */
export function log(level, message) {
  if (!LEVELS.includes(level)) throw new TypeError(`log level ${level} is not debug, info, warn or error`);
  sink(level, String(message));
}
log.debug = (message) => log("debug", message);
log.info = (message) => log("info", message);
log.warn = (message) => log("warn", message);
log.error = (message) => log("error", message);

/** `Name: message` and the stack's lines, as the engine gives them; for a thrown value that is
 * not an Error, the value (it carries no stack). Never throws: whatever the value, krog gets
 * text. */
export function describe(error) {
  try {
    if (error instanceof PluginError) return String(error.message);
    if (error instanceof Error) {
      const head = `${error.name}: ${error.message}`;
      const stack = typeof error.stack === "string" ? error.stack.trimEnd() : "";
      if (!stack) return head;
      // V8 starts its stack with the head; QuickJS gives the frames alone.
      return withoutSdkFrames(stack.startsWith(head) ? stack : `${head}\n${stack}`);
    }
  } catch (unreadable) {
    return `an Error was thrown whose message or stack cannot be read (${valueText(unreadable)})`;
  }
  return `a non-Error value was thrown: ${valueText(error)} (throw an Error to get a stack)`;
}

/** The stack without its last frames in this SDK (the component's own calls into the
 * author's transform): the author's frames end it. */
function withoutSdkFrames(stack) {
  const lines = stack.split("\n");
  while (lines.length > 1 && lines.at(-1).includes("/node_modules/@krog/plugin-sdk/src/")) lines.pop();
  return lines.join("\n");
}

/** A thrown value as text: strings as they are, the rest as JSON where it can be, else as
 * `String` makes it. */
function valueText(value) {
  if (typeof value === "string") return value;
  try {
    if (value instanceof Error) return String(value);
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch {
    // cyclic, a BigInt, or a throwing toJSON
  }
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Declares the plugin: `export default definePlugin({name, version, description,
 * configSchema, transform(event, config)})`. `config` is the subscription's config, parsed from
 * JSON (krog validates it against `configSchema`, a JSON Schema, when the subscription is
 * saved). */
export function definePlugin(spec) {
  if (typeof spec?.transform !== "function") throw new TypeError("definePlugin needs a transform(event, config) function");
  if (typeof spec.name !== "string" || !spec.name) throw new TypeError("definePlugin needs a name");
  // The schema is turned into text here, so that one JSON cannot hold (a cycle, a BigInt)
  // fails the build at this line rather than krog's call of `info`.
  const configSchema = JSON.stringify(spec.configSchema ?? {});
  const plugin = {
    name: spec.name,
    version: String(spec.version ?? "0.1.0"),
    description: String(spec.description ?? ""),
    configSchema: spec.configSchema ?? {},
    transform: spec.transform,
    /** What the component's `info` export returns. */
    info() {
      return {
        name: plugin.name,
        version: plugin.version,
        description: plugin.description,
        configSchema,
      };
    },
    /** What the component's `transform` export runs, on the host's event; returns the WIT
     * outcome or throws the error text krog records. */
    call(wire, configText) {
      // Whatever goes wrong, here or in the author's code, leaves as text: componentize-qjs
      // turns a thrown string into the `err` krog records, but other values lose their stack
      // or trap.
      try {
        return callTransform(plugin, wire, configText);
      } catch (error) {
        throw typeof error === "string" ? error : describe(error);
      }
    },
  };
  return plugin;
}

function callTransform(plugin, wire, configText) {
  let event;
  try {
    event = parseEvent(wire);
  } catch (error) {
    throw `the event's booking could not be read: ${error?.message ?? error}`;
  }
  let config;
  try {
    config = configText.trim() ? JSON.parse(configText) : {};
  } catch (error) {
    throw `the config is not valid JSON: ${error.message}`;
  }
  let outcome;
  try {
    outcome = plugin.transform(event, config);
  } catch (error) {
    throw describe(error);
  }
  return wireOutcome(outcome);
}

/** The WIT outcome for what `transform` returned, checked here: a wrong type would otherwise
 * trap in the component's glue without a word. */
function wireOutcome(outcome) {
  if (typeof outcome?.then === "function") {
    // An async transform: its rejection, if any, must not be reported as unhandled.
    Promise.resolve(outcome).catch(() => {});
    throw "transform returned a Promise; krog calls transforms synchronously, so transform must not be async";
  }
  if (outcome?.kind === "skip") return { tag: "skip", val: String(outcome.reason) };
  if (outcome?.kind !== "deliver") {
    throw `transform returned ${outcome === undefined ? "nothing" : valueText(outcome)}; return deliver(…), deliverJson(…) or skip(…)`;
  }
  const { contentType, headers, body } = outcome;
  if (typeof contentType !== "string") throw `the delivery's contentType is ${valueText(contentType)}, not a string`;
  if (!Array.isArray(headers) || !headers.every((h) => Array.isArray(h) && h.length === 2 && h.every((part) => typeof part === "string"))) {
    throw `the delivery's headers are ${valueText(headers)}, not a list of [name, value] strings`;
  }
  let bytes;
  if (body instanceof Uint8Array) bytes = body;
  else if (typeof body === "string") bytes = utf8(body);
  else if (body instanceof ArrayBuffer) bytes = new Uint8Array(body);
  else throw `the delivery's body is ${valueText(body)}, not a string or a Uint8Array`;
  return { tag: "deliver", val: { contentType, headers, body: bytes } };
}
