// A deliberately misbehaving JavaScript plugin for the runtime's tests, written with the SDK as
// an author would. The config (a JSON string) picks the behaviour: `loop`, `memory`, `throw`,
// `throw-value` (a thrown object that is not an Error), `malformed` (a delivery whose headers
// are not strings), `big`, `ok`, `count` (how many calls this instance has served).

import { definePlugin, deliver, log, skip } from "@krog/plugin-sdk";

let calls = 0;

function explode(booking) {
  throw new RangeError(`no room for booking ${booking.id}`);
}

function refuse(booking) {
  throw { refused: booking.id };
}

export default definePlugin({
  name: "hostile-js",
  description: "Misbehaves on purpose, as the config says.",
  configSchema: { type: "string", enum: ["loop", "memory", "throw", "throw-value", "malformed", "big", "ok", "count"] },
  transform(event, behaviour) {
    calls += 1;
    switch (behaviour) {
      case "loop":
        for (;;) calls += 1;
      case "memory": {
        const hoard = [];
        for (;;) hoard.push(new ArrayBuffer(1 << 20));
      }
      case "throw":
        log.warn("about to throw");
        return explode(event.booking);
      case "throw-value":
        return refuse(event.booking);
      case "malformed":
        return { kind: "deliver", contentType: "text/plain", headers: [["x-count", calls]], body: "x" };
      case "big":
        return deliver(new Uint8Array(10 << 20).fill(120));
      case "count":
        return deliver(String(calls));
      case "ok":
        return skip(`fine: ${event.booking.id}`);
      default:
        return skip(`unknown behaviour ${behaviour}`);
    }
  },
});
