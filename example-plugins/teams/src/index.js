// Microsoft Teams: each booking event as an Adaptive Card, posted to a channel through a
// Teams workflow ("When a Teams webhook request is received") or an incoming webhook.

import { definePlugin, deliverJson, locationText, log, PluginError } from "@krog/plugin-sdk";
import { whenText } from "./time.js";

const TEXT = {
  en: {
    created: "New booking",
    updated: "Booking changed",
    deleted: "Booking cancelled",
    client: "Client",
    therapist: "Therapist",
    service: "Service",
    when: "When",
    where: "Where",
    price: "Price",
    moved: "Moved from",
    notes: "Notes",
    join: "Join the meeting",
    online: "Online",
  },
  da: {
    created: "Ny booking",
    updated: "Booking ændret",
    deleted: "Booking aflyst",
    client: "Klient",
    therapist: "Behandler",
    service: "Ydelse",
    when: "Hvornår",
    where: "Hvor",
    price: "Pris",
    moved: "Flyttet fra",
    notes: "Noter",
    join: "Deltag i mødet",
    online: "Online",
  },
  de: {
    created: "Neue Buchung",
    updated: "Buchung geändert",
    deleted: "Buchung storniert",
    client: "Klient",
    therapist: "Therapeut",
    service: "Leistung",
    when: "Wann",
    where: "Wo",
    price: "Preis",
    moved: "Verschoben von",
    notes: "Notizen",
    join: "Am Meeting teilnehmen",
    online: "Online",
  },
};

const configSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "Microsoft Teams",
  type: "object",
  additionalProperties: false,
  properties: {
    locale: { enum: ["en", "da", "de"], default: "en", description: "Language of the card." },
    client: {
      enum: ["full", "first_name", "initials", "none"],
      default: "first_name",
      description: "How much of the client's name the channel sees.",
    },
    include_notes: {
      type: "boolean",
      default: false,
      description: "Show the booking's notes (they may hold health information: off by default).",
    },
    include_price: { type: "boolean", default: false, description: "Show the service's price." },
    title_prefix: { type: "string", maxLength: 100, description: "Put before the card's title, e.g. the clinic's name." },
  },
};

function clientName(name, mode) {
  if (!name || mode === "none") return null;
  const parts = name.trim().split(/\s+/);
  if (mode === "first_name") return parts[0];
  if (mode === "initials") return parts.map((p) => `${[...p][0]}.`).join(" ");
  return name;
}

function price(service) {
  const p = service?.price;
  if (!p || p.amount === null) return null;
  const whole = Math.trunc(p.amount / 100);
  const cents = String(Math.abs(p.amount % 100)).padStart(2, "0");
  return `${whole}.${cents}${p.currency ? ` ${p.currency}` : ""}`;
}

export default definePlugin({
  name: "teams",
  version: "0.1.0",
  description: "Posts each booking event to a Microsoft Teams channel as an Adaptive Card.",
  configSchema,
  transform(event, config) {
    const locale = config.locale ?? "en";
    const t = TEXT[locale];
    if (!t) throw new PluginError(`locale ${JSON.stringify(locale)} is not one of en, da, de`);
    const kind = event.type.replace(/^booking\./, "");
    if (!(kind in { created: 1, updated: 1, deleted: 1 })) {
      throw new PluginError(`unknown event type ${event.type}`);
    }
    const b = event.booking;
    log.debug(`card for ${b.id} (${event.type})`);

    const facts = [];
    const fact = (title, value) => value && facts.push({ title, value });
    fact(t.client, clientName(b.client?.name, config.client ?? "first_name"));
    fact(t.therapist, b.therapist?.name);
    fact(t.service, b.service?.name);
    fact(t.when, whenText(b.start, b.end, locale));
    fact(t.where, b.location?.online ? t.online : locationText(b.location));
    if (config.include_price) fact(t.price, price(b.service));
    const moved = b.changes?.start;
    if (kind === "updated" && moved?.from) fact(t.moved, whenText(moved.from, b.changes?.end?.from ?? null, locale));

    const title = `${config.title_prefix ? `${config.title_prefix}: ` : ""}${t[kind]}`;
    const body = [
      {
        type: "TextBlock",
        text: title,
        weight: "Bolder",
        size: "Medium",
        wrap: true,
        ...(kind === "deleted" ? { color: "Attention" } : {}),
      },
      { type: "FactSet", facts },
    ];
    if (config.include_notes && b.notes) {
      body.push({ type: "TextBlock", text: `${t.notes}: ${b.notes}`, wrap: true, isSubtle: true });
    }
    const actions = [];
    if (b.location?.online && b.location.url && kind !== "deleted") {
      actions.push({ type: "Action.OpenUrl", title: t.join, url: b.location.url });
    }
    return deliverJson({
      type: "message",
      attachments: [
        {
          contentType: "application/vnd.microsoft.card.adaptive",
          contentUrl: null,
          content: {
            $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
            type: "AdaptiveCard",
            version: "1.4",
            body,
            ...(actions.length ? { actions } : {}),
          },
        },
      ],
    });
  },
});
