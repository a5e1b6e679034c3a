// Presence (PROTOCOL.md §10) and direct messages (§11) across servers, end
// to end as real processes: several `chat server --redis …` on one private
// redis-server. A `who` on one lists the people on all; a join or leave on
// one reaches the others; a direct message crosses to its recipient's
// server and nowhere else; a server killed with SIGKILL: its people leave,
// `lost`, within the nickname lease.

import assert from "node:assert/strict";
import { eventually, type Frame, loginAsking, type Target, TestClient } from "./_helpers.ts";
import { ChatServers, RedisServer } from "./_redis.ts";
import { testNeeding } from "../_tools.ts";

/** Deno.test for the tests that run a private redis-server: skipped without it. */
const test = testNeeding("redis-server");

/** Logs in asking for presence and direct messages. */
async function member(target: Target, nickname: string): Promise<TestClient> {
  return (await loginAsking(target, nickname, ["presence", "direct"])).client;
}

/** The next event, skipping nothing (fails on any other frame). */
async function nextEvent(client: TestClient, timeoutMs = 5000): Promise<Frame> {
  const frame = await client.next(timeoutMs);
  assert.equal(typeof frame.event, "string", `not an event: ${JSON.stringify(frame)}`);
  const { time: _, ...rest } = frame;
  return rest;
}

test("three servers share one roster: who lists everyone, joins and leaves cross, direct messages reach their recipient", async () => {
  await using redis = await RedisServer.start();
  await using chat = await ChatServers.start(redis.url, [[], [], []]);
  await using bob = await member(chat.target(1), "bob");
  await using carol = await TestClient.login(chat.target(2), "carol");
  assert.deepEqual(await nextEvent(bob), { event: "who", nicknames: ["bob"] });
  assert.deepEqual(await nextEvent(bob), { event: "join", nickname: "carol" });
  // A who on A lists the people on B and C, and A's own login.
  await using alice = await member(chat.target(0), "alice");
  const who = await nextEvent(alice);
  assert.deepEqual((who.nicknames as string[]).toSorted(), ["alice", "bob", "carol"], chat.logs());
  assert.deepEqual(await nextEvent(bob), { event: "join", nickname: "alice" });
  // A join on B reaches A (and C's core login hears nothing of it).
  const { client: dave } = await loginAsking(chat.target(1), "dave", ["direct"]);
  assert.deepEqual(await nextEvent(alice), { event: "join", nickname: "dave" });
  assert.deepEqual(await nextEvent(bob), { event: "join", nickname: "dave" });
  // A direct message from A to B: acked, delivered once, to bob only.
  await alice.send({ message: "across", to: "BOB", id: "x1" });
  assert.deepEqual(await alice.next(), { status: "ok", id: "x1" });
  const direct = await bob.next();
  assert.deepEqual({ ...direct, time: undefined }, {
    from: "alice",
    to: "bob",
    message: "across",
    time: undefined,
  });
  assert.equal(direct.seq, undefined);
  // Refused across servers too: a core login on C, and nobody at all.
  await alice.send({ message: "hi", to: "carol", id: "x2" });
  assert.deepEqual(await alice.next(), {
    status: "error",
    id: "x2",
    reason: "recipient does not accept direct messages",
  });
  await alice.send({ message: "hi", to: "nobody", id: "x3" });
  assert.deepEqual(await alice.next(), {
    status: "error",
    id: "x3",
    reason: "recipient is not logged in",
  });
  // A leave on B reaches A, with its reason.
  await dave.close();
  assert.deepEqual(await nextEvent(alice), { event: "leave", nickname: "dave", reason: "quit" });
  assert.deepEqual(await nextEvent(bob), { event: "leave", nickname: "dave", reason: "quit" });
  assert.deepEqual(await carol.quiet(300), [], "a core login hears none of it");
  assert.deepEqual(await dave.quiet(0), []);
  // Nothing of it is in the shared history.
  assert.equal(await redis.command("XLEN", "chat:history"), "0");
  assert.equal(await redis.command("HLEN", "chat:presence"), "3");
});

test("a server killed with SIGKILL: its people leave, lost, for everyone else within the nickname lease", async () => {
  await using redis = await RedisServer.start();
  const LEASE_MS = 2_000;
  const lease = ["--nick-lease", String(LEASE_MS / 1000)];
  await using chat = await ChatServers.start(redis.url, [lease, lease, lease]);
  await using alice = await member(chat.target(0), "alice");
  await nextEvent(alice);
  const doomed: TestClient[] = [];
  try {
    for (const nickname of ["xavier", "yvonne"]) {
      doomed.push(await member(chat.target(2), nickname));
      assert.deepEqual(await nextEvent(alice), { event: "join", nickname });
    }
    await using bob = await member(chat.target(1), "bob");
    assert.deepEqual(await nextEvent(alice), { event: "join", nickname: "bob" });
    await nextEvent(bob);
    const killed = performance.now();
    await chat.servers[2].kill("SIGKILL");
    const leaves = [await nextEvent(alice, 10_000), await nextEvent(alice, 10_000)];
    const ms = performance.now() - killed;
    assert.deepEqual(
      leaves.toSorted((a, b) => String(a.nickname).localeCompare(String(b.nickname))),
      [
        { event: "leave", nickname: "xavier", reason: "lost" },
        { event: "leave", nickname: "yvonne", reason: "lost" },
      ],
    );
    // Within the lease (it runs from the server's last renewal, before the kill).
    assert.ok(ms < LEASE_MS, `the leaves came ${Math.round(ms)} ms after the kill`);
    // The other server heard the same, once.
    const bobHeard = [await nextEvent(bob, 5000), await nextEvent(bob, 5000)];
    assert.deepEqual(bobHeard.map((f) => f.reason), ["lost", "lost"]);
    assert.deepEqual(await alice.quiet(300), []);
    await alice.send({ command: "who" });
    assert.deepEqual((await nextEvent(alice)).nicknames, ["alice", "bob"]);
    assert.ok(
      await eventually(async () => (await redis.command("HLEN", "chat:presence")) === "2"),
    );
  } finally {
    for (const client of doomed) await client.close();
  }
});

test("a server started later sees the roster at once, and its own who holds everyone", async () => {
  await using redis = await RedisServer.start();
  await using first = await ChatServers.start(redis.url, [[]]);
  await using alice = await TestClient.login(first.target(0), "alice");
  await using later = await ChatServers.start(redis.url, [[]]);
  await using bob = await member(later.target(0), "bob");
  assert.deepEqual(await nextEvent(bob), { event: "who", nicknames: ["alice", "bob"] });
  await alice.close();
  assert.deepEqual(await nextEvent(bob), { event: "leave", nickname: "alice", reason: "quit" });
});
