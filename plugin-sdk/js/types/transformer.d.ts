/// <reference path="./interfaces/krog-plugin-types.d.ts" />
declare module 'krog:plugin/transformer@0.1.0' {
  export type Event = import('krog:plugin/types@0.1.0').Event;
  export type Outcome = import('krog:plugin/types@0.1.0').Outcome;
  export type PluginInfo = import('krog:plugin/types@0.1.0').PluginInfo;
  export type LogLevel = import('krog:plugin/types@0.1.0').LogLevel;
  export type * as KrogPluginTypes010 from 'krog:plugin/types@0.1.0'; // import krog:plugin/types@0.1.0
  /**
  * Describe the plugin and its config.
  */
  export function info(): PluginInfo;
  /**
  * Turn one event into an outcome. `config` is the subscription's JSON config.
  */
  export function transform(event: Event, config: string): Outcome;
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}
