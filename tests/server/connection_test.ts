// One connection's own limits (lib/server/connection.ts), over real TLS,
// where the end-to-end tests in server_test.ts do not reach: frames held
// behind a login that waits for a shared chat.

import assert from "node:assert/strict";
import { HELD_BYTES } from "../../lib/server/connection.ts";
import type { Claim, SharedChat } from "../../lib/server/shared_chat.ts";
import { eventually, startServer, TestClient } from "./_helpers.ts";

/**
 * A shared chat whose nickname claims wait until `open()`: logins stay
 * pending for as long as a test needs. Appends get the next seq.
 */
class GatedChat implements SharedChat {
  readonly #gate = Promise.withResolvers<void>();
  #seq = 0;

  open(): void {
    this.#gate.resolve();
  }

  listen(): void {}

  async claim(): Promise<Claim> {
    await this.#gate.promise;
    return { ok: true, seq: 0 };
  }

  release(): void {}

  append(): Promise<number> {
    return Promise.resolve(++this.#seq);
  }

  caughtUp(): Promise<void> {
    return Promise.resolve();
  }
}

/** A message line of `count` "€" (3 bytes each in UTF-8, one UTF-16 unit). */
function euros(count: number): string {
  return JSON.stringify({ message: "€".repeat(count) }) + "\n";
}

Deno.test("frames held behind a pending login are counted in bytes, not UTF-16 units", async () => {
  const shared = new GatedChat();
  await using server = await startServer({}, () => new Date(), shared);
  const line = euros(5_000); // 15,014 bytes, 5,015 UTF-16 units (and a newline)
  const lineBytes = new TextEncoder().encode(line).length - 1; // without the newline
  const under = Math.floor(HELD_BYTES / lineBytes); // 69 lines, just under 1 MiB
  await using patient = await TestClient.connect(server);
  await using eager = await TestClient.connect(server);
  await patient.send({ command: "login", nickname: "patient" });
  await patient.send(line.repeat(under));
  await eager.send({ command: "login", nickname: "eager" });
  // Two lines more: over 1 MiB in bytes, though a third of it in UTF-16 units.
  await eager.send(line.repeat(under + 2));
  assert.ok(await eager.closedByServer(), "cut off for sending too much behind its login");
  assert.ok(
    await eventually(() =>
      server.logs.some((l) =>
        l.startsWith("flooding") && Number(/held_bytes=(\d+)/.exec(l)?.[1]) > HELD_BYTES
      )
    ),
    server.logs.join("\n"),
  );
  // The one under the limit waited, and is served once the claim is answered.
  assert.equal(patient.closed, false);
  shared.open();
  assert.deepEqual(await patient.next(), { status: "ok" });
  assert.deepEqual(await patient.quiet(100), [], "its held messages are taken without a word");
  assert.equal(patient.closed, false);
});
