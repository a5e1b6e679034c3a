// Direct messages (PROTOCOL.md §11) against the real server over real TLS:
// they reach only their recipient, are acked or refused with their id, are
// never made public, stored or replayed (not in --data-dir either), and
// count against the limits of §5.

import assert from "node:assert/strict";
import { FileStore } from "../../lib/server/file_store.ts";
import {
  eventually,
  type Frame,
  loginAsking,
  startServer,
  type Target,
  TestClient,
} from "./_helpers.ts";

const FIXED = new Date(Date.UTC(2026, 10, 27, 10, 0, 0));
const WIRE_TIME = "2026-11-27T10:00:00+0000";

/** Logs in asking for direct messages only (no presence events to skip). */
async function directClient(target: Target, nickname: string): Promise<TestClient> {
  return (await loginAsking(target, nickname, ["direct"])).client;
}

/** The client's frames that are not command answers, over `ms`. */
async function unasked(client: TestClient, ms = 300): Promise<Frame[]> {
  return (await client.quiet(ms)).map((line) => JSON.parse(line)).filter((f) => !("status" in f));
}

Deno.test("a direct message reaches only its recipient, exactly so, and its id is acked", async () => {
  await using server = await startServer({}, { clock: () => FIXED });
  await using alice = await directClient(server, "alice");
  await using bob = await directClient(server, "bob");
  await using carol = await directClient(server, "carol");
  await using dave = await TestClient.login(server, "dave");
  await bob.send({ message: "just for you\nalice", to: "alice", id: "d1" });
  assert.deepEqual(await bob.next(), { status: "ok", id: "d1" });
  assert.equal(
    await alice.nextLine(),
    JSON.stringify({ from: "bob", to: "alice", message: "just for you\nalice", time: WIRE_TIME }),
  );
  // The nickname is found as logins find it (case ignored), and the recipient's own spelling is used.
  await bob.send({ message: "again", to: "ALICE" });
  assert.deepEqual(await alice.next(), {
    from: "bob",
    to: "alice",
    message: "again",
    time: WIRE_TIME,
  });
  assert.deepEqual(await unasked(carol), []);
  assert.deepEqual(await unasked(dave, 0), []);
  assert.deepEqual(await bob.quiet(0), [], "no ack without an id, and no echo");
  assert.equal(server.store.lastSeq, 0, "nothing stored");
});

Deno.test("a direct message to nobody, or to someone who did not ask for them, is refused with its id and goes nowhere", async () => {
  await using server = await startServer();
  await using bob = await directClient(server, "bob");
  await using core = await TestClient.login(server, "core");
  await using presenceOnly = (await loginAsking(server, "watcher", ["presence"])).client;
  const cases: [string, string][] = [
    ["nobody", "recipient is not logged in"],
    ["", "recipient is not logged in"],
    ["x".repeat(1000), "recipient is not logged in"],
    ["core", "recipient does not accept direct messages"],
    ["watcher", "recipient does not accept direct messages"],
  ];
  for (const [i, [to, reason]] of cases.entries()) {
    await bob.send({ message: "hello?", to, id: `r${i}` });
    assert.deepEqual(await bob.next(), { status: "error", id: `r${i}`, reason }, to.slice(0, 20));
  }
  await bob.send({ message: "no id", to: "nobody" });
  assert.deepEqual(await bob.next(), { status: "error", reason: "recipient is not logged in" });
  assert.deepEqual(await unasked(core), []);
  const watcherFrames = await unasked(presenceOnly, 0);
  assert.ok(watcherFrames.every((f) => f.event !== undefined), JSON.stringify(watcherFrames));
  assert.equal(server.store.lastSeq, 0);
});

