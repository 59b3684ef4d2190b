import { definePlugin, deliver, log, skip } from "@krog/plugin-sdk";

export default definePlugin({
  name: "{{name}}",
  version: "0.1.0",
  description: "Greets new clients in plain text.",
  configSchema: {
    type: "object",
    additionalProperties: false,
    properties: { greeting: { type: "string", description: "Put before the client's name (default Hello)." } },
  },
  transform(event, config) {
    if (event.type !== "booking.created") return skip("only new bookings are greeted");
    log.info(`greeting booking ${event.booking.id}`);
    return deliver(`${config.greeting ?? "Hello"}, ${event.booking.client?.name ?? "there"}!`);
  },
});
