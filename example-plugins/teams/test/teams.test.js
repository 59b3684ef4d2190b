import { test } from "node:test";
import assert from "node:assert/strict";
import { run } from "@krog/plugin-sdk/testing";
import teams from "../src/index.js";
import { whenText } from "../src/time.js";

const fixture = (name) => new URL(`../../../fixtures/${name}.json`, import.meta.url).pathname;
const card = (out) => out.json().attachments[0].content;
const facts = (out) => Object.fromEntries(card(out).body[1].facts.map((f) => [f.title, f.value]));

test("a new booking is an adaptive card with the booking's facts", () => {
  const out = run(teams, fixture("booking-created"));
  assert.equal(out.contentType, "application/json");
  assert.equal(out.json().type, "message");
  assert.equal(out.json().attachments[0].contentType, "application/vnd.microsoft.card.adaptive");
  assert.equal(card(out).body[0].text, "New booking");
  assert.deepEqual(facts(out), {
    Client: "Jens",
    Therapist: "Mette Søndergaard",
    Service: "Parterapi",
    When: "Thu 3 Dec 2026, 14:00–14:50",
    Where: "Klinik Nørrebro, Nørrebrogade 52, 2200 København N",
  });
});

test("notes and the full name are shown only when the config asks", () => {
  const plain = JSON.stringify(run(teams, fixture("booking-created")).json());
  assert.ok(!plain.includes("Første samtale") && !plain.includes("Ødegård"));
  const out = run(teams, fixture("booking-created"), { include_notes: true, client: "full", include_price: true });
  assert.match(card(out).body[2].text, /^Notes: Første samtale/);
  assert.equal(facts(out).Client, "Jens Ødegård");
  assert.equal(facts(out).Price, "950.00 DKK");
  assert.equal(facts(run(teams, fixture("booking-created"), { client: "initials" })).Client, "J. Ø.");
  assert.equal(facts(run(teams, fixture("booking-created"), { client: "none" })).Client, undefined);
});

test("a moved booking says where it moved from, in Danish", () => {
  const out = run(teams, fixture("booking-updated"), { locale: "da" });
  assert.equal(card(out).body[0].text, "Booking ændret");
  assert.equal(facts(out).Hvornår, "fre 4. dec 2026, 10:00–10:50");
  assert.equal(facts(out)["Flyttet fra"], "tor 3. dec 2026, 14:00–14:50");
});

test("a cancellation is marked for attention", () => {
  const out = run(teams, fixture("booking-deleted"), { title_prefix: "Klinik Nørrebro" });
  assert.equal(card(out).body[0].text, "Klinik Nørrebro: Booking cancelled");
  assert.equal(card(out).body[0].color, "Attention");
});

test("an online booking gets a join button", () => {
  const out = run(teams, fixture("booking-created-online"));
  assert.equal(facts(out).Where, "Online");
  assert.deepEqual(card(out).actions, [{ type: "Action.OpenUrl", title: "Join the meeting", url: "https://meet.example.com/r/9f3a" }]);
});

test("an unknown locale is an error that names the ones there are", () => {
  assert.throws(() => run(teams, fixture("booking-created"), { locale: "fr" }), /locale "fr" is not one of en, da, de/);
});

test("a time it cannot read is shown as sent", () => {
  assert.equal(whenText("tomorrow", null, "en"), "tomorrow");
  assert.equal(whenText("2026-12-31T23:30:00Z", "2027-01-01T00:20:00Z", "de"), "Do 31. Dez 2026, 23:30");
});
