import { test } from "node:test";
import assert from "node:assert/strict";
import { run } from "@krog/plugin-sdk/testing";
import plugin from "../src/index.js";

const event = new URL("../event.json", import.meta.url).pathname;

test("a new booking is greeted", () => {
  const out = run(plugin, event, { greeting: "Hej" });
  assert.equal(out.outcome, "deliver");
  assert.equal(out.text, "Hej, Jens Ødegård!");
  assert.deepEqual(out.logs, [["info", "greeting booking bk_1042"]]);
});
