// The Redis link (lib/server/redis/) in-process, against a private
// redis-server: several RedisLink objects on one Redis stand for several
// servers. The same behaviour through real server processes and TLS
// clients is in redis_test.ts.

import assert from "node:assert/strict";
import { Unavailable } from "../../lib/errors.ts";
import type { Logger } from "../../lib/server/log.ts";
import { redactUrl } from "../../lib/server/redis/client.ts";
import { RedisLink } from "../../lib/server/redis/link.ts";
import { HISTORY_KEY, NICK_PREFIX, SEQ_KEY } from "../../lib/server/redis/scripts.ts";
import { DEFAULT_LIMITS } from "../../lib/server/limits.ts";
import { startServer } from "../../lib/server/server.ts";
import { TestClient } from "./_helpers.ts";
import { localIdentity } from "../../bench/in_process_server.ts";
import { post, RedisNode, RedisServer, until } from "./_redis.ts";
import { testNeeding } from "../_tools.ts";

/** Deno.test for the tests that run a private redis-server: skipped without it. */
const test = testNeeding("redis-server");

Deno.test("redactUrl leaves the password out of what is printed", () => {
  assert.equal(redactUrl("redis://:hunter2@db:6379/2"), "redis://:***@db:6379/2");
  assert.equal(redactUrl("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
  assert.equal(redactUrl("not a url"), "not a url");
});

test("two servers append through one counter: one order, consecutive seq, authors known", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis);
  const b = await RedisNode.open(redis);
  try {
    const sent: Promise<number>[] = [];
    for (let i = 0; i < 50; i++) {
      sent.push(a.link.append(post("alice", `a${i}`), 7));
      sent.push(b.link.append(post("bob", `b${i}`), 9));
    }
    const seqs = (await Promise.all(sent)).sort((x, y) => x - y);
    assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => i + 1));
    await until("both copies complete", () => a.store.lastSeq === 100 && b.store.lastSeq === 100);
    assert.deepEqual(a.messages(), b.messages());
    assert.deepEqual(a.messages().map(([seq]) => seq), seqs);
    // Each server learns which messages its own members wrote, and only those.
    assert.equal(a.authored.length, 50);
    assert.ok(a.authored.every(([author]) => author === 7));
    assert.ok(b.authored.every(([author]) => author === 9));
    // Each author's own messages come back in the order it sent them.
    const alice = a.messages().filter(([, from]) => from === "alice").map(([, , text]) => text);
    assert.deepEqual(alice, Array.from({ length: 50 }, (_, i) => `a${i}`));
    // A server started later loads the whole history.
    const c = await RedisNode.open(redis);
    try {
      assert.deepEqual(c.messages(), a.messages());
    } finally {
      await c.close();
    }
    assert.equal(await redis.command("GET", SEQ_KEY), "100");
    assert.equal(await redis.command("XLEN", HISTORY_KEY), "100");
  } finally {
    await a.close();
    await b.close();
  }
});

test("a nickname is held by one server; released, or renewed for as long as it lives", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis, 300);
  const b = await RedisNode.open(redis, 300);
  try {
    const claim = await a.claim("alice", 1);
    assert.deepEqual(claim, { ok: true, seq: 0, presence: 1 });
    assert.deepEqual(await b.claim("alice", 2), {
      ok: false,
      reason: "nickname already in use",
    });
    // Renewed every third of the lease: still held after several leases.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(Number(await redis.command("PTTL", NICK_PREFIX + "alice")) > 0);
    assert.equal((await b.claim("alice", 2)).ok, false);
    // Released by another member of the same server: nothing happens.
    a.release("alice", 99);
    assert.equal((await b.claim("alice", 2)).ok, false);
    a.release("alice", 1);
    await until("the release", async () => (await b.claim("alice", 2)).ok);
  } finally {
    await a.close();
    await b.close();
  }
});

test("a claim answers with the newest seq, for the replay to reach first", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis);
  try {
    for (let i = 0; i < 3; i++) await a.link.append(post("x", `m${i}`), 1);
    assert.deepEqual(await a.claim("bob", 2), { ok: true, seq: 3, presence: 1 });
    await a.link.caughtUp(3, 0, 1_000);
    assert.equal(a.store.lastSeq, 3);
    await assert.rejects(a.link.caughtUp(10, 0, 50), Unavailable);
  } finally {
    await a.close();
  }
});

test("a nickname that another server took while this one could not renew is reported lost", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis, 300);
  try {
    assert.equal((await a.claim("carol", 4)).ok, true);
    await redis.command("SET", NICK_PREFIX + "carol", "elsewhere/1");
    await until("the loss", () => a.lost.length > 0);
    assert.deepEqual(a.lost, [["carol", 4]]);
  } finally {
    await a.close();
  }
});

test("a Redis that lost its data does not hand out seqs this server already holds", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis);
  try {
    for (let i = 0; i < 3; i++) await a.link.append(post("x", `m${i}`), 1);
    await until("the copy", () => a.store.lastSeq === 3);
    await redis.command("FLUSHALL");
    assert.equal(await a.link.append(post("x", "after"), 1), 4);
    await until("the copy", () => a.store.lastSeq === 4);
    assert.deepEqual(a.messages().map(([seq, , text]) => [seq, text]), [
      [1, "m0"],
      [2, "m1"],
      [3, "m2"],
      [4, "after"],
    ]);
  } finally {
    await a.close();
  }
});

