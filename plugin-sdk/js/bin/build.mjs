#!/usr/bin/env node
// Builds a plugin project into a component: `npm run build` (this is `krog-plugin-build`).
//
// The project's `src/index.js` must `export default definePlugin({...})`. The component is
// written to `dist/<name>.wasm` (the package name without its scope) and its path printed on
// stdout. It runs on QuickJS (componentize-qjs), without component-model async (krog's host is
// synchronous), and imports nothing but the world's `log` and WASI 0.2.

import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";

const sdk = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const project = resolve(process.argv[2] ?? ".");

/** componentize-qjs as the project pins it (its devDependencies, its lock file), else the
 * SDK's own. */
async function componentizer() {
  for (const base of [project, sdk]) {
    try {
      const path = createRequire(join(base, "package.json")).resolve("componentize-qjs");
      return (await import(pathToFileURL(path).href)).componentize;
    } catch {
      // not installed there
    }
  }
  fail("componentize-qjs is not installed; run npm install (the project's package.json pins it)");
}

function fail(message) {
  console.error(`krog-plugin-build: ${message}`);
  process.exit(1);
}

const manifestPath = join(project, "package.json");
if (!existsSync(manifestPath)) fail(`${project} has no package.json; run this in a plugin project (krog plugin new)`);
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
const name = String(manifest.name ?? "").replace(/^@[^/]+\//, "");
if (!name) fail("package.json has no name");
const entryFile = join(project, "src", "index.js");
if (!existsSync(entryFile)) fail("src/index.js is missing; it must `export default definePlugin({...})`");

// The component is built in a staging directory that is its module root: the project's
// `src/`, and under `node_modules/` the SDK and the project's runtime `dependencies` (with
// theirs), copied, since componentize-qjs resolves no module outside its root (npm links the
// SDK from elsewhere). Stacks then name the author's files as `/src/index.js:12:5`, the same
// on every machine.
const staging = mkdtempSync(join(tmpdir(), "krog-plugin-build-"));
cpSync(join(project, "src"), join(staging, "src"), { recursive: true, dereference: true });
copyPackage(join(sdk), join(staging, "node_modules", "@krog", "plugin-sdk"), ["package.json", "src"]);
const seen = new Set(["@krog/plugin-sdk"]);
const pending = Object.keys(manifest.dependencies ?? {});
while (pending.length) {
  const dep = pending.pop();
  if (seen.has(dep)) continue;
  seen.add(dep);
  const from = join(project, "node_modules", dep);
  if (!existsSync(join(from, "package.json"))) fail(`the dependency ${dep} is not installed; run npm install`);
  copyPackage(from, join(staging, "node_modules", dep));
  pending.push(...Object.keys(JSON.parse(readFileSync(join(from, "package.json"), "utf8")).dependencies ?? {}));
}
// componentize-qjs puts the world's root-level imports (here `log`) on globalThis.
const entry = `import plugin from "./src/index.js";
import { exportsOf } from "@krog/plugin-sdk/component";
const world = exportsOf(plugin, globalThis.log);
export const info = world.info;
export const transform = world.transform;
`;
const entryPath = join(staging, "entry.js");
writeFileSync(entryPath, entry);

function copyPackage(from, to, only) {
  mkdirSync(to, { recursive: true });
  for (const name of only ?? readdirSync(from)) {
    if (name === "node_modules") continue;
    cpSync(join(from, name), join(to, name), { recursive: true, dereference: true });
  }
}

const output = join(project, "dist", `${name}.wasm`);
let failure;
try {
  const componentize = await componentizer();
  const { component } = await componentize({
    witPath: join(sdk, "wit"),
    world: "transformer",
    jsSource: entry,
    jsPath: entryPath,
    moduleRoot: staging,
    sync: true,
  });
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, component);
} catch (error) {
  const text = String(error?.message ?? error).replace(/^[\s:]+/, "");
  // The module's top level runs once, here, and the component starts from its state: an
  // exception there stops the build, with the author's line in its stack.
  const evaluation = /Failed to evaluate user JavaScript module: (?:Failed to finish JavaScript module evaluation: )?([\s\S]*)/.exec(text);
  failure = evaluation ? `the plugin threw while its modules were evaluated (their top level runs at build time): ${evaluation[1]}` : `componentize-qjs failed: ${text}`;
} finally {
  rmSync(staging, { recursive: true, force: true });
}
if (failure) fail(failure);
console.log(output);
