// Operators across servers (PROTOCOL.md §13 with `--redis`), end to end as
// real processes: two `chat server --redis …` on one private redis-server.
// A ban given on A cuts its target on B at once and is refused at login
// on both; a kick of someone on B is their leave, `kicked`, everywhere; a
// registration made on one server holds on the other.

import assert from "node:assert/strict";
import { type Frame, loginAsking, type Target, TestClient } from "./_helpers.ts";
import { ChatServers, RedisServer } from "./_redis.ts";
import { attempt, command, identity, login, untilClosed } from "./_identities.ts";
import { testNeeding } from "../_tools.ts";

/** Deno.test for the tests that run a private redis-server: skipped without it. */
const test = testNeeding("redis-server");

const [OP, ALICE, BOB] = await Promise.all(["op", "alice", "bob"].map(identity));

/** The next event, without its time. */
async function nextEvent(client: TestClient): Promise<Frame> {
  const { time: _, ...rest } = await client.next();
  return rest;
}

/** A watcher of presence on `target`, its `who` read. */
async function watcher(target: Target, nickname: string): Promise<TestClient> {
  const { client } = await loginAsking(target, nickname, ["presence"]);
  await client.next();
  return client;
}

test("a ban on server A cuts the person on server B at once, and both refuse them", async () => {
  await using redis = await RedisServer.start();
  await using chat = await ChatServers.start(redis.url, [["--op", OP.fingerprint], []]);
  const [a, b] = [chat.target(0), chat.target(1)];
  await using op = await login(a, "op", OP);
  await using seen = await watcher(a, "seen");
  const bob = await login(b, "bob", BOB);
  const bobAgain = await login(b, "bobby", BOB);
  assert.deepEqual(await nextEvent(seen), { event: "join", nickname: "bob" });
  assert.deepEqual(await nextEvent(seen), { event: "join", nickname: "bobby" });
  const before = performance.now();
  assert.deepEqual(await command(op, { command: "ban", nickname: "bob", reason: "spam" }), {
    status: "ok",
  });
  for (const client of [bob, bobAgain]) {
    assert.deepEqual(await untilClosed(client), [{
      status: "error",
      reason: "banned by op: spam",
    }]);
    await client.close();
  }
  const cutMs = performance.now() - before;
  assert.ok(cutMs < 2000, `cut after ${cutMs} ms`);
  const leaves = [await nextEvent(seen), await nextEvent(seen)];
  assert.deepEqual(leaves.map((e) => e.reason), ["banned", "banned"]);
  for (const target of [a, b]) {
    const { client, answer } = await attempt(target, "bob", BOB);
    assert.deepEqual(answer, { status: "error", reason: "banned: spam" }, chat.logs());
    await client.close();
  }
  // B banned whom it knew (bob's identity) for A's operator: both servers list it.
  const bans = await command(op, { command: "bans" });
  assert.deepEqual(bans, {
    status: "ok",
    bans: [{ target: BOB.fingerprint, until: null, reason: "spam", by: "op" }],
  });
  assert.match(chat.servers[0].stderr, /ban .*whom=bob/);
  assert.deepEqual(await command(op, { command: "unban", target: BOB.fingerprint }), {
    status: "ok",
  });
  await (await login(b, "bob", BOB)).close();
});

test("a kick of someone on another server is their leave, kicked; registrations and bans hold on every server", async () => {
  await using redis = await RedisServer.start();
  await using chat = await ChatServers.start(redis.url, [["--op", OP.fingerprint], []]);
  const [a, b] = [chat.target(0), chat.target(1)];
  await using op = await login(a, "op", OP);
  await using seen = await watcher(b, "seen");
  const troll = await login(b, "troll");
  assert.deepEqual(await nextEvent(seen), { event: "join", nickname: "troll" });
  assert.deepEqual(await command(op, { command: "kick", nickname: "troll", reason: "out" }), {
    status: "ok",
  });
  assert.deepEqual(await untilClosed(troll), [{ status: "error", reason: "kicked by op: out" }]);
  await troll.close();
  assert.deepEqual(await nextEvent(seen), { event: "leave", nickname: "troll", reason: "kicked" });

  {
    await using alice = await login(b, "alice", ALICE);
    assert.deepEqual(await command(alice, { command: "register" }), { status: "ok" });
  }
  const refused = await attempt(a, "Alice", BOB);
  assert.deepEqual(refused.answer, { status: "error", reason: "nickname is registered" });
  await refused.client.close();
  await (await login(a, "alice", ALICE)).close();
  // A ban of the registered nickname while nobody uses it bans its identity, everywhere.
  assert.deepEqual(await command(op, { command: "ban", nickname: "alice", minutes: 5 }), {
    status: "ok",
  });
  const banned = await attempt(b, "alice", ALICE);
  assert.match(
    String(banned.answer.reason),
    /^banned until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$/,
  );
  await banned.client.close();

  // A ban of someone on A reaches B through the registry alone: their other connection there is cut.
  const here = await login(a, "bob", BOB);
  const there = await login(b, "bob-too", BOB);
  assert.deepEqual(await command(op, { command: "ban", nickname: "bob" }), { status: "ok" });
  for (const client of [here, there]) {
    assert.deepEqual(await untilClosed(client), [{ status: "error", reason: "banned by op" }]);
    await client.close();
  }
});