test("while Redis is down, appends and claims fail at once; after it is back, both work and the follower resumes", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis);
  const b = await RedisNode.open(redis);
  try {
    await a.link.append(post("x", "before"), 1);
    await redis.stop();
    // Once the link has seen Redis go (an append sent just before is in doubt
    // and waits for Redis to say whether it holds it: see the next test)...
    await until("the outage logged", () => a.logs.some((l) => l.startsWith("redis unavailable")));
    // ...everything is refused at once, not after a timeout.
    const started = performance.now();
    await assert.rejects(a.link.append(post("x", "during"), 1), Unavailable);
    await assert.rejects(a.claim("dave", 3));
    assert.ok(performance.now() - started < 1_000, "refused at once");
    await redis.restart();
    await until("an append goes through", async () => {
      try {
        await a.link.append(post("x", "after"), 1);
        return true;
      } catch {
        return false;
      }
    });
    await until("b's copy", () => b.messages().some(([, , text]) => text === "after"));
    assert.deepEqual(b.messages().map(([, , text]) => text), ["before", "after"]);
    assert.ok(a.logs.some((line) => line.startsWith("redis connected")));
  } finally {
    await a.close();
    await b.close();
  }
});

test("appends cut off in flight are acked only if stored and refused only if not", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis);
  try {
    const outcomes: Promise<[string, number | "refused"]>[] = [];
    for (let round = 0; round < 5; round++) {
      // Enough appends in flight for the kill below to land among them.
      for (let i = 0; i < 3000; i++) {
        const text = `r${round}m${i}`;
        outcomes.push(
          a.link.append(post("x", text), 1).then(
            (seq): [string, number] => [text, seq],
            (error): [string, "refused"] => {
              assert.ok(error instanceof Unavailable);
              return [text, "refused"];
            },
          ),
        );
      }
      // Cut every normal client connection (ours) with appends in flight.
      await redis.command("CLIENT", "KILL", "TYPE", "normal");
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    const settled = await Promise.all(outcomes);
    await until(
      "the copy",
      async () => a.store.lastSeq === Number(await redis.command("GET", SEQ_KEY)),
    );
    const stored = new Map(a.messages().map(([seq, , text]) => [text, seq]));
    for (const [text, outcome] of settled) {
      if (outcome === "refused") assert.ok(!stored.has(text), `${text} refused but stored`);
      else assert.equal(stored.get(text), outcome, `${text} acked as ${outcome}`);
    }
    // The kills did land among appends in flight, and some got through.
    assert.ok(a.link.lostInFlight > 0, "no append was in flight at a kill");
    assert.ok(settled.some(([, outcome]) => outcome !== "refused"));
    // No message is stored twice.
    assert.equal(stored.size, a.messages().length);
  } finally {
    await a.close();
  }
});

/** A real server (TLS on 127.0.0.1:0) sharing its chat through `redis`. */
async function serverOn(redis: RedisServer) {
  const { certPem, keyPem } = await localIdentity();
  const node = new RedisNode();
  const logger: Logger = {
    log: (event, fields = {}) => node.logs.push(`${event} ${JSON.stringify(fields)}`),
  };
  node.link = await RedisLink.open({ url: redis.url, store: node.store, logger });
  const stop = new AbortController();
  const running = await startServer({ hostname: "127.0.0.1", port: 0, certPem, keyPem }, {
    limits: { ...DEFAULT_LIMITS, rateLimit: 0, rateLimitBytes: 0 },
    store: node.store,
    shared: node.link,
    logger,
    clock: () => new Date(),
    signal: stop.signal,
  });
  return {
    node,
    target: { port: running.port, certPem },
    async [Symbol.asyncDispose]() {
      stop.abort();
      await running.done;
      await node.close();
    },
  };
}

test("frames sent right behind a login wait for it, in order, even with a half-close after them", async () => {
  await using redis = await RedisServer.start();
  await using server = await serverOn(redis);
  await using watcher = await TestClient.login(server.target, "watcher");
  const client = await TestClient.connect(server.target);
  try {
    // One write: the login (a round trip to Redis) and three messages, then FIN.
    await client.send(
      [
        { command: "login", nickname: "eager" },
        { message: "one", id: "1" },
        { message: "two", id: "2" },
        { message: "three", id: "3" },
      ].map((frame) => JSON.stringify(frame) + "\n").join(""),
    );
    await client.conn.closeWrite();
    assert.deepEqual(await client.next(), { status: "ok" });
    for (const id of ["1", "2", "3"]) assert.deepEqual(await client.next(), { status: "ok", id });
    assert.ok(await client.closedByServer(), "closed politely after the acks");
    const seen = [await watcher.next(), await watcher.next(), await watcher.next()];
    assert.deepEqual(seen.map((frame) => [frame.from, frame.message, frame.seq]), [
      ["eager", "one", 1],
      ["eager", "two", 2],
      ["eager", "three", 3],
    ]);
  } finally {
    await client.close();
  }
});

test("a malformed entry in the stream is skipped with a warning, and the chat goes on", async () => {
  await using redis = await RedisServer.start();
  await using server = await serverOn(redis);
  await using reader = await TestClient.login(server.target, "reader");
  await using writer = await TestClient.login(server.target, "writer");
  // Someone else wrote to the stream by hand, with no message field.
  await redis.command("XADD", HISTORY_KEY, "1-0", "from", "mallory");
  await redis.command("SET", SEQ_KEY, "1");
  await writer.send({ message: "still here", id: "a" });
  assert.deepEqual(await writer.next(), { status: "ok", id: "a" });
  const frame = await reader.next();
  assert.deepEqual([frame.from, frame.message, frame.seq], ["writer", "still here", 2]);
  assert.ok(server.node.logs.some((line) => line.includes("malformed history entry 1-0")));
});