Deno.test("a `to` is never made public: from a core login it is a direct message, and a bad one is refused", async () => {
  await using server = await startServer();
  await using alice = await directClient(server, "alice");
  await using core = await TestClient.login(server, "core");
  await using other = await TestClient.login(server, "other");
  // A core login that sends `to` all the same: sent direct, not relayed to everyone.
  await core.send({ message: "only alice", to: "alice", id: "c1" });
  assert.deepEqual(await core.next(), { status: "ok", id: "c1" });
  assert.equal((await alice.next()).to, "alice");
  for (const to of [7, true, ["alice"], { nickname: "alice" }]) {
    await core.send({ message: "mistyped", to, id: "c2" });
    assert.deepEqual(await core.next(), {
      status: "error",
      id: "c2",
      reason: "to must be a string",
    });
  }
  // A `to` of null is no `to`: a public message.
  await core.send({ message: "public", to: null });
  assert.equal((await other.next()).message, "public");
  assert.deepEqual(await unasked(other), []);
  assert.equal(server.store.lastSeq, 1);
});

Deno.test("direct messages are never stored, replayed, or written to --data-dir", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-direct-" });
  try {
    await using store = {
      store: await FileStore.open(dir, { warn: () => {} }),
      [Symbol.asyncDispose]() {
        return this.store.close();
      },
    };
    await using server = await startServer({}, { store: store.store });
    await using alice = await directClient(server, "alice");
    await using bob = await directClient(server, "bob");
    await bob.send({ message: "public words", id: "p" });
    assert.deepEqual(await bob.next(), { status: "ok", id: "p" });
    await bob.send({ message: "SECRET-WORDS", to: "alice", id: "d" });
    assert.deepEqual(await bob.next(), { status: "ok", id: "d" });
    await bob.send({ message: "more public words", id: "q" });
    assert.deepEqual(await bob.next(), { status: "ok", id: "q" });
    assert.deepEqual((await alice.take(3)).map((f) => f.message), [
      "public words",
      "SECRET-WORDS",
      "more public words",
    ]);
    // A later login (of either) replays only the public ones.
    for (const nickname of ["late", "alice"]) {
      await using later = nickname === "alice"
        ? await directClient(server, "alice2")
        : await TestClient.login(server, nickname);
      const replay = await later.take(2);
      assert.deepEqual(replay.map((f) => f.message), ["public words", "more public words"]);
      assert.deepEqual(await later.quiet(200), []);
    }
    const log = await Deno.readTextFile(`${dir}/messages.log`);
    assert.ok(!log.includes("SECRET-WORDS"), log);
    assert.equal(log.trim().split("\n").length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("direct messages keep the limits of §5: text checks, and the address's rate limits count them", async () => {
  await using server = await startServer({
    maxMessageBytes: 100,
    rateLimit: 5,
    rateLimitBytes: 1000,
  });
  await using alice = await directClient(server, "alice");
  await using bob = await directClient(server, "bob");
  await bob.send({ message: "", to: "alice", id: "e" });
  assert.deepEqual(await bob.next(), {
    status: "error",
    id: "e",
    reason: "message must not be empty",
  });
  await bob.send({ message: "x".repeat(101), to: "alice", id: "l" });
  assert.deepEqual(await bob.next(), {
    status: "error",
    id: "l",
    reason: "message must be at most 100 bytes",
  });
  // Bursts of twice the rate (10 frames, bob's and alice's together: one address):
  // direct messages use them up like public ones.
  const answers: Frame[] = [];
  for (let i = 0; i < 12; i++) {
    await bob.send({ message: `d${i}`, to: "alice", id: `n${i}` });
    answers.push(await bob.next());
  }
  const limited = answers.filter((a) => a.reason === "rate limit exceeded");
  assert.ok(limited.length >= 2, JSON.stringify(answers));
  assert.ok(limited.every((a) => String(a.id).startsWith("n")));
  const delivered = (await unasked(alice)).map((f) => f.message);
  assert.equal(delivered.length, answers.filter((a) => a.status === "ok").length);
  assert.ok(await eventually(() => server.logs.some((l) => l.startsWith("rate limited"))));
});
