// The component's side of the boundary: krog's world `krog:plugin/transformer` on top of the
// plugin the project's src/index.js exports. The build (bin/build.mjs) generates the entry
// module that imports the world's `log` and calls this.

import { setLogSink } from "./index.js";

/** The world's exports for `plugin`, with log lines going to the host's `log`. */
export function exportsOf(plugin, hostLog) {
  if (typeof plugin?.call !== "function") {
    throw new TypeError("src/index.js must `export default definePlugin({...})`");
  }
  setLogSink((level, message) => hostLog(level, message));
  return {
    info: () => plugin.info(),
    transform: (event, config) => plugin.call(event, config),
  };
}
