// Features (PROTOCOL.md §9) and presence (§10) against the real server over
// real TLS: what a login that asks for features gets, that a core login
// gets nothing new (byte for byte), the `who` after the replay, join and
// leave with their reasons, and `{"command":"who"}`.

import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import {
  eventually,
  type Frame,
  loginAsking,
  startServer,
  type Target,
  TestClient,
} from "./_helpers.ts";
import { sleep } from "../../lib/deadline.ts";

const ALL = ["presence", "direct", "heartbeat", "identity", "ops"];

/** Logs in asking for presence (and direct); the client, after its `ok`. */
async function watcher(target: Target, nickname: string): Promise<TestClient> {
  return (await loginAsking(target, nickname, ["presence", "direct"])).client;
}

/** The next frame that is an event (skipping none: fails on anything else). */
async function nextEvent(client: TestClient, timeoutMs = 5000): Promise<Frame> {
  const frame = await client.next(timeoutMs);
  assert.equal(typeof frame.event, "string", `not an event: ${JSON.stringify(frame)}`);
  return frame;
}

/** An event without its time (checked for its shape). */
function timeless(frame: Frame): Frame {
  if (frame.event !== "who") {
    assert.match(String(frame.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$/);
  }
  const { time: _, ...rest } = frame;
  return rest;
}

/** A client over node:tls on a socket of its own, which can leave with a reset or a bare FIN. */
async function rawLogin(target: Target, nickname: string): Promise<net.Socket> {
  const raw = net.connect(target.port, "127.0.0.1");
  const socket = tls.connect({ socket: raw, ca: target.certPem, servername: "localhost" });
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  const ok = new Promise<string>((resolve) => socket.once("data", (chunk) => resolve(`${chunk}`)));
  socket.write(JSON.stringify({ command: "login", nickname }) + "\n");
  assert.equal(await ok, '{"status":"ok"}\n');
  return raw;
}

Deno.test("a login with features gets the server's features; unknown and non-string names are ignored", async () => {
  await using server = await startServer();
  const asked = [[], ["presence"], ["teleport", 7, null, { a: 1 }, "direct"]];
  for (const [i, features] of asked.entries()) {
    await using client = await TestClient.connect(server);
    await client.send({ command: "login", nickname: `n${i}`, features });
    assert.equal(await client.nextLine(), JSON.stringify({ status: "ok", features: ALL }));
  }
  await using client = await TestClient.connect(server);
  await client.send({ command: "login", nickname: "x", features: "presence" });
  assert.deepEqual(await client.next(), {
    status: "error",
    reason: "features must be a list of names",
  });
  await client.send({ command: "login", nickname: "x", features: null });
  assert.equal(await client.nextLine(), '{"status":"ok"}', "features null is no features");
});

/** Every stored message's wire line, in order. */
function storedLines(store: import("../../lib/server/store.ts").HistoryStore): string[] {
  const read = store.read(1, Infinity, -1);
  const text = read.pieces.map((piece) => new TextDecoder().decode(piece)).join("");
  return text.split("\n").filter((line) => line !== "");
}

Deno.test("a core login sees nothing new: the same bytes as a core server, whatever the others do", async () => {
  await using server = await startServer();
  await using early = await TestClient.login(server, "early");
  await early.send({ message: "before" });
  await eventually(() => server.store.lastSeq === 1);
  await using core = await TestClient.connect(server);
  await core.send({ command: "login", nickname: "core" });
  assert.equal(await core.nextLine(), '{"status":"ok"}');
  assert.equal(await core.nextLine(), storedLines(server.store)[0]);
  // Around it: people who asked for features come and go, send direct messages, ask who.
  await using watching = await watcher(server, "watching");
  const { client: passing } = await loginAsking(server, "passing", ALL);
  assert.equal((await passing.next()).message, "before");
  assert.equal((await passing.next()).event, "who");
  await passing.send({ message: "psst", to: "core", id: "d1" });
  assert.deepEqual(await passing.next(), {
    status: "error",
    id: "d1",
    reason: "recipient does not accept direct messages",
  });
  await passing.close();
  await core.send({ command: "who" });
  assert.equal(await core.nextLine(), '{"status":"error","reason":"unknown command \\"who\\""}');
  await early.send({ message: "after" });
  assert.equal(await core.nextLine(), storedLines(server.store)[1]);
  assert.deepEqual(await core.quiet(300), [], "nothing but chat and answers");
  // The watcher, meanwhile, saw them all come and go.
  const events = (await watching.quiet(0)).map((line) => JSON.parse(line));
  assert.deepEqual(events.filter((f) => f.event).map(timeless), [
    { event: "who", nicknames: ["early", "core", "watching"] },
    { event: "join", nickname: "passing" },
    { event: "leave", nickname: "passing", reason: "quit" },
  ]);
});

Deno.test("a core-only server (no features) answers a login asking for them as a core server, and refuses who and to", async () => {
  await using server = await startServer({}, { features: [] });
  await using other = await TestClient.login(server, "other");
  const { client, ok } = await loginAsking(server, "asker", ALL);
  await using _client = client;
  assert.deepEqual(ok, { status: "ok" });
  await client.send({ command: "who" });
  assert.deepEqual(await client.next(), { status: "error", reason: 'unknown command "who"' });
  await client.send({ message: "secret", to: "other", id: "p1" });
  assert.deepEqual(await client.next(), {
    status: "error",
    id: "p1",
    reason: "direct messages are not supported by this server",
  });
  await other.close();
  assert.deepEqual(await client.quiet(300), [], "no event, no direct message");
  assert.equal(server.store.lastSeq, 0, "the direct message was not made public");
});

Deno.test("the who event comes after the replay and before live messages, and holds exactly who is logged in", async () => {
  await using server = await startServer();
  await using bob = await TestClient.login(server, "bob");
  for (let i = 0; i < 3; i++) await bob.send({ message: `m${i}` });
  await using carol = await TestClient.login(server, "Carol");
  const { client: gone } = await loginAsking(server, "gone", ALL);
  await gone.close();
  await eventually(() => server.store.lastSeq === 3);
  const { client: alice } = await loginAsking(server, "alice", ALL);
  await using _alice = alice;
  await carol.send({ message: "live" });
  const frames = await alice.take(5);
  assert.deepEqual(frames.map((f) => f.message ?? f.event), ["m0", "m1", "m2", "who", "live"]);
  assert.deepEqual(frames[3], { event: "who", nicknames: ["bob", "Carol", "alice"] });
  assert.deepEqual(await alice.quiet(200), [], "no join of its own");
});

Deno.test("join and leave live, with reasons: quit for a close with or without close_notify, lost for a peer gone silent", async () => {
  await using server = await startServer({ heartbeatGraceMs: 400 });
  await using alice = await watcher(server, "alice");
  assert.deepEqual(await nextEvent(alice), { event: "who", nicknames: ["alice"] });
  const expect = async (events: Frame[]) => {
    const got: Frame[] = [];
    for (let i = 0; i < events.length; i++) got.push(timeless(await nextEvent(alice)));
    assert.deepEqual(got, events);
  };
  // A close with close_notify (Deno's TLS client sends one).
  const polite = await TestClient.login(server, "polite");
  await polite.close();
  await expect([{ event: "join", nickname: "polite" }, {
    event: "leave",
    nickname: "polite",
    reason: "quit",
  }]);
  // A bare FIN, no close_notify.
  const bare = await rawLogin(server, "bare");
  bare.end();
  await expect([{ event: "join", nickname: "bare" }, {
    event: "leave",
    nickname: "bare",
    reason: "quit",
  }]);
  // A peer that asked for heartbeats and vanished without a word: cut after the grace.
  const { client: vanished } = await loginAsking(server, "vanished", ["heartbeat"]);
  await expect([{ event: "join", nickname: "vanished" }, {
    event: "leave",
    nickname: "vanished",
    reason: "lost",
  }]);
  await vanished.close();
  assert.deepEqual(await alice.quiet(200), []);
});

Deno.test("a reset frees the nickname and the others hear it leave", async () => {
  // Deno's node:tls server reports a reset as the peer's orderly end (no
  // error, not even on a later write), so it cannot be told from a close:
  // today it leaves as `quit`, where §10 asks for `lost`.
  await using server = await startServer();
  await using alice = await watcher(server, "alice");
  await nextEvent(alice);
  const reset = await rawLogin(server, "reset");
  reset.resetAndDestroy();
  assert.deepEqual(timeless(await nextEvent(alice)), { event: "join", nickname: "reset" });
  const leave = timeless(await nextEvent(alice));
  assert.deepEqual({ ...leave, reason: undefined }, {
    event: "leave",
    nickname: "reset",
    reason: undefined,
  });
  assert.ok(leave.reason === "quit" || leave.reason === "lost", String(leave.reason));
  await using _again = await TestClient.login(server, "reset");
  assert.equal(timeless(await nextEvent(alice)).nickname, "reset");
});

Deno.test("a member cut off as a slow reader leaves, lost", async () => {
  await using server = await startServer({ sendQueueBytes: 64 * 1024 });
  await using alice = await watcher(server, "alice");
  await nextEvent(alice);
  await using talker = await TestClient.login(server, "talker");
  assert.deepEqual(timeless(await nextEvent(alice)), { event: "join", nickname: "talker" });
  // A reader that never reads: the server's socket buffer fills, then its send queue.
  const stuck = await Deno.connectTls({
    hostname: "localhost",
    port: server.port,
    caCerts: [server.certPem],
  });
  await stuck.write(new TextEncoder().encode('{"command":"login","nickname":"stuck"}\n'));
  assert.deepEqual(timeless(await nextEvent(alice)), { event: "join", nickname: "stuck" });
  // Alice reads as fast as the talker sends (her queue has the same small limit).
  const text = "x".repeat(8000);
  let event: Frame | undefined;
  let heard = 0;
  const seen = async (ms: number) => {
    const frames = (await alice.quiet(ms)).map((line) => JSON.parse(line));
    heard += frames.filter((frame) => frame.message !== undefined).length;
    event ??= frames.find((frame) => frame.event);
    return event !== undefined;
  };
  for (let i = 1; i <= 4000 && event === undefined; i++) {
    await talker.send({ message: text });
    if (i % 4 === 0) await eventually(async () => (await seen(1)) || heard >= i - 4, 10_000);
  }
  await eventually(() => seen(50), 10_000);
  assert.deepEqual(event && timeless(event), { event: "leave", nickname: "stuck", reason: "lost" });
  assert.ok(!alice.closed, "alice kept up");
  stuck.close();
});

Deno.test('{"command":"who"} is answered with a fresh who, in order with the events', async () => {
  await using server = await startServer();
  await using alice = await watcher(server, "alice");
  await nextEvent(alice);
  await using bob = await TestClient.login(server, "bob");
  await alice.send({ command: "who" });
  assert.deepEqual(timeless(await nextEvent(alice)), { event: "join", nickname: "bob" });
  assert.deepEqual(await nextEvent(alice), { event: "who", nicknames: ["alice", "bob"] });
  await bob.close();
  assert.deepEqual(timeless(await nextEvent(alice)), {
    event: "leave",
    nickname: "bob",
    reason: "quit",
  });
  await alice.send({ command: "who" });
  assert.deepEqual(await nextEvent(alice), { event: "who", nicknames: ["alice"] });
  // Asked for features but not presence: who is answered all the same, and no event comes unasked.
  const { client: direct } = await loginAsking(server, "direct", ["direct"]);
  await using _direct = direct;
  await direct.send({ command: "who" });
  assert.deepEqual(await nextEvent(direct), { event: "who", nicknames: ["alice", "direct"] });
  // Before login: login required, as for anything else.
  await using stranger = await TestClient.connect(server);
  await stranger.send({ command: "who" });
  assert.deepEqual(await stranger.next(), { status: "error", reason: "login required" });
});

Deno.test("under churn, each watcher's who and the events after it add up to exactly who is there", async () => {
  await using server = await startServer();
  const stop = { now: false };
  const churn = async (n: number) => {
    for (let i = 0; !stop.now; i++) {
      const features = i % 2 === 0 ? ALL : undefined;
      const client = features === undefined
        ? await TestClient.login(server, `c${n}-${i}`)
        : (await loginAsking(server, `c${n}-${i}`, features)).client;
      await client.close();
    }
  };
  const churners = [churn(1), churn(2), churn(3)];
  const watchers: TestClient[] = [];
  try {
    for (let i = 0; i < 10; i++) {
      watchers.push(await watcher(server, `w${i}`));
      await sleep(10);
    }
  } finally {
    stop.now = true;
    await Promise.all(churners);
  }
  await sleep(200);
  for (const [i, client] of watchers.entries()) {
    const here = new Set<string>();
    const frames = (await client.quiet(0)).map((line) => JSON.parse(line));
    assert.equal(frames[0]?.event, "who", `w${i}: ${JSON.stringify(frames[0])}`);
    for (const name of frames[0].nicknames) here.add(name);
    assert.ok(here.has(`w${i}`), `w${i} is in its own who`);
    for (const frame of frames.slice(1)) {
      if (frame.event === "join") {
        assert.ok(!here.has(frame.nickname), `w${i}: join of ${frame.nickname}, already here`);
        here.add(frame.nickname);
      } else if (frame.event === "leave") {
        assert.ok(here.delete(frame.nickname), `w${i}: leave of ${frame.nickname}, not here`);
      }
    }
    await client.send({ command: "who" });
    const fresh = await nextEvent(client);
    assert.deepEqual([...here].sort(), (fresh.nicknames as string[]).sort(), `w${i}`);
  }
  for (const client of watchers) await client.close();
});
