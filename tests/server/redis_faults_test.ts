// --redis under faults, from an independent review of the change: a Redis
// that hangs, a Redis restarted (script cache lost), a server that stalls
// with a history limit, a flood behind a login, claims cut off in flight,
// leases renewed while nicknames are released, close() with Redis down.

import assert from "node:assert/strict";
import { HISTORY_KEY, NICK_PREFIX } from "../../lib/server/redis/scripts.ts";
import { type Frame, TestClient } from "./_helpers.ts";
import { sleep, withDeadline } from "../../lib/deadline.ts";
import { ChatServers, post, RedisNode, RedisServer, until } from "./_redis.ts";
import { testNeeding } from "../_tools.ts";

/** Deno.test for the tests that run a private redis-server: skipped without it. */
const test = testNeeding("redis-server");

async function redisPid(redis: RedisServer): Promise<number> {
  const info = await redis.command("INFO", "server");
  return Number(/process_id:(\d+)/.exec(info)![1]);
}

test("after Redis lost its script cache (a restart), one author's messages keep their order", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis);
  try {
    await a.link.append(post("bob", "warm-up"), 1);
    // What a Redis restart does to the script cache (SCRIPT LOAD is not persisted).
    await redis.command("SCRIPT", "FLUSH");
    const sent: string[] = [];
    const acks: Promise<number>[] = [];
    for (let i = 0; i < 40; i++) {
      const text = `m${i}`;
      sent.push(text);
      acks.push(a.link.append(post("bob", text), 1));
      await sleep(0); // one message per turn of the event loop, as from a typing user
    }
    await Promise.all(acks);
    const stored = () => a.messages().filter(([, , t]) => t !== "warm-up").map(([, , t]) => t);
    for (let i = 0; i < 200 && stored().length < sent.length; i++) await sleep(10);
    assert.deepEqual(stored(), sent, "stored order differs from the order bob sent them");
  } finally {
    await a.link.close();
  }
});

test("a nickname released while a multi-batch lease renewal is in flight stays free", async () => {
  await using redis = await RedisServer.start();
  // Renewal every 100 ms; 1200 nicknames make three renewal batches of up to 500.
  const a = await RedisNode.open(redis, 300);
  try {
    const claims = [];
    for (let i = 0; i < 1200; i++) claims.push(a.claim(`user${i}`, i + 1));
    for (const claim of await Promise.all(claims)) assert.ok(claim.ok);
    // Members 600..1199 leave, one every ~1.5 ms, over several renewals.
    for (let i = 600; i < 1200; i++) {
      a.release(`user${i}`, i + 1);
      await sleep(1);
    }
    await sleep(50); // every release and renewal answered
    const left = (await redis.command("KEYS", `${NICK_PREFIX}user*`)).split("\n").filter((k) => k);
    const resurrected = left.filter((key) => Number(key.slice(NICK_PREFIX.length + 4)) >= 600);
    assert.deepEqual(
      resurrected,
      [],
      `${resurrected.length} released nicknames taken again by a renewal (PTTL of the first: ${
        resurrected.length ? await redis.command("PTTL", resurrected[0]) : "-"
      } ms)`,
    );
  } finally {
    await a.link.close();
  }
});

test("a hung Redis (SIGSTOP, like a dead host) counts as down: new messages are refused, the one in doubt is settled by the stream, SIGTERM exits within 2 s", async () => {
  await using redis = await RedisServer.start();
  const pid = await redisPid(redis);
  await using chat = await ChatServers.start(redis.url, [[]]);
  const ann = await TestClient.login(chat.target(0), "ann");
  try {
    await ann.send({ message: "before", id: "0" });
    assert.deepEqual(await ann.next(), { status: "ok", id: "0" });
    Deno.kill(pid, "SIGSTOP");
    try {
      // Sent to a Redis that reads nothing: in doubt, neither acked nor refused yet.
      await ann.send({ message: "in doubt", id: "1" });
      await until("the hang noticed", () => chat.logs().includes("redis unavailable"), 8_000);
      // Known to be down: refused at once.
      await ann.send({ message: "while Redis hangs", id: "2" });
      assert.deepEqual(await ann.next(2_000), {
        status: "error",
        id: "2",
        reason: "storage unavailable",
      });
    } finally {
      Deno.kill(pid, "SIGCONT");
    }
    // Redis is back: the message in doubt is acked if the stream holds it, refused if not.
    const settled = await ann.next(10_000);
    const stored = (await redis.command("XRANGE", HISTORY_KEY, "-", "+")).includes("in doubt");
    assert.deepEqual(
      settled,
      stored
        ? { status: "ok", id: "1" }
        : { status: "error", id: "1", reason: "storage unavailable" },
    );
    const started = performance.now();
    assert.equal(await chat.servers[0].stop("SIGTERM", 4000), 0);
    assert.ok(performance.now() - started < 2000, "SIGTERM exits within 2 s");
  } finally {
    await ann.close();
  }
});

