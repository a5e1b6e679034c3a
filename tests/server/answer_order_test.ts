// Every answer a connection owes comes in the order of the frames that
// caused it (docs/server.md), over real TLS: a command that waits on the
// registry holds back the answers to the frames after it (errors for bad
// lines, acks, a `who`), but never what the others are sent meanwhile. A
// person typing into `openssl s_client` has no ids to tell answers apart.

import assert from "node:assert/strict";
import { AccessLists } from "../../lib/server/access.ts";
import { LocalRegistry } from "../../lib/server/registry.ts";
import { type Frame, startServer, type TestServer } from "./_helpers.ts";
import { identity, login, untilClosed } from "./_identities.ts";

const [ALICE, OP] = await Promise.all([identity("alice"), identity("op")]);

/** A server whose registry makes each change durable only once the test opens the gate. */
async function slowRegistryServer(): Promise<{ server: TestServer; open(): void }> {
  const gate = Promise.withResolvers<void>();
  const registry = new LocalRegistry({ clock: () => new Date(), persist: () => gate.promise });
  const server = await startServer({}, {
    registry,
    access: await AccessLists.load({ ops: [OP.fingerprint] }),
  });
  return { server, open: () => gate.resolve() };
}

/** Frames as one write: they arrive in one read, as a pasted block would. */
function oneWrite(frames: (Frame | string)[]): string {
  return frames.map((frame) => typeof frame === "string" ? frame : JSON.stringify(frame))
    .join("\n") + "\n";
}

Deno.test("a slow register holds back the answers to the frames after it, not the relay to others", async () => {
  const { server, open } = await slowRegistryServer();
  await using _ = server;
  await using alice = await login(server, "alice", ALICE, ["presence"]);
  assert.deepEqual(await alice.next(), { event: "who", nicknames: ["alice"] });
  await using bob = await login(server, "bob");
  assert.equal((await alice.next()).event, "join");
  await alice.send(oneWrite([
    { command: "register" },
    "{not json",
    { message: "hello", id: "m1" },
    { command: "who" },
    "[1]",
    { command: "kick", nickname: "bob" },
  ]));
  // Bob is told at once, while alice's register still waits for the registry.
  assert.equal((await bob.next()).message, "hello");
  assert.deepEqual(await alice.quiet(100), [], "an answer overtook the register's");
  open();
  assert.deepEqual(await alice.take(6), [
    { status: "ok" },
    { status: "error", reason: "malformed JSON" },
    { status: "ok", id: "m1" },
    { event: "who", nicknames: ["alice", "bob"] },
    { status: "error", reason: "frame must be a JSON object" },
    { status: "error", reason: "not an operator" },
  ]);
});

Deno.test("a kick reaches a connection whose register still waits, and its close lets that answer out", async () => {
  const { server, open } = await slowRegistryServer();
  await using _ = server;
  await using alice = await login(server, "alice", ALICE);
  await using op = await login(server, "op", OP);
  await alice.send({ command: "register" });
  await op.send({ command: "kick", nickname: "alice", reason: "bye" });
  assert.deepEqual(await op.next(), { status: "ok" });
  assert.deepEqual(await alice.next(), { status: "error", reason: "kicked by op: bye" });
  open();
  assert.deepEqual(await untilClosed(alice), [{ status: "ok" }]);
});

Deno.test("a register without a certificate is answered before the malformed line after it", async () => {
  await using server = await startServer({}, {
    registry: new LocalRegistry({ clock: () => new Date() }),
    access: await AccessLists.load({ ops: [] }),
  });
  await using core = await login(server, "core");
  await core.send(oneWrite([{ command: "register" }, "{not json", { message: "x", id: "1" }]));
  assert.deepEqual(await core.take(3), [
    { status: "error", reason: "register needs a client certificate" },
    { status: "error", reason: "malformed JSON" },
    { status: "ok", id: "1" },
  ]);
});

Deno.test("a who is answered before the malformed line after it", async () => {
  await using server = await startServer();
  await using alice = await login(server, "alice", undefined, ["presence"]);
  assert.deepEqual(await alice.next(), { event: "who", nicknames: ["alice"] });
  await alice.send(oneWrite([{ command: "who" }, "{not json", { message: "x", id: "1" }]));
  assert.deepEqual(await alice.take(3), [
    { event: "who", nicknames: ["alice"] },
    { status: "error", reason: "malformed JSON" },
    { status: "ok", id: "1" },
  ]);
});
