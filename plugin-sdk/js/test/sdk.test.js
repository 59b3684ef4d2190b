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

const failing = (transform) => definePlugin({ name: "failing", transform });
const failureOf = (transform) => {
  try {
    run(failing(transform), fixtures + "booking-created.json");
  } catch (error) {
    assert.ok(error instanceof PluginFailed, String(error));
    return error.message;
  }
  assert.fail("expected the plugin to fail");
};

test("a thrown value that is not an Error is the plugin's error with the value", () => {
  assert.equal(failureOf(() => { throw { code: 42 }; }), 'a non-Error value was thrown: {"code":42} (throw an Error to get a stack)');
  assert.match(failureOf(() => { throw "plain"; }), /^a non-Error value was thrown: plain /);
  assert.match(failureOf(() => { throw undefined; }), /^a non-Error value was thrown: undefined /);
  assert.match(failureOf(() => { throw 10n; }), /^a non-Error value was thrown: 10 /);
  const cyclic = {};
  cyclic.self = cyclic;
  assert.match(failureOf(() => { throw cyclic; }), /^a non-Error value was thrown: \[object Object\] /);
});

test("an Error whose stack cannot be read is still the plugin's error", () => {
  const error = new Error("hidden");
  Object.defineProperty(error, "stack", { get() { throw new Error("no stack here"); } });
  assert.equal(failureOf(() => { throw error; }), "an Error was thrown whose message or stack cannot be read (Error: no stack here)");
});

test("an async transform is refused with what to change", () => {
  assert.match(failureOf(async () => { throw new Error("never seen"); }), /returned a Promise; .* must not be async/);
});

test("a delivery of the wrong shape is the plugin's error naming the field", () => {
  const shaped = (outcome) => failureOf(() => ({ kind: "deliver", contentType: "text/plain", headers: [], body: "x", ...outcome }));
  assert.match(shaped({ headers: [["x-n", 1]] }), /^the delivery's headers are \[\["x-n",1\]\], not a list/);
  assert.match(shaped({ contentType: 7 }), /^the delivery's contentType is 7, not a string/);
  assert.match(shaped({ body: { text: "x" } }), /^the delivery's body is \{"text":"x"\}, not a string or a Uint8Array/);
  const out = run(failing(() => ({ kind: "deliver", contentType: "text/plain", headers: [], body: "é" })), fixtures + "booking-created.json");
  assert.deepEqual([...out.body], [0xc3, 0xa9]);
});

test("a config schema that is not JSON fails where the plugin is defined", () => {
  assert.throws(() => definePlugin({ name: "p", configSchema: { max: 1n }, transform: () => skip("x") }), TypeError);
});

test("an exception at a module's top level fails the build with the author's line", async () => {
  const { execFileSync } = await import("node:child_process");
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const project = mkdtempSync(join(tmpdir(), "krog-sdk-test-"));
  try {
    mkdirSync(join(project, "src"));
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "top", type: "module" }));
    writeFileSync(join(project, "src", "index.js"), 'import { definePlugin, skip } from "@krog/plugin-sdk";\nimport { table } from "./table.js";\nexport default definePlugin({ name: "top", transform: () => skip(table) });\n');
    writeFileSync(join(project, "src", "table.js"), 'function load() {\n  throw new Error("the table could not be built");\n}\nexport const table = load();\n');
    let stderr = "";
    try {
      execFileSync(process.execPath, [new URL("../bin/build.mjs", import.meta.url).pathname, project], { stdio: "pipe" });
    } catch (error) {
      stderr = String(error.stderr);
    }
    assert.match(stderr, /threw while its modules were evaluated \(their top level runs at build time\): Error: the table could not be built/);
    assert.match(stderr, /at load \(\/src\/table\.js:2:/);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});
