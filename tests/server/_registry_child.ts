// A child process for registry_test.ts: opens the registry of --data-dir in
// the folder it is given and registers nick1, nick2, … one after another,
// printing "ok N" once each registration resolved (is on disk), until it is
// killed. The test kills it with SIGKILL and checks that every "ok" it read
// survived.

import { openFileRegistry } from "../../lib/server/file_registry.ts";

const ALICE = "A1:".repeat(31) + "A1";
const registry = await openFileRegistry(Deno.args[0], { clock: () => new Date(), warn: () => {} });
const encoder = new TextEncoder();
for (let n = 1;; n++) {
  await registry.register(`nick${n}`, `nick${n}`, ALICE);
  Deno.stdout.writeSync(encoder.encode(`ok ${n}\n`));
}
