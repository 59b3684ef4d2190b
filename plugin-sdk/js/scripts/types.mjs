// Generates the TypeScript types of the WIT world (`types/`) with jco's type generator:
// `npm run types`. `npm run types -- --check` fails when the committed ones differ (CI).

import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generateGuestTypes } from "@bytecodealliance/jco-transpile";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const files = await generateGuestTypes(join(root, "wit"), { worldName: "transformer" });
let stale = [];
for (const [name, bytes] of Object.entries(files)) {
  const path = join(root, "types", name);
  const text = new TextDecoder().decode(bytes);
  if (check) {
    if (!existsSync(path) || readFileSync(path, "utf8") !== text) stale.push(name);
  } else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}
if (stale.length) {
  console.error(`types/ is out of date with wit/ (${stale.join(", ")}); run npm run types`);
  process.exit(1);
}