test("SIGTERM exits within 2 s while Redis hangs", async () => {
  await using redis = await RedisServer.start();
  const pid = await redisPid(redis);
  await using chat = await ChatServers.start(redis.url, [[]]);
  const ann = await TestClient.login(chat.target(0), "ann");
  try {
    Deno.kill(pid, "SIGSTOP");
    try {
      await ann.send({ message: "in doubt", id: "1" });
      await sleep(200);
      const started = performance.now();
      assert.equal(await chat.servers[0].stop("SIGTERM", 4000), 0);
      assert.ok(performance.now() - started < 2000, "SIGTERM exits within 2 s");
    } finally {
      Deno.kill(pid, "SIGCONT");
    }
  } finally {
    await ann.close();
  }
});

test("Redis stopped: SIGTERM still exits within 2 s", async () => {
  await using redis = await RedisServer.start();
  await using chat = await ChatServers.start(redis.url, [[]]);
  const ann = await TestClient.login(chat.target(0), "ann");
  try {
    await ann.send({ message: "before", id: "0" });
    assert.deepEqual(await ann.next(), { status: "ok", id: "0" });
    await redis.stop();
    await sleep(500);
    await ann.send({ message: "while down", id: "1" });
    const started = performance.now();
    const code = await chat.servers[0].stop("SIGTERM", 4000);
    const ms = performance.now() - started;
    assert.equal(code, 0);
    assert.ok(ms < 2000, `exited after ${Math.round(ms)} ms`);
  } finally {
    await ann.close();
    await redis.restart();
  }
});

test("with --history-limit, a server that falls behind the stream cuts its readers off rather than skip live messages", async () => {
  await using redis = await RedisServer.start();
  await using chat = await ChatServers.start(redis.url, [["--history-limit", "20"], [
    "--history-limit",
    "20",
  ]]);
  await using reader = await TestClient.login(chat.target(0), "reader");
  await using writer = await TestClient.login(chat.target(1), "writer");
  const got: Frame[] = [];
  reader.onLine = (line) => got.push(JSON.parse(line));
  // Server 0 stalls for a moment (a long GC pause, a starved CPU, a short partition from Redis).
  chat.servers[0].child.kill("SIGSTOP");
  try {
    for (let i = 0; i < 300; i++) await writer.send({ message: `m${i}`, id: String(i) });
    for (let i = 0; i < 300; i++) {
      assert.equal((await writer.next()).status, "ok");
    }
  } finally {
    chat.servers[0].child.kill("SIGCONT");
  }
  await until("everything, or the cut", () => got.length === 300 || reader.closed, 6_000);
  const seqs = got.map((frame) => frame.seq as number);
  const gaps = seqs.filter((seq, i) => i > 0 && seq !== seqs[i - 1] + 1).length;
  // Either it got everything, or it was cut off (and reconnects): never a silent gap.
  assert.equal(gaps, 0, `seqs ${seqs.join(",")}`);
  assert.equal(seqs[0] ?? 1, 1);
  if (got.length < 300) {
    assert.ok(reader.closed, `the reader got ${got.length} of 300 and was not disconnected`);
    // Logged when the server has closed its side, a moment after the client sees the close.
    await until("the cut logged", () => /fell behind the history limit/.test(chat.logs()), 5_000);
  }
});

