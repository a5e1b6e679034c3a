// Scale-out through Redis, end to end as real processes: several
// `chat server --redis …` on one private redis-server serve one chat
// (relay, replay, seq, nickname leases, reconnect with `since`, a Redis
// outage, startup errors).

import assert from "node:assert/strict";
import { eventually, type Frame, type Target, TestClient } from "./_helpers.ts";
import { ChatServers, freePort, RedisServer, runChat } from "./_redis.ts";
import { testNeeding } from "../_tools.ts";
import { sleep } from "../../lib/deadline.ts";

/** Deno.test for the tests that run a private redis-server: skipped without it. */
const test = testNeeding("redis-server");

/**
 * Sends every line the client receives from now on to the returned array
 * (frames already queued come first, in order).
 */
async function record(client: TestClient): Promise<Frame[]> {
  const frames: Frame[] = [];
  client.onLine = (line) => frames.push(JSON.parse(line));
  // Lines queued before onLine was set are older than any it receives.
  const queued = await client.quiet(0);
  frames.unshift(...queued.map((line) => JSON.parse(line)));
  return frames;
}

/** Chat messages among the frames. */
function messagesOf(frames: Frame[]): Frame[] {
  return frames.filter((frame) => typeof frame.message === "string");
}

/** Command answers ({"status":…}) among the frames. */
function answersOf(frames: Frame[]): Frame[] {
  return frames.filter((frame) => "status" in frame);
}

/** Waits until `check` holds; fails with `explain()` after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs: number, explain: () => string) {
  if (!(await eventually(check, timeoutMs))) assert.fail(`after ${timeoutMs} ms: ${explain()}`);
}

/** One login on a fresh connection: the server's answer (the connection is closed again). */
async function attemptLogin(target: Target, nickname: string): Promise<Frame> {
  await using client = await TestClient.connect(target);
  await client.send({ command: "login", nickname });
  return await client.next(5000);
}

/**
 * Logs in, retrying while the nickname is still taken (its owner's close may
 * not have reached Redis yet), for up to `timeoutMs`. Returns the client and
 * every refusal seen on the way.
 */
async function loginWhenFree(
  target: Target,
  nickname: string,
  timeoutMs: number,
  since?: number,
): Promise<{ client: TestClient; refusals: Frame[]; ms: number }> {
  const started = performance.now();
  const refusals: Frame[] = [];
  while (true) {
    const client = await TestClient.connect(target);
    await client.send(
      since === undefined ? { command: "login", nickname } : { command: "login", nickname, since },
    );
    const answer = await client.next(5000).catch(async (error) => {
      await client.close();
      throw error;
    });
    if (answer.status === "ok") return { client, refusals, ms: performance.now() - started };
    await client.close();
    refusals.push(answer);
    if (answer.reason !== "nickname already in use") {
      assert.fail(`login as ${nickname}: ${JSON.stringify(answer)}`);
    }
    if (performance.now() - started > timeoutMs) {
      assert.fail(`${nickname} still in use after ${timeoutMs} ms (${refusals.length} refusals)`);
    }
    await sleep(50);
  }
}

/** True when `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    promise.then(() => true, () => true),
    new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms)),
  ]);
  clearTimeout(timer);
  return settled;
}

/** "from|message" of a frame, for comparing messages across clients. */
const key = (frame: Frame) => `${frame.from}|${frame.message}`;

/** Asserts that `seqs` are exactly first, first+1, …, last. */
function assertConsecutive(seqs: unknown[], first: number, last: number, what: string) {
  const expected = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  if (seqs.length === expected.length && seqs.every((seq, i) => seq === expected[i])) return;
  const gaps: string[] = [];
  for (let i = 0; i < Math.max(seqs.length, expected.length) && gaps.length < 5; i++) {
    if (seqs[i] !== expected[i]) gaps.push(`#${i}: ${seqs[i]} instead of ${expected[i]}`);
  }
  assert.fail(`${what}: ${seqs.length} seqs, expected ${first}..${last}; first diffs ${gaps}`);
}

