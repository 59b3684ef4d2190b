import type { Plugin } from "./index.js";

export class PluginFailed extends Error {
  logs: Array<[string, string]>;
}

export type RunResult =
  | { outcome: "skip"; reason: string; logs: Array<[string, string]> }
  | {
      outcome: "deliver";
      contentType: string;
      headers: Array<[string, string]>;
      body: Uint8Array;
      text: string;
      json(): any;
      logs: Array<[string, string]>;
    };

/** Runs `plugin` natively on a fixture path, an envelope object or its JSON text. */
export function run(plugin: Plugin, event: string | object, config?: object | string): RunResult;
