// The shared roster and direct messages of the Redis link (lib/server/redis/
// roster.ts, servers.ts, direct_channel.ts) in-process, against a private
// redis-server: several RedisLink objects on one Redis stand for several
// servers. The same through real server processes is in
// redis_presence_test.ts.

import assert from "node:assert/strict";
import { PRESENCE_KEY, PRESENCE_SEQ_KEY } from "../../lib/server/redis/scripts.ts";
import { RedisNode, RedisServer, until } from "./_redis.ts";
import { testNeeding } from "../_tools.ts";

/** Deno.test for the tests that run a private redis-server: skipped without it. */
const test = testNeeding("redis-server");

/** A node's roster as "key@server/member[+direct]" strings, sorted. */
function roster(node: RedisNode): string[] {
  return [...node.roster].map(([key, p]) =>
    `${key}@${p.server}/${p.member}${p.direct ? "+direct" : ""}`
  ).sort();
}

test("a claim joins every server's roster, a release leaves it with its reason, in one order everywhere", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis);
  const b = await RedisNode.open(redis);
  try {
    await a.claim("alice", 1, true);
    await b.claim("bob", 2);
    const expected = [`alice@${a.link.serverId}/1+direct`, `bob@${b.link.serverId}/2`];
    await until("both rosters", () => roster(a).length === 2 && roster(b).length === 2);
    assert.deepEqual(roster(a), expected);
    assert.deepEqual(roster(b), expected);
    a.release("alice", 1, "quit");
    b.release("bob", 2, "lost");
    await until("both leaves", () => a.changes.length === 4 && b.changes.length === 4);
    assert.deepEqual(a.changes, b.changes);
    assert.deepEqual(a.changes.slice(2).sort(), ["leave alice quit", "leave bob lost"]);
    assert.equal(await redis.command("HLEN", PRESENCE_KEY), "0");
  } finally {
    await a.close();
    await b.close();
  }
});

test("a server that is gone takes its people off every roster, lost; one that starts later reads the roster", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis);
  const c = await RedisNode.open(redis);
  try {
    await c.claim("carol", 3);
    await c.claim("chris", 4);
    await until("the joins", () => a.roster.size === 2);
    const late = await RedisNode.open(redis);
    try {
      assert.deepEqual(roster(late), roster(a), "read whole at start");
    } finally {
      await late.close();
    }
    // Closed without releasing (as a server whose connections never said goodbye).
    await c.close();
    await until("the leaves", () => a.roster.size === 0);
    assert.deepEqual(a.changes.slice(2).sort(), ["leave carol lost", "leave chris lost"]);
  } finally {
    await a.close();
    await c.close();
  }
});

test("a roster follower that missed changes, or a Redis that lost its data, reads the roster whole again", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis, 300);
  const b = await RedisNode.open(redis, 300);
  try {
    await a.claim("alice", 1);
    await until("the join", () => b.roster.size === 1);
    // Changes the followers never see (trimmed, say): the counter jumps.
    await redis.command("HSET", PRESENCE_KEY, "ghost", "elsewhere/9 0 ghost");
    await redis.command("INCRBY", PRESENCE_SEQ_KEY, "5");
    await a.claim("amy", 2);
    await until("the gap noticed", () => b.roster.has("ghost") && b.roster.has("amy"));
    assert.deepEqual(roster(b), roster(a));
    // Redis loses everything; the nickname leases' renewal puts the living back.
    await redis.command("FLUSHALL");
    await until(
      "the roster back in Redis",
      async () => (await redis.command("HLEN", PRESENCE_KEY)) === "2",
    );
    await until("the ghost gone, the living kept", () => !b.roster.has("ghost"), 8_000);
    assert.deepEqual(roster(b), [`alice@${a.link.serverId}/1`, `amy@${a.link.serverId}/2`]);
  } finally {
    await a.close();
    await b.close();
  }
});

test("a direct message is published to its recipient's server, and refused when nobody listens there", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis);
  const b = await RedisNode.open(redis);
  try {
    const line = '{"from":"a","to":"b","message":"hi","time":"2026-11-27T10:00:00Z"}\n';
    assert.equal(await a.link.direct(b.link.serverId, 5, line), true);
    await until("the delivery", () => b.directs.length === 1);
    assert.deepEqual(b.directs, [[5, line]]);
    assert.deepEqual(a.directs, []);
    assert.equal(await a.link.direct("gone", 5, line), false);
    // Only one line, as a server encodes it, is taken.
    await redis.command("PUBLISH", `chat:direct:${b.link.serverId}`, "5 two\nlines\n");
    await redis.command("PUBLISH", `chat:direct:${b.link.serverId}`, "x " + line);
    assert.equal(await a.link.direct(b.link.serverId, 6, line), true);
    await until("the second delivery", () => b.directs.length === 2);
    assert.deepEqual(b.directs[1], [6, line]);
  } finally {
    await a.close();
    await b.close();
  }
});