test("frames behind a login that waits for Redis are not buffered without bound", async () => {
  await using redis = await RedisServer.start();
  const pid = await redisPid(redis);
  await using chat = await ChatServers.start(redis.url, [[]]);
  const rss = async () => {
    const { stdout } = await new Deno.Command("ps", {
      args: ["-o", "rss=", "-p", String(chat.servers[0].child.pid)],
      stdout: "piped",
    }).output();
    return Number(new TextDecoder().decode(stdout).trim());
  };
  const client = await TestClient.connect(chat.target(0));
  const before = await rss();
  Deno.kill(pid, "SIGSTOP"); // the claim now waits
  let sent = 0;
  try {
    await client.send({ command: "login", nickname: "eager" });
    const chunk = new TextEncoder().encode('{"message":"x"}\n'.repeat(4096)); // 64 KiB
    const deadline = Date.now() + 4000;
    while (Date.now() < deadline && sent < 64 * 1024 * 1024) {
      const wrote = await withDeadline(
        client.send(chunk).then(() => true, () => false), // an error: the server cut us off
        500,
      );
      if (!wrote) break; // back-pressure, or cut off
      sent += chunk.length;
    }
    const grew = (await rss()) - before;
    assert.ok(
      sent < 16 * 1024 * 1024 && grew < 64 * 1024, // RSS in KiB; it was 106 MiB for 64 MiB sent
      `sent ${sent >> 20} MiB behind a pending login; server RSS grew ${grew >> 10} MiB`,
    );
    assert.ok(await client.closedByServer(), "cut off for flooding");
    await until("the cut logged", () => /too much sent before the login/.test(chat.logs()), 5_000);
  } finally {
    Deno.kill(pid, "SIGCONT");
    await client.close();
  }
});

test("a login refused because its claim was cut off in flight leaves no lease behind", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis, 10_000);
  try {
    const claims: Promise<boolean>[] = [];
    for (let i = 0; i < 3000; i++) {
      claims.push(a.claim(`nick${i}`, i + 1).then((claim) => claim.ok, () => false));
    }
    await redis.command("CLIENT", "KILL", "TYPE", "normal");
    const outcomes = await Promise.all(claims);
    const refused = outcomes.filter((ok) => !ok).length;
    assert.ok(refused > 0, "the kill landed after every claim");
    // Claims whose answer was lost are given back once the link is up again.
    let stuck: number[] = [];
    const deadline = Date.now() + 5_000;
    do {
      await sleep(100);
      const keys = new Set((await redis.command("KEYS", `${NICK_PREFIX}nick*`)).split("\n"));
      stuck = outcomes.flatMap((ok, i) => !ok && keys.has(`${NICK_PREFIX}nick${i}`) ? [i] : []);
    } while (stuck.length > 0 && Date.now() < deadline);
    assert.deepEqual(
      stuck.length,
      0,
      `${stuck.length} of ${refused} refused logins left their nickname taken in Redis ` +
        `(PTTL ${
          stuck.length ? await redis.command("PTTL", `${NICK_PREFIX}nick${stuck[0]}`) : "-"
        } ms): ` +
        `"nickname already in use" until the lease ends`,
    );
  } finally {
    await a.link.close();
  }
});

test("close() while Redis is down returns promptly and settles what waits on it", async () => {
  await using redis = await RedisServer.start();
  const a = await RedisNode.open(redis);
  // A login waiting for the local copy to catch up (as hub.login does after a claim).
  let settled = false;
  const waiting = a.link.caughtUp(1_000_000, 0, 5_000).catch(() => {}).finally(() =>
    settled = true
  );
  await redis.stop();
  await sleep(300);
  const started = performance.now();
  await a.link.close();
  const ms = performance.now() - started;
  await sleep(100);
  const settledAtClose = settled;
  await waiting;
  assert.ok(ms < 1000, `close took ${ms} ms`);
  assert.ok(settledAtClose, "a caughtUp() waiter (and its 5 s timer) outlives close()");
  // The Redis client library's wait before its next connection attempt (at
  // most 2 s) cannot be cancelled; it ends by itself, and quietly.
  await sleep(2_100);
});
