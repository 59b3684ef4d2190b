// Types of @krog/plugin-sdk. The shapes that cross the boundary (the host's event, the
// outcome, the plugin's info) are generated from the WIT world into ../types/ (`npm run types`).

/// <reference path="../types/transformer.d.ts" />
import type { Event as WireEvent, Outcome as WireOutcome, PluginInfo, LogLevel } from "krog:plugin/transformer@0.1.0";

export type { WireEvent, WireOutcome, PluginInfo, LogLevel };

/** Fields krog does not name, exactly as the booking system sent them. */
export type Extra = Record<string, unknown>;

export interface Price { amount: number | null; currency: string | null; extra: Extra }
export interface Service { id: string | null; name: string | null; durationMinutes: number | null; price: Price | null; extra: Extra }
export interface Therapist { id: string | null; name: string | null; email: string | null; extra: Extra }
export interface Client { id: string | null; name: string | null; email: string | null; phone: string | null; extra: Extra }
/** A place (`name`, `address`) or, when `online`, a meeting `url`. */
export interface Location { online: boolean; name: string | null; address: string | null; url: string | null; extra: Extra }
/** One field of an update: what it was and what it became. */
export interface Change { from: unknown; to: unknown }

/** The booking object of an event; `extra` holds the fields not named here. */
export interface Booking {
  id: string;
  status: string | null;
  start: string | null;
  end: string | null;
  service: Service | null;
  therapist: Therapist | null;
  client: Client | null;
  location: Location | null;
  notes: string | null;
  createdAt: string | null;
  updatedAt: string | null;
  /** On `booking.updated`: the fields that changed, by name. */
  changes: Record<string, Change> | null;
  extra: Extra;
}

export type EventType = "booking.created" | "booking.updated" | "booking.deleted";

/** One booking event: `data` is the booking exactly as sent, `booking` the same, typed. */
export interface Event {
  id: string;
  type: EventType | string;
  timestamp: string;
  tenant: string;
  data: Record<string, unknown>;
  booking: Booking;
}

export interface Deliver { kind: "deliver"; contentType: string; headers: Array<[string, string]>; body: Uint8Array }
export interface Skip { kind: "skip"; reason: string }
export type Outcome = Deliver | Skip;

export function deliver(body: string | Uint8Array | number[], contentType?: string, headers?: Array<[string, string]>): Deliver;
export function deliverJson(value: unknown, headers?: Array<[string, string]>): Deliver;
export function skip(reason: string): Skip;

/** Fails the delivery with this message alone (no stack). */
export class PluginError extends Error {}

export interface Log {
  (level: LogLevel, message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
export const log: Log;

export function parseBooking(data: unknown): Booking;
export function parseEvent(wire: WireEvent): Event;
export function locationText(location: Location | null): string;
export function describe(error: unknown): string;
export function setLogSink(sink: (level: LogLevel, message: string) => void): (level: LogLevel, message: string) => void;

export interface PluginSpec<Config = any> {
  name: string;
  version?: string;
  description?: string;
  /** JSON Schema of the config; krog validates subscriptions' configs against it. */
  configSchema?: object;
  transform(event: Event, config: Config): Outcome;
}

export interface Plugin<Config = any> {
  name: string;
  version: string;
  description: string;
  configSchema: object;
  transform(event: Event, config: Config): Outcome;
  /** The component's `info` export. */
  info(): PluginInfo;
  /** The component's `transform` export: the WIT outcome, or throws the error text. */
  call(wire: WireEvent, configText: string): WireOutcome;
}

export function definePlugin<Config = any>(spec: PluginSpec<Config>): Plugin<Config>;