test("three servers on one Redis serve one chat: every message once, one order, consecutive seq, full replay", async () => {
  await using redis = await RedisServer.start();
  await using chat = await ChatServers.start(redis.url, [[], [], []]);
  const names = ["ann", "ben", "cat", "dan", "eve", "fay"];
  const PER_CLIENT = 50;
  const TOTAL = names.length * PER_CLIENT;
  const clients: TestClient[] = [];
  try {
    for (const [i, name] of names.entries()) {
      clients.push(await TestClient.login(chat.target(i % 3), name));
    }
    const frames = await Promise.all(clients.map(record));
    // Every client sends all of its messages at once, all clients together.
    await Promise.all(clients.map(async (client, i) => {
      for (let k = 0; k < PER_CLIENT; k++) {
        await client.send({ message: `${names[i]} says ${k}`, id: `${names[i]}-${k}` });
      }
    }));
    await until(
      () =>
        frames.every((f) =>
          messagesOf(f).length >= TOTAL - PER_CLIENT && answersOf(f).length >= PER_CLIENT
        ),
      15_000,
      () =>
        `received ${
          frames.map((f, i) =>
            `${names[i]}: ${messagesOf(f).length} messages ${answersOf(f).length} answers`
          ).join(", ")
        }\n${chat.logs()}`,
    );
    await sleep(200); // Anything extra (a duplicate, an echo) would arrive now.

    const bySeq = new Map<number, string>();
    for (const [i, name] of names.entries()) {
      const answers = answersOf(frames[i]);
      assert.equal(answers.length, PER_CLIENT, `${name}: one answer per message`);
      assert.ok(answers.every((a) => a.status === "ok"), `${name}: ${JSON.stringify(answers)}`);
      assert.deepEqual(
        answers.map((a) => a.id).sort(),
        Array.from({ length: PER_CLIENT }, (_, k) => `${name}-${k}`).sort(),
        `${name}: every id acknowledged once`,
      );
      const received = messagesOf(frames[i]);
      assert.equal(received.length, TOTAL - PER_CLIENT, `${name}: every other message, once`);
      assert.ok(received.every((m) => m.from !== name), `${name} got one of its own messages`);
      assert.equal(new Set(received.map(key)).size, received.length, `${name}: a duplicate`);
      for (let j = 1; j < received.length; j++) {
        assert.ok(
          (received[j].seq as number) > (received[j - 1].seq as number),
          `${name}: seq ${received[j].seq} after ${received[j - 1].seq}`,
        );
      }
      for (const message of received) {
        const seq = message.seq as number;
        assert.ok(Number.isInteger(seq) && seq >= 1 && seq <= TOTAL, `seq ${seq}`);
        const known = bySeq.get(seq);
        if (known !== undefined) assert.equal(key(message), known, `seq ${seq} differs`);
        else bySeq.set(seq, key(message));
      }
      // One sender's messages keep the order they were sent in.
      for (const other of names.filter((n) => n !== name)) {
        const order = received.filter((m) => m.from === other).map((m) => m.message);
        assert.deepEqual(
          order,
          Array.from({ length: PER_CLIENT }, (_, k) => `${other} says ${k}`),
          `${name} sees ${other}'s messages in order`,
        );
      }
    }
    assert.equal(bySeq.size, TOTAL, "every seq 1..N is some message");

    // A late client on any server gets the whole history: 1..N, no gap, same messages.
    await using late = await TestClient.login(chat.target(1), "zoe");
    const lateFrames = await record(late);
    await until(() => lateFrames.length >= TOTAL, 10_000, () => `${lateFrames.length} replayed`);
    await sleep(100);
    assert.equal(lateFrames.length, TOTAL, "nothing but the replay");
    assertConsecutive(lateFrames.map((f) => f.seq), 1, TOTAL, "replay");
    for (const frame of lateFrames) assert.equal(key(frame), bySeq.get(frame.seq as number));

    // The key layout of the contract.
    assert.equal(await redis.command("GET", "chat:seq"), String(TOTAL));
    assert.equal(await redis.command("XLEN", "chat:history"), String(TOTAL));
    assert.equal(
      (await redis.command("XRANGE", "chat:history", "-", "+", "COUNT", "1")).split("\n")[0],
      "1-0",
    );
    assert.equal(
      (await redis.command("XREVRANGE", "chat:history", "+", "-", "COUNT", "1")).split("\n")[0],
      `${TOTAL}-0`,
    );
    for (const [i, name] of names.entries()) {
      assert.equal(frames[i].length, TOTAL, `${name}: no frame came late`);
    }
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
});

test("a nickname is held across servers by a lease: refused elsewhere, freed at once on close, freed after the lease when its server dies", async () => {
  await using redis = await RedisServer.start();
  // Server 0 holds its nicknames with a 1 s lease, server 1 with 10 s.
  await using chat = await ChatServers.start(redis.url, [["--nick-lease", "1"], [
    "--nick-lease",
    "10",
  ]]);

  // Held on server 0: refused on server 1 in any case.
  const bob = await TestClient.login(chat.target(0), "Bob");
  const bobLease = Number(await redis.command("PTTL", "chat:nick:bob"));
  assert.ok(bobLease > 0 && bobLease <= 1000, `chat:nick:bob PTTL ${bobLease}`);
  {
    await using other = await TestClient.connect(chat.target(1));
    for (const taken of ["bob", "BOB", "Bob"]) {
      await other.send({ command: "login", nickname: taken });
      assert.deepEqual(await other.next(), {
        status: "error",
        reason: "nickname already in use",
      }, taken);
    }
  }

  // A polite close frees the nickname at once, long before its 10 s lease would end.
  const alice = await TestClient.login(chat.target(1), "alice");
  const aliceLease = Number(await redis.command("PTTL", "chat:nick:alice"));
  assert.ok(aliceLease > 1000 && aliceLease <= 10_000, `chat:nick:alice PTTL ${aliceLease}`);
  assert.deepEqual(await attemptLogin(chat.target(0), "ALICE"), {
    status: "error",
    reason: "nickname already in use",
  });
  await alice.close();
  const again = await loginWhenFree(chat.target(0), "Alice", 2000);
  await again.client.close();

  // Server 0 dies without a word: bob's lease runs out and the nickname is free on server 1.
  assert.notEqual(await chat.servers[0].stop("SIGKILL"), 0);
  assert.ok(await bob.closedByServer(2000), "bob's connection ends with its server");
  await bob.close();
  const killedAt = performance.now();
  const { client: newBob, refusals } = await loginWhenFree(chat.target(1), "bob", 5000);
  const ms = performance.now() - killedAt;
  const lease = Number(await redis.command("PTTL", "chat:nick:bob"));
  await newBob.close();
  assert.ok(ms < 5000, `freed after ${ms} ms`);
  assert.ok(lease > 1000, `server 1 holds bob now with its own lease (PTTL ${lease})`);
  assert.ok(
    refusals.every((r) => r.reason === "nickname already in use"),
    JSON.stringify(refusals),
  );
});

test("a client that reconnects to another server with since misses nothing and sees nothing twice", async () => {
  await using redis = await RedisServer.start();
  await using chat = await ChatServers.start(redis.url, [[], []]);
  await using wanda = await TestClient.login(chat.target(0), "wanda");
  await using walt = await TestClient.login(chat.target(1), "walt");
  const writers = [wanda, walt];
  const writerFrames = await Promise.all(writers.map(record));
  let sent = 0;
  /** Both writers send `n` messages each, interleaved, and wait for every ack. */
  const batch = async (n: number) => {
    const before = sent;
    await Promise.all(writers.map(async (writer, w) => {
      for (let k = 0; k < n; k++) {
        await writer.send({ message: `w${w} ${before + k}`, id: `w${w}-${before + k}` });
      }
    }));
    sent += n;
    await until(
      () => writerFrames.every((f) => answersOf(f).length === sent),
      10_000,
      () => `acks ${writerFrames.map((f) => answersOf(f).length)} of ${sent}\n${chat.logs()}`,
    );
    for (const f of writerFrames) assert.ok(answersOf(f).every((a) => a.status === "ok"));
  };

  // Rita reads on server 1 and stops after 25 of the first 40 messages (as if she crashed).
  const rita = await TestClient.login(chat.target(1), "rita");
  const first = await record(rita);
  await batch(20);
  await until(() => messagesOf(first).length >= 25, 5000, () => `rita has ${first.length}`);
  await rita.close();
  const seen = messagesOf(first).slice(0, 25);
  const since = seen.at(-1)!.seq as number;
  assertConsecutive(seen.map((m) => m.seq), 1, 25, "rita's first session");

  // More traffic while she is away; then she comes back on server 0 while more is sent.
  await batch(20);
  const [back] = await Promise.all([
    loginWhenFree(chat.target(0), "rita", 2000, since),
    batch(20),
  ]);
  await using rita2 = back.client;
  const second = await record(rita2);
  const total = 2 * sent;
  await until(
    () => messagesOf(second).length >= total - since,
    10_000,
    () => `rita's second session has ${messagesOf(second).length} of ${total - since}`,
  );
  await sleep(100);
  const resumed = [...seen, ...messagesOf(second)];
  assertConsecutive(resumed.map((m) => m.seq), 1, total, "rita's two sessions together");

  // The same messages, in the same order, as a fresh client's full replay.
  await using observer = await TestClient.login(chat.target(1), "otto");
  const history = await record(observer);
  await until(() => history.length >= total, 5000, () => `${history.length} replayed`);
  assert.deepEqual(resumed.map(key), history.map(key));
  assert.ok(resumed.some((m) => m.from === "wanda") && resumed.some((m) => m.from === "walt"));
});

test("a Redis outage: sends are refused with storage unavailable, connections stay, traffic resumes, nothing acked is lost", async () => {
  await using redis = await RedisServer.start();
  await using chat = await ChatServers.start(redis.url, [[], []]);
  await using ann = await TestClient.login(chat.target(0), "ann");
  await using ben = await TestClient.login(chat.target(1), "ben");
  const clients = [ann, ben];
  const names = ["ann", "ben"];
  const frames = await Promise.all(clients.map(record));
  const sentIds: string[][] = [[], []];
  const stop = { done: false };
  const sendErrors: string[] = [];

  // Both send steadily, with ids, through the whole outage.
  const pumps = clients.map(async (client, i) => {
    for (let n = 0; !stop.done; n++) {
      const id = `${names[i]}-${n}`;
      try {
        await client.send({ message: id, id });
      } catch (error) {
        // The connection is gone: the checks below say so.
        sendErrors.push(`${names[i]}: ${error} at ${id}`);
        return;
      }
      sentIds[i].push(id);
      await sleep(5);
    }
  });
  const answerTo = (i: number) => new Map(answersOf(frames[i]).map((a) => [a.id, a]));
  const okIds = (i: number) =>
    answersOf(frames[i]).filter((a) => a.status === "ok").map((a) => a.id as string);
  const explain = () =>
    `${
      names.map((name, i) =>
        `${name}: sent ${sentIds[i].length}, answers ${answersOf(frames[i]).length}, ok ${
          okIds(i).length
        }, closed ${clients[i].closed}`
      ).join("; ")
    }; send errors: ${sendErrors.join(", ") || "none"}\n${chat.logs()}`;
  try {
    await until(() => [0, 1].every((i) => okIds(i).length >= 20), 10_000, explain);

    await redis.stop();
    // Once a server has said so, it knows Redis is gone: from then on, nothing it is sent may
    // wait for Redis to come back (messages sent before that may be in flight, undecided). The
    // first message right after that moment is sent at once, on purpose.
    const downFrom = [0, 0];
    await Promise.all(clients.map(async (client, i) => {
      const deadline = Date.now() + 5000;
      while (!chat.servers[i].stderr.includes("redis unavailable")) {
        if (Date.now() > deadline) assert.fail(`server ${i} never said so; ${explain()}`);
        await sleep(1);
      }
      downFrom[i] = sentIds[i].length;
      const id = `${names[i]}-right-after`;
      sentIds[i].push(id);
      await client.send({ message: id, id });
    }));
    // While it is down: refusals that say why, with the message's id.
    await until(
      () =>
        [0, 1].every((i) =>
          sentIds[i].slice(downFrom[i]).some((id) => {
            const answer = answerTo(i).get(id);
            return answer?.status === "error" && answer.reason === "storage unavailable";
          })
        ),
      10_000,
      explain,
    );
    // Without an id the refusal comes too, just without one; a login is refused the same way.
    const idless = answersOf(frames[0]).length;
    await ann.send({ message: "sent while Redis is down, without an id" });
    await until(
      () =>
        answersOf(frames[0]).slice(idless).some((a) =>
          a.status === "error" && !("id" in a) && a.reason === "storage unavailable"
        ),
      5000,
      explain,
    );
    assert.deepEqual(await attemptLogin(chat.target(1), "carl"), {
      status: "error",
      reason: "storage unavailable",
    });
    assert.ok(!ann.closed && !ben.closed, "connections stay open while Redis is down");
    const downUntil = sentIds.map((ids) => ids.length);
    // Every message sent during the outage is answered during the outage: no silence.
    const unanswered = () =>
      [0, 1].flatMap((i) => {
        const answers = answerTo(i);
        return sentIds[i].slice(downFrom[i], downUntil[i]).filter((id) => !answers.has(id));
      });
    await until(
      () => unanswered().length === 0,
      5000,
      () => `unanswered while Redis is down: ${unanswered().join(" ")}; ${explain()}`,
    );

    await redis.restart();
    const upFrom = sentIds.map((ids) => ids.length);
    // After the restart: acks again, for messages sent after it.
    await until(
      () =>
        [0, 1].every((i) =>
          sentIds[i].slice(upFrom[i]).some((id) => answerTo(i).get(id)?.status === "ok")
        ),
      15_000,
      explain,
    );
    stop.done = true;
    await Promise.all(pumps);
    // Every message got an answer: none was met with silence.
    await until(
      () => [0, 1].every((i) => answersOf(frames[i]).length === sentIds[i].length + (1 - i)),
      10_000,
      explain,
    );
    // And each side has received every message the other had acked.
    await until(
      () =>
        [0, 1].every((i) => {
          const got = new Set(messagesOf(frames[i]).map((m) => m.message));
          return okIds(1 - i).every((id) => got.has(id));
        }),
      10_000,
      () => `relay incomplete; ${explain()}`,
    );
    for (const [i, name] of names.entries()) {
      const received = messagesOf(frames[i]);
      assert.ok(received.every((m) => m.from !== name), `${name} got its own message back`);
      assert.equal(new Set(received.map((m) => m.seq)).size, received.length, `${name}: dup`);
      for (let j = 1; j < received.length; j++) {
        assert.ok((received[j].seq as number) > (received[j - 1].seq as number), `${name} order`);
      }
      const refusedWhileDown = sentIds[i].slice(downFrom[i], downUntil[i]).filter((id) =>
        answerTo(i).get(id)?.status === "error"
      );
      assert.ok(refusedWhileDown.length > 0);
      const got = new Set(received.map((m) => m.message));
      assert.ok(refusedWhileDown.every((id) => !got.has(id)), `a refused message was relayed`);
    }
    assert.ok(!ann.closed && !ben.closed, "connections stayed open through the outage");

    // A fresh client's replay: consecutive seq, every acked message exactly once, no refused one.
    const count = Number(await redis.command("GET", "chat:seq"));
    assert.equal(await redis.command("XLEN", "chat:history"), String(count), "no seq was skipped");
    await using cid = await TestClient.login(chat.target(1), "cid");
    const replay = await record(cid);
    await until(() => replay.length >= count, 10_000, () => `${replay.length} of ${count}`);
    await sleep(100);
    assertConsecutive(replay.map((f) => f.seq), 1, count, "replay after the outage");
    const replayed = replay.map((f) => f.message as string);
    assert.equal(new Set(replayed).size, replayed.length, "a message stored twice");
    const inReplay = new Set(replayed);
    for (const i of [0, 1]) {
      const missing = okIds(i).filter((id) => !inReplay.has(id));
      assert.deepEqual(missing, [], `${names[i]}'s acked messages missing from the replay`);
      const refused = sentIds[i].slice(downFrom[i], downUntil[i]).filter((id) =>
        answerTo(i).get(id)?.status === "error"
      );
      assert.deepEqual(refused.filter((id) => inReplay.has(id)), [], "refused but stored");
    }
  } finally {
    stop.done = true;
    // A send that blocks (the server stopped reading) would hold the pumps for ever.
    if (!(await settlesWithin(Promise.allSettled(pumps), 5000))) {
      await Promise.all(clients.map((client) => client.close()));
      await Promise.allSettled(pumps);
      assert.fail(`a send still blocked 5 s after the pumps stopped; ${explain()}`);
    }
  }
});

Deno.test("--redis: an unreachable Redis at startup exits 1 with one sentence; with --data-dir it is a usage error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-redis-cli-" });
  try {
    const closed = `redis://127.0.0.1:${await freePort()}`;
    const base = ["server", "--host", "127.0.0.1", "--port", "0", "--rate-limit", "0"];
    const unreachable = await runChat([...base, "--redis", closed], dir);
    assert.equal(unreachable.code, 1, unreachable.stderr);
    assert.equal(unreachable.stderr.trim().split("\n").length, 1, unreachable.stderr);
    assert.match(unreachable.stderr, /^(chat: )?cannot reach Redis/);
    assert.doesNotMatch(unreachable.stderr, /\bat .*:\d+:\d+/, "no stack trace");
    assert.doesNotMatch(unreachable.stdout, /listening on/);

    for (
      const extra of [
        ["--data-dir", `${dir}/data`],
        ["--nick-lease", "0"],
      ]
    ) {
      const usage = await runChat([...base, "--redis", closed, ...extra], dir);
      assert.equal(usage.code, 2, `${extra.join(" ")}: ${usage.stderr}`);
      assert.match(usage.stderr, /^chat: /);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
