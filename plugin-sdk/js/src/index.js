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

/** `Name: message` and the stack's lines, as the engine gives them. */
export function describe(error) {
  if (error instanceof PluginError) return error.message;
  if (error instanceof Error) {
    const head = `${error.name}: ${error.message}`;
    const stack = typeof error.stack === "string" ? error.stack.trimEnd() : "";
    if (!stack) return head;
    // V8 starts its stack with the head; QuickJS gives the frames alone.
    return stack.startsWith(head) ? stack : `${head}\n${stack}`;
  }
  return `a non-Error value was thrown: ${typeof error === "string" ? error : JSON.stringify(error)}`;
}

/** Declares the plugin: `export default definePlugin({name, version, description,
 * configSchema, transform(event, config)})`. `config` is the subscription's config, parsed from
 * JSON (krog validates it against `configSchema`, a JSON Schema, when the subscription is
 * saved). */
export function definePlugin(spec) {
  if (typeof spec?.transform !== "function") throw new TypeError("definePlugin needs a transform(event, config) function");
  if (typeof spec.name !== "string" || !spec.name) throw new TypeError("definePlugin needs a name");
  const plugin = {
    name: spec.name,
    version: spec.version ?? "0.1.0",
    description: spec.description ?? "",
    configSchema: spec.configSchema ?? {},
    transform: spec.transform,
    /** What the component's `info` export returns. */
    info() {
      return {
        name: plugin.name,
        version: plugin.version,
        description: plugin.description,
        configSchema: JSON.stringify(plugin.configSchema),
      };
    },
    /** What the component's `transform` export runs, on the host's event; returns the WIT
     * outcome or throws the error text krog records. */
    call(wire, configText) {
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
      if (outcome?.kind === "deliver") {
        return { tag: "deliver", val: { contentType: outcome.contentType, headers: outcome.headers, body: outcome.body } };
      }
      if (outcome?.kind === "skip") return { tag: "skip", val: outcome.reason };
      throw `transform returned ${outcome === undefined ? "nothing" : JSON.stringify(outcome)}; return deliver(…), deliverJson(…) or skip(…)`;
    },
  };
  return plugin;
}
