// End-to-end tests of the server over real TLS on 127.0.0.1:0.

import assert from "node:assert/strict";
import { eventually, type Frame, startServer, TestClient, type TestServer } from "./_helpers.ts";

const FIXED = new Date("2017-01-13T04:00:00Z");

Deno.test("relays a message to every other client and never back to its sender", async () => {
  await using server = await startServer();
  await using alice = await TestClient.login(server, "alice");
  await using bob = await TestClient.login(server, "bob");
  await using carol = await TestClient.login(server, "carol");
  await alice.send({ message: "hello from alice" });
  for (const receiver of [bob, carol]) {
    const frame = await receiver.next();
    assert.equal(frame.from, "alice");
    assert.equal(frame.message, "hello from alice");
    assert.equal(frame.seq, 1);
  }
  await bob.send({ message: "hi alice" });
  assert.equal((await alice.next()).message, "hi alice");
  assert.equal((await carol.next()).message, "hi alice");
  assert.deepEqual(await alice.quiet(), [], "alice must not get her own message back");
  assert.deepEqual(await bob.quiet(0), []);
});

Deno.test("replays the history on login, including the client's own earlier messages", async () => {
  await using server = await startServer();
  const bob = await TestClient.login(server, "bob");
  await using alice = await TestClient.login(server, "alice");
  await bob.send({ message: "first" });
  await alice.next();
  await alice.send({ message: "second" });
  await bob.next();
  await bob.close();
  await eventually(() =>
    server.logs.some((l) => l.startsWith("disconnect") && l.includes("nick=bob"))
  );
  await using again = await TestClient.login(server, "bob");
  const replay = await again.take(2);
  assert.deepEqual(replay.map((f) => [f.from, f.message, f.seq]), [
    ["bob", "first", 1],
    ["alice", "second", 2],
  ]);
  assert.deepEqual(await again.quiet(), []);
});

Deno.test("refuses a nickname in use, in any case, and lets the client try another", async () => {
  await using server = await startServer();
  await using bob = await TestClient.login(server, "Bob");
  await using other = await TestClient.connect(server);
  for (const taken of ["Bob", "bob", "BOB"]) {
    await other.send({ command: "login", nickname: taken });
    const answer = await other.next();
    assert.equal(answer.status, "error");
    assert.equal(answer.reason, "nickname already in use");
  }
  await other.send({ command: "login", nickname: "robert" });
  assert.deepEqual(await other.next(), { status: "ok" });
  await other.send({ command: "login", nickname: "again" });
  assert.deepEqual(await other.next(), { status: "error", reason: "already logged in" });
  void bob;
});

Deno.test("refuses nicknames that break the rules, with the reason", async () => {
  await using server = await startServer();
  await using client = await TestClient.connect(server);
  const cases: [string, string][] = [
    ["", "nickname must not be empty"],
    ["evil\u202eeve", "nickname must not contain control or format characters"],
    ["zero\u200bwidth", "nickname must not contain control or format characters"],
    ["bell\u0007", "nickname must not contain control or format characters"],
    [" padded", "nickname must not start or end with white space"],
    ["x".repeat(33), "nickname must be at most 32 characters"],
  ];
  for (const [nickname, reason] of cases) {
    await client.send({ command: "login", nickname });
    assert.deepEqual(await client.next(), { status: "error", reason }, JSON.stringify(nickname));
  }
  await client.send({ command: "login", nickname: "\u00e9milie" });
  assert.deepEqual(await client.next(), { status: "ok" });
});

Deno.test("permits nothing before login: no relay, no storage, no history", async () => {
  await using server = await startServer();
  await using alice = await TestClient.login(server, "alice");
  await alice.send({ message: "stored before" });
  await using stranger = await TestClient.connect(server);
  await stranger.send({ message: "sneaky" });
  assert.deepEqual(await stranger.next(), { status: "error", reason: "login required" });
  await stranger.send({ message: "sneaky", id: "s1" });
  assert.deepEqual(await stranger.next(), { status: "error", id: "s1", reason: "login required" });
  assert.deepEqual(await alice.quiet(), []);
  assert.deepEqual(await stranger.quiet(0), [], "no history before login");
  assert.equal(server.store.lastSeq, 1);
});

