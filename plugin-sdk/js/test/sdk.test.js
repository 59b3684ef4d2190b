import { test } from "node:test";
import assert from "node:assert/strict";
import { definePlugin, deliver, deliverJson, log, parseBooking, PluginError, skip } from "../src/index.js";
import { PluginFailed, run } from "../src/testing.js";
import { utf8 } from "../src/utf8.js";

const fixtures = new URL("../../../fixtures/", import.meta.url).pathname;

const echo = definePlugin({
  name: "echo",
  transform(event, config) {
    log.info(`booking ${event.booking.id}`);
    if (config.fail === "error") throw new TypeError("the config asked for it");
    if (config.fail === "plugin") throw new PluginError("set `channel` in the config");
    if (config.fail === "nothing") return undefined;
    if (event.type === "booking.deleted") return skip("deleted");
    return deliverJson({ client: event.booking.client?.name, extra: event.booking.extra });
  },
});

test("a booking keeps the fields krog does not know in extra", () => {
  const booking = parseBooking({ id: "bk_1", status: "confirmed", colour: "blue", client: { name: "Jens", vip: true }, start: 5 });
  assert.equal(booking.id, "bk_1");
  assert.deepEqual(booking.extra, { colour: "blue", start: 5 });
  assert.equal(booking.start, null);
  assert.deepEqual(booking.client.extra, { vip: true });
});

test("an online location is told apart from an address", () => {
  const online = parseBooking({ id: "b", location: { type: "online", url: "https://m/1" } }).location;
  assert.equal(online.online, true);
  assert.equal(online.url, "https://m/1");
  assert.deepEqual(online.extra, {});
  assert.equal(parseBooking({ id: "b", location: { name: "K", address: "A 1" } }).location.online, false);
});

test("a booking without an id is refused", () => {
  assert.throws(() => parseBooking({ status: "x" }), /no string `id`/);
});

test("the fixtures run through the same path as the component", () => {
  const out = run(echo, fixtures + "booking-created.json");
  assert.equal(out.outcome, "deliver");
  assert.equal(out.contentType, "application/json");
  assert.equal(out.json().client, "Jens Ødegård");
  assert.deepEqual(out.logs, [["info", "booking bk_1042"]]);
  assert.equal(run(echo, fixtures + "booking-deleted.json").outcome, "skip");
});

test("a thrown error becomes the plugin's error with its name, message and stack", () => {
  let error;
  try {
    run(echo, fixtures + "booking-created.json", { fail: "error" });
  } catch (e) {
    error = e;
  }
  assert.match(error.message, /^TypeError: the config asked for it\n/);
  assert.match(error.message, /sdk\.test\.js:\d+:\d+/);
  assert.ok(error instanceof PluginFailed);
  assert.deepEqual(error.logs, [["info", "booking bk_1042"]]);
});

test("a PluginError is the message alone", () => {
  assert.throws(() => run(echo, fixtures + "booking-created.json", { fail: "plugin" }), { message: "set `channel` in the config" });
});

test("returning nothing names the helpers to return", () => {
  assert.throws(() => run(echo, fixtures + "booking-created.json", { fail: "nothing" }), /return deliver\(…\), deliverJson\(…\) or skip\(…\)/);
});

test("config that is not JSON is the plugin's error", () => {
  assert.throws(() => run(echo, fixtures + "booking-created.json", "{nope"), /the config is not valid JSON/);
});

test("text bodies are UTF-8 the way TextEncoder makes them", () => {
  for (const text of ["", "plain", "Ødegård", "日本", "😀", "a\ud800b"]) {
    assert.deepEqual(utf8(text), new TextEncoder().encode(text));
  }
  assert.deepEqual([...deliver("hi").body], [104, 105]);
  assert.equal(deliver("x").contentType, "text/plain; charset=utf-8");
});

test("info describes the plugin with its schema as JSON text", () => {
  const plugin = definePlugin({ name: "p", version: "1.2.3", description: "d", configSchema: { type: "object" }, transform: () => skip("x") });
  assert.deepEqual(plugin.info(), { name: "p", version: "1.2.3", description: "d", configSchema: '{"type":"object"}' });
});
