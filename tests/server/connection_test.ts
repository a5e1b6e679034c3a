// One connection (lib/server/connection.ts) over real TLS, where the
// end-to-end tests in server_test.ts do not reach: frames held behind a
// login that waits for a shared chat, and the answers to posts that cannot
// be stored, with a store or a shared chat that fails on purpose.

import assert from "node:assert/strict";
import { HELD_BYTES } from "../../lib/server/limits.ts";
import { Unavailable } from "../../lib/errors.ts";
import type { Claim, SharedChat } from "../../lib/server/shared_chat.ts";
import { MemoryStore } from "../../lib/server/store.ts";
import { eventually, startServer, TestClient, type TestServer } from "./_helpers.ts";

/**
 * A shared chat whose nickname claims wait until `open()` (or `open` at
 * once): logins stay pending for as long as a test needs. Appends get the
 * next seq, or are refused while `refuse` is set.
 */
class GatedChat implements SharedChat {
  readonly serverId = "gated";
  readonly #gate = Promise.withResolvers<void>();
  #seq = 0;
  refuse = false;

  constructor(open = false) {
    if (open) this.open();
  }

  open(): void {
    this.#gate.resolve();
  }

  listen(): void {}

  async claim(): Promise<Claim> {
    await this.#gate.promise;
    return { ok: true, seq: 0, presence: 0 };
  }

  release(): void {}

  append(): Promise<number> {
    if (this.refuse) return Promise.reject(new Unavailable("Redis is unreachable"));
    return Promise.resolve(++this.#seq);
  }

  caughtUp(): Promise<void> {
    return Promise.resolve();
  }

  direct(): Promise<boolean> {
    return Promise.resolve(false);
  }

  order(): Promise<boolean> {
    return Promise.resolve(false);
  }
}

/** A message line of `count` "€" (3 bytes each in UTF-8, one UTF-16 unit). */
function euros(count: number): string {
  return JSON.stringify({ message: "€".repeat(count) }) + "\n";
}

Deno.test("frames held behind a pending login are counted in bytes, not UTF-16 units", async () => {
  const shared = new GatedChat();
  await using server = await startServer({}, { shared });
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

/** A memory store told to refuse appends (`refuse`), or never to make some seqs durable (`lost`). */
class FailingStore extends MemoryStore {
  refuse = false;
  readonly lost = new Set<number>();

  override append(encode: (seq: number) => Uint8Array, author: number): number {
    if (this.refuse) throw new Unavailable("the disk is full");
    return super.append(encode, author);
  }

  override whenDurable(seq: number): Promise<number> {
    if (this.lost.has(seq)) return Promise.reject(new Unavailable("the disk is gone"));
    return super.whenDurable(seq);
  }
}

const UNAVAILABLE = { status: "error", reason: "storage unavailable" };

/** Sends `text` with `id`, and again without one: both must be refused as storage unavailable. */
async function assertRefused(writer: TestClient, text: string, id: string): Promise<void> {
  await writer.send({ message: text, id });
  assert.deepEqual(await writer.next(), { ...UNAVAILABLE, id });
  await writer.send({ message: `${text}, without an id` });
  assert.deepEqual(await writer.next(), UNAVAILABLE);
}

/** Logs in as "writer" and checks that a first message is stored and acked. */
async function writerOn(server: TestServer): Promise<TestClient> {
  const writer = await TestClient.login(server, "writer");
  await writer.send({ message: "kept", id: "1" });
  assert.deepEqual(await writer.next(), { status: "ok", id: "1" });
  return writer;
}

Deno.test("a post the store cannot keep is refused as storage unavailable, at once or once it fails, with or without an id", async () => {
  const store = new FailingStore();
  await using server = await startServer({}, { store });
  await using writer = await writerOn(server);
  // Accepted and relayed, but never durable (a disk that fails until the server stops).
  store.lost.add(2).add(3);
  await assertRefused(writer, "lost", "2");
  // Refused at once (a disk known to fail).
  store.refuse = true;
  await assertRefused(writer, "refused", "4");
  assert.deepEqual(await writer.quiet(100), []);
});

Deno.test("a post the shared chat cannot keep gets the same answers as with a store", async () => {
  const shared = new GatedChat(true);
  await using server = await startServer({}, { shared });
  await using writer = await writerOn(server);
  shared.refuse = true;
  await assertRefused(writer, "refused", "2");
  assert.deepEqual(await writer.quiet(100), []);
});