Deno.test("sets from and time itself: a client cannot speak as someone else", async () => {
  await using server = await startServer({}, { clock: () => FIXED });
  await using mallory = await TestClient.login(server, "mallory");
  await using alice = await TestClient.login(server, "alice");
  await mallory.send({ from: "alice", message: "I am alice", time: "1999-01-01T00:00:00Z" });
  const frame = await alice.next();
  assert.equal(frame.from, "mallory");
  assert.equal(frame.time, new Date(FIXED).toISOString().slice(0, 19) + "+0000");
  assert.match(String(frame.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$/);
});

Deno.test("answers every bad frame with an error and keeps the connection", async () => {
  await using server = await startServer({ maxLineBytes: 1024, maxMessageBytes: 100 });
  await using bob = await TestClient.login(server, "bob");
  await using alice = await TestClient.login(server, "alice");
  const bad: [string, string][] = [
    ["not json\n", "malformed JSON"],
    ["[1,2]\n", "frame must be a JSON object"],
    ['"text"\n', "frame must be a JSON object"],
    ["null\n", "frame must be a JSON object"],
    ["{}\n", 'frame must have "command" or "message"'],
    ['{"command":"dance"}\n', 'unknown command "dance"'],
    ['{"command":7}\n', "command must be a string"],
    ['{"message":42}\n', "message must be a string"],
    ['{"message":""}\n', "message must not be empty"],
    [`{"message":"${"x".repeat(101)}"}\n`, "message must be at most 100 bytes"],
    [`{"message":"${"x".repeat(2000)}"}\n`, "line too long"],
    ['{"message":"\xff"}\n', "invalid UTF-8"],
  ];
  for (const [line, reason] of bad) {
    const bytes = line.includes("\xff")
      ? Uint8Array.from(
        [...'{"message":"'].map((c) => c.charCodeAt(0)).concat([0xff, 0x22, 0x7d, 0x0a]),
      )
      : new TextEncoder().encode(line);
    let offset = 0;
    while (offset < bytes.length) offset += await bob.conn.write(bytes.subarray(offset));
    assert.deepEqual(await bob.next(), { status: "error", reason }, line.slice(0, 40));
  }
  await bob.send('\r\n   \n{"message":"still here"}\r\n');
  assert.equal((await alice.next()).message, "still here");
  assert.deepEqual(await alice.quiet(), [], "no bad frame was relayed");
  assert.equal(server.store.lastSeq, 1);
  const rejected = server.logs.filter((l) =>
    l.startsWith("frame rejected") && l.includes("nick=bob")
  );
  assert.equal(rejected.length, bad.length, "each rejected frame is logged with the peer");
  assert.match(rejected[0], /peer=127\.0\.0\.1:\d+ nick=bob reason=malformed JSON/);
});

Deno.test("reassembles frames split across writes, including inside a UTF-8 character", async () => {
  await using server = await startServer();
  await using bob = await TestClient.login(server, "bob");
  await using alice = await TestClient.login(server, "alice");
  const bytes = new TextEncoder().encode('{"message":"caf\u00e9 \u{1f600} done"}\n');
  for (let i = 0; i < bytes.length; i++) {
    await bob.conn.write(bytes.subarray(i, i + 1));
  }
  assert.equal((await alice.next()).message, "caf\u00e9 \u{1f600} done");
});

Deno.test("keeps newlines inside a message as JSON escapes on the wire", async () => {
  await using server = await startServer();
  await using bob = await TestClient.login(server, "bob");
  await using alice = await TestClient.login(server, "alice");
  await bob.send({ message: "line one\nline two\r\n\u2028end" });
  const raw = await alice.nextLine();
  assert.equal(JSON.parse(raw).message, "line one\nline two\r\n\u2028end");
  assert.ok(!raw.includes("\n") && !raw.includes("\r"));
});

Deno.test("acks a message that carries an id, and rejects a bad one with its id", async () => {
  await using server = await startServer({ maxMessageBytes: 10 });
  await using bob = await TestClient.login(server, "bob");
  await using alice = await TestClient.login(server, "alice");
  await bob.send({ message: "hello", id: "m-1" });
  assert.deepEqual(await bob.next(), { status: "ok", id: "m-1" });
  const relayed = await alice.next();
  assert.equal(relayed.message, "hello");
  assert.ok(!("id" in relayed), "the id is the sender's business");
  await bob.send({ message: "far too long for ten", id: "m-2" });
  assert.deepEqual(await bob.next(), {
    status: "error",
    id: "m-2",
    reason: "message must be at most 10 bytes",
  });
  await bob.send({ message: "no id" });
  assert.deepEqual(await bob.quiet(), [], "a message without id gets no answer");
  await bob.send({ message: "x", id: "i".repeat(65) });
  assert.equal((await bob.next()).reason, "id must be at most 64 characters");
});

Deno.test("replays only messages after since", async () => {
  await using server = await startServer();
  await using bob = await TestClient.login(server, "bob");
  for (let i = 1; i <= 5; i++) await bob.send({ message: `m${i}`, id: `${i}` });
  await bob.take(5);
  await using alice = await TestClient.login(server, "alice", 3);
  assert.deepEqual((await alice.take(2)).map((f) => [f.seq, f.message]), [[4, "m4"], [5, "m5"]]);
  await using carol = await TestClient.login(server, "carol", 5);
  assert.deepEqual(await carol.quiet(), []);
  await bob.send({ message: "m6" });
  assert.equal((await carol.next()).seq, 6);
  assert.equal((await alice.next()).seq, 6);
});

Deno.test("a since beyond the newest seq (a client of the server's earlier life) replays the whole history", async () => {
  await using server = await startServer();
  // Nothing stored yet: a client that saw seq 100 before a restart misses nothing new.
  await using early = await TestClient.login(server, "early", 100);
  await using bob = await TestClient.login(server, "bob");
  await bob.send({ message: "m1" });
  await bob.send({ message: "m2" });
  assert.deepEqual((await early.take(2)).map((f) => [f.seq, f.message]), [[1, "m1"], [2, "m2"]]);
  // With history: all of it, then live messages.
  await using late = await TestClient.login(server, "late", 100);
  assert.deepEqual((await late.take(2)).map((f) => f.message), ["m1", "m2"]);
  await bob.send({ message: "m3" });
  assert.equal((await late.next()).message, "m3");
  assert.equal((await early.next()).message, "m3");
});

Deno.test("closes a connection that does not log in before the deadline", async () => {
  await using server = await startServer({ loginTimeoutMs: 300 });
  await using idle = await TestClient.connect(server);
  await using alice = await TestClient.login(server, "alice");
  assert.deepEqual(await idle.next(1000), { status: "error", reason: "login timeout" });
  assert.ok(await idle.closedByServer(1000));
  await new Promise((resolve) => setTimeout(resolve, 400));
  await using bob = await TestClient.login(server, "bob");
  await bob.send({ message: "alice is still connected" });
  assert.equal((await alice.next()).message, "alice is still connected");
  assert.ok(server.logs.some((l) => l.startsWith("login timeout")));
});

Deno.test("closes a connection after ten failed logins", async () => {
  await using server = await startServer();
  await using client = await TestClient.connect(server);
  for (let i = 0; i < 10; i++) await client.send({ command: "login", nickname: "" });
  const answers = await client.take(10);
  assert.ok(answers.every((a) => a.status === "error"));
  assert.ok(await client.closedByServer());
});

Deno.test("frees the nickname at once when its connection closes", async () => {
  await using server = await startServer();
  const first = await TestClient.login(server, "bob");
  await first.close();
  assert.ok(await eventually(() => server.logs.some((l) => l.startsWith("disconnect"))));
  await using second = await TestClient.login(server, "bob");
  void second;
});

Deno.test("cuts off a reader that never reads while the others go on", async () => {
  await using server = await startServer({ sendQueueBytes: 256 * 1024 });
  // A client that logs in and then never reads a byte.
  const sleeper = await Deno.connectTls({
    hostname: "localhost",
    port: server.port,
    caCerts: [server.certPem],
  });
  await sleeper.write(new TextEncoder().encode('{"command":"login","nickname":"sleeper"}\n'));
  await using alice = await TestClient.login(server, "alice");
  await using bob = await TestClient.login(server, "bob");
  const text = "x".repeat(8000);
  const count = 2000; // 16 MB: far more than the socket buffers and the queue cap hold.
  // Alice sends at the pace bob reads (as people do), so only the sleeper falls behind.
  let bobSeen = 0;
  const paced = (async () => {
    for (let i = 0; i < count; i++) {
      await alice.send({ message: text });
      if (i % 16 === 15) await eventually(() => bobSeen >= i - 16, 10_000);
    }
  })();
  const bobCount = async () => {
    while (bobSeen < count) {
      const frame = await bob.next(10_000);
      if (frame.from === "alice") bobSeen++;
    }
    return bobSeen;
  };
  const [, total] = await Promise.all([paced, bobCount()]);
  assert.equal(total, count);
  assert.ok(
    await eventually(() =>
      server.logs.some((l) =>
        l.startsWith("disconnect") && l.includes("nick=sleeper") && l.includes("send queue full")
      )
    ),
    server.logs.join("\n"),
  );
  sleeper.close();
});

Deno.test("delivers every message exactly once, in one order, to senders and a late joiner", async () => {
  await using server = await startServer();
  const senders = await Promise.all(["s1", "s2", "s3"].map((n) => TestClient.login(server, n)));
  await using watcher = await TestClient.login(server, "watcher");
  const perSender = 300;
  const total = perSender * senders.length;
  const sending = senders.map(async (client, k) => {
    for (let i = 0; i < perSender; i++) await client.send({ message: `s${k + 1}:${i}` });
  });
  // A client logs in while the messages are flowing.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const late = await TestClient.login(server, "late");
  await Promise.all(sending);
  const collect = async (client: TestClient, expected: number) => {
    const frames: Frame[] = [];
    while (frames.length < expected) {
      frames.push(
        await client.next(5000).catch((e) => {
          throw new Error(
            `${e.message} after ${frames.length} of ${expected}; stored ${server.store.lastSeq}`,
          );
        }),
      );
    }
    assert.deepEqual(await client.quiet(100), [], "nothing more, nothing twice");
    return frames;
  };
  const everyone = await collect(watcher, total);
  const lateSeen = await collect(late, total);
  assert.deepEqual(everyone.map((f) => f.seq), Array.from({ length: total }, (_, i) => i + 1));
  assert.deepEqual(lateSeen.map((f) => f.seq), everyone.map((f) => f.seq));
  assert.deepEqual(lateSeen.map((f) => f.message), everyone.map((f) => f.message));
  for (const [k, client] of senders.entries()) {
    const seen = await collect(client, total - perSender);
    const others = everyone.filter((f) => f.from !== `s${k + 1}`);
    assert.deepEqual(seen.map((f) => f.seq), others.map((f) => f.seq));
  }
  // Each sender's own messages keep their order.
  for (const k of [1, 2, 3]) {
    const mine = everyone.filter((f) => f.from === `s${k}`).map((f) => f.message);
    assert.deepEqual(mine, Array.from({ length: perSender }, (_, i) => `s${k}:${i}`));
  }
  await late.close();
  await Promise.all(senders.map((c) => c.close()));
});

Deno.test("closes connections beyond --max-clients right after accept", async () => {
  await using server = await startServer({ maxClients: 2 });
  await using a = await TestClient.login(server, "a");
  await using b = await TestClient.connect(server);
  const c = await TestClient.connect(server).catch(() => undefined);
  if (c) {
    assert.ok(await c.closedByServer(), "the third connection is closed");
    await c.close();
  }
  assert.ok(await eventually(() => server.logs.some((l) => l.includes("too many clients"))));
  void a, b;
});

Deno.test("shutdown closes every connection politely and returns promptly", async () => {
  const server = await startServer();
  const a = await TestClient.login(server, "a");
  const b = await TestClient.connect(server);
  const started = performance.now();
  await server.stop();
  const took = performance.now() - started;
  assert.ok(await a.closedByServer(1000));
  assert.ok(await b.closedByServer(1000));
  assert.ok(took < 2000, `stopped in ${took} ms`);
  await a.close();
  await b.close();
});

Deno.test("a client that does not speak TLS is disconnected, and the server goes on", async () => {
  await using server = await startServer();
  const plain = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await plain.write(new TextEncoder().encode('{"command":"login","nickname":"plain"}\n'));
  const buffer = new Uint8Array(1024);
  // The server answers with a TLS alert at most, never with a frame, then closes.
  let text = "";
  while (true) {
    const n = await plain.read(buffer).catch(() => null);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  plain.close();
  assert.ok(!text.includes("status"), text);
  assert.ok(
    await eventually(() => server.logs.some((l) => l.includes("TLS handshake failed"))),
    server.logs.join("\n"),
  );
  await using bob = await TestClient.login(server, "bob");
  void bob;
});

Deno.test("refuses frames over the rate limit, then cuts off a client that keeps flooding", async () => {
  await using server = await startServer({ rateLimit: 5 });
  await using flooder = await TestClient.login(server, "flooder");
  await using alice = await TestClient.login(server, "alice");
  // 10 frames fit the burst (twice the rate), two of them taken by the logins of flooder and
  // alice: one address, one burst. The rest of a fast flood does not fit.
  await flooder.send(
    Array.from({ length: 30 }, (_, i) => JSON.stringify({ message: `m${i}`, id: `${i}` })).join(
      "\n",
    ) + "\n",
  );
  const answers = await flooder.take(30);
  const refused = answers.filter((a) => a.reason === "rate limit exceeded");
  assert.ok(
    refused.every((a) => typeof a.id === "string"),
    "each refusal carries the message's id",
  );
  const ids = answers.map((a) => Number(a.id)).sort((a, b) => a - b);
  assert.deepEqual(ids, Array.from({ length: 30 }, (_, i) => i), "every message answered once");
  assert.ok(refused.length >= 15 && refused.length <= 23, `${refused.length} refused`);
  assert.equal(answers.filter((a) => a.status === "ok").length, 30 - refused.length);
  const relayed: Frame[] = [];
  while (relayed.length < 30 - refused.length) relayed.push(await alice.next());
  assert.deepEqual(await alice.quiet(), [], "refused frames are neither stored nor relayed");
  assert.ok(server.logs.some((l) => l.startsWith("rate limited") && l.includes("nick=flooder")));
  // Keep flooding: 100 refusals in a row end the connection.
  await flooder.send(Array.from({ length: 200 }, () => '{"message":"spam"}').join("\n") + "\n");
  assert.ok(await flooder.closedByServer(3000));
  assert.ok(
    await eventually(() =>
      server.logs.some((l) => l.includes("nick=flooder") && l.includes("reason=flooding"))
    ),
    server.logs.join("\n"),
  );
  // The limit is the address's: a client from it is served again once the bucket refills.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await using bob = await TestClient.login(server, "bob");
  await bob.send({ message: "calm" });
  let frame = await alice.next();
  while (frame.message === "spam") frame = await alice.next(); // the few the refill let through
  assert.equal(frame.message, "calm");
});

Deno.test("closes connections beyond --max-per-ip right after accept", async () => {
  await using server = await startServer({ maxPerIp: 2 });
  await using a = await TestClient.login(server, "a");
  await using b = await TestClient.login(server, "b");
  const c = await TestClient.connect(server).catch(() => undefined);
  if (c) {
    assert.ok(await c.closedByServer(), "the third connection from 127.0.0.1 is closed");
    await c.close();
  }
  assert.ok(
    await eventually(() =>
      server.logs.some((l) => l.includes("too many connections from this address"))
    ),
  );
  // Once one leaves, the address may connect again.
  await a.close();
  assert.ok(
    await eventually(() =>
      server.logs.some((l) => l.startsWith("disconnect") && l.includes("nick=a"))
    ),
  );
  await using d = await TestClient.login(server, "d");
  void b, d;
});

Deno.test("cuts a connection that never finishes its TLS handshake at the deadline", async () => {
  await using server = await startServer({ handshakeTimeoutMs: 300, loginTimeoutMs: 60_000 });
  const half = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const started = performance.now();
  // Send nothing: a half-open handshake.
  const n = await half.read(new Uint8Array(16)).catch(() => null);
  const waited = performance.now() - started;
  half.close();
  assert.equal(n, null);
  assert.ok(waited >= 250 && waited < 3000, `closed after ${waited} ms`);
  assert.ok(await eventually(() => server.logs.some((l) => l.startsWith("handshake timeout"))));
});

Deno.test("before login, every frame but a login is answered 'login required'", async () => {
  await using server = await startServer();
  await using client = await TestClient.connect(server);
  for (const frame of ['{"message":5}', '{"command":"dance"}', '{"foo":1}', '{"message":"hi"}']) {
    await client.send(frame + "\n");
    assert.equal((await client.next()).reason, "login required", frame);
  }
  // A broken login attempt is told what is wrong with it; text that is not JSON too.
  await client.send('{"command":"login","nickname":5}\n');
  assert.equal((await client.next()).reason, "nickname must be a string");
  await client.send("hello?\n");
  assert.equal((await client.next()).reason, "malformed JSON");
});

Deno.test("a last frame without a newline still counts when the client closes", async () => {
  await using server = await startServer();
  await using alice = await TestClient.login(server, "alice");
  const bob = await TestClient.login(server, "bob");
  await bob.send('{"message":"no newline at the end"}');
  await bob.conn.closeWrite();
  assert.equal((await alice.next()).message, "no newline at the end");
  await bob.close();
});

/**
 * Logs in on a new connection from this address and sends `count` messages
 * of `text` with ids at once, closes it, and returns how many were accepted
 * (acked). The login itself may be refused by the rate limit: then none is.
 */
async function acceptedOnOneConnection(
  server: TestServer,
  nickname: string,
  count: number,
  text: string,
): Promise<number> {
  await using client = await TestClient.connect(server);
  const frames = [
    // Since the newest seq: no replay of the earlier rounds' messages.
    { command: "login", nickname, since: server.store.lastSeq },
    ...Array.from({ length: count }, (_, i) => ({ message: text, id: `${i}` })),
  ];
  await client.send(frames.map((frame) => JSON.stringify(frame) + "\n").join(""));
  const answers = await client.take(count + 1);
  assert.ok(answers.every((a) => a.status !== undefined), JSON.stringify(answers));
  return answers.filter((a) => a.status === "ok" && typeof a.id === "string").length;
}

Deno.test("reconnecting does not refill the rate limit's burst: it is the address's", async () => {
  await using server = await startServer({ rateLimit: 10 });
  const started = performance.now();
  let accepted = 0;
  for (let round = 0; round < 6; round++) {
    accepted += await acceptedOnOneConnection(server, `hopper${round}`, 30, "hop");
  }
  const seconds = (performance.now() - started) / 1000;
  // Burst 20, plus 10 a second; a fresh burst per connection would have let ~110 through.
  const bound = 20 + 10 * seconds + 1;
  assert.ok(accepted <= bound, `${accepted} accepted in ${seconds.toFixed(2)} s, bound ${bound}`);
  assert.ok(accepted >= 10, `${accepted} accepted`);
});

Deno.test("one address stores at most its byte budget of text, however it spreads its messages", async () => {
  await using server = await startServer({ rateLimitBytes: 4096, maxMessageBytes: 8192 });
  const text = "x".repeat(2000);
  const started = performance.now();
  let accepted = 0;
  for (let round = 0; round < 5; round++) {
    accepted += await acceptedOnOneConnection(server, `bulk${round}`, 10, text);
  }
  const seconds = (performance.now() - started) / 1000;
  // The burst is two seconds' worth (8 KiB, one longest message); then 4 KiB a second.
  const bound = 8192 + 4096 * seconds + 2000;
  assert.ok(
    accepted * 2000 <= bound,
    `${accepted * 2000} bytes in ${seconds.toFixed(2)} s, bound ${bound}`,
  );
  assert.ok(accepted >= 4, `${accepted} accepted`);
  assert.equal(server.store.lastSeq, accepted);
  assert.ok(
    server.logs.some((l) => l.startsWith("rate limited") && l.includes("limit_bytes=4096")),
  );
});
