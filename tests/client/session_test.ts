// The client without a terminal against a fake TLS server: the frames it
// sends (login first, one message per line, `since` after a reconnect),
// what it shows for history, odd times, hostile input and errors, and how
// it leaves (close_notify, exit 0 at end of input).

import assert from "node:assert/strict";
import { UsageError } from "../../lib/errors.ts";
import { MAX_SERVER_LINE_BYTES } from "../../lib/client/connect.ts";
import { FINISH_WAIT_MS } from "../../lib/client/delivery.ts";
import {
  clientEnv,
  eventually,
  type FakeConn,
  fileCerts,
  type Frame,
  lines,
  loginFrame,
  PipeClient,
  pipeSetup,
} from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";
import { HOSTILE_MESSAGES, HOSTILE_NICKNAMES, RAW_UNSAFE } from "./hostile_corpus.ts";

/** Deno.test for the tests that use certificates made with openssl: skipped without it. */
const test = testNeeding("openssl");
// Without openssl there are no certificates, and every test that reads them is skipped.
const certs = await fileCerts();

const setup = () => pipeSetup(certs.caTrue);

test("sends the login first, then each input line as one message, and leaves politely at end of input", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  client.type("hello", "", "second line");
  const conn = await t.server.accept();
  assert.deepEqual(await conn.next(), loginFrame("bob"));
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(conn.received.length, 1, "nothing but the login before the answer");
  await conn.send({ status: "ok" });
  const first = await conn.next();
  const second = await conn.next();
  assert.equal(first.message, "hello");
  assert.equal(second.message, "second line");
  assert.equal(typeof first.id, "string");
  assert.notEqual(first.id, second.id);
  client.end();
  assert.equal(await client.code, 0);
  assert.equal(await conn.ended, "close_notify");
  assert.match(client.stdout, /^\d\d:\d\d <bob> hello\n\d\d:\d\d <bob> second line\n$/m);
  assert(!client.stdout.includes("\x1b"), "no colour without a terminal");
});

test("shows history across days with separators, multi-line messages indented, odd time formats", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send(
    { status: "ok" },
    { from: "alice", message: "first", time: "2017-01-12T20:00:00-0800", seq: 1 },
    { from: "carol", message: "colon offset", time: "2017-01-13T05:30:00+01:00", seq: 2 },
    { from: "alice", message: "zulu with fraction", time: "2017-01-13T23:59:59.999Z", seq: 3 },
    { from: "dave", message: "line one\nline two\r\nline three", time: "2017-01-14T00:00:00Z" },
    { from: "eve", message: "no time" },
    { from: "eve", message: "bad time", time: "yesterday\x1b[2J" },
  );
  assert(await eventually(() => client.stdout.includes("bad time")));
  client.end();
  assert.equal(await client.code, 0);
  assert.deepEqual(lines(client.stdout), [
    "--- Friday 2017-01-13 ---",
    "04:00 <alice> first",
    "04:30 <carol> colon offset",
    "23:59 <alice> zulu with fraction",
    "--- Saturday 2017-01-14 ---",
    "00:00 <dave> line one",
    "             line two",
    "             line three",
    "--:-- <eve> no time",
    "yesterday\\x1b[2J <eve> bad time",
  ]);
});

test("hostile nicknames and messages reach stdout only as visible escapes", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok" });
  for (const from of HOSTILE_NICKNAMES) {
    await conn.send({ from, message: "hi", time: "2017-01-12T20:00:00Z" });
  }
  for (const message of HOSTILE_MESSAGES) {
    await conn.send({ from: "mallory", message, time: "2017-01-12T20:00:00Z" });
  }
  await conn.send({ from: "mallory", message: "the end", time: "2017-01-12T20:00:00Z" });
  await conn.send({ status: "error", reason: "bad\x1b]0;owned\x07 reason" });
  assert(await eventually(() => client.stdout.includes("the end")));
  client.end();
  assert.equal(await client.code, 0);
  assert.doesNotMatch(client.stdout, RAW_UNSAFE);
  assert.doesNotMatch(client.stderr, RAW_UNSAFE);
  assert.match(client.stdout, /\\x1b\[31m/);
  assert.match(client.stdout, /\\u202e/);
  assert.match(client.stderr, /server: bad\\x1b\]0;owned\\x07 reason/);
  // One display line per message line: a hostile CR or ESC never adds or hides a line.
  const shown = lines(client.stdout).filter((line) => !line.startsWith("---"));
  const expected = HOSTILE_NICKNAMES.length +
    HOSTILE_MESSAGES.reduce((n, m) => n + m.split(/\r?\n/).length, 0) + 1;
  assert.equal(shown.length, expected);
});

test("a login error without a terminal exits non-zero with the server's reason", async () => {
  await using t = await setup();
  const client = t.start([], { CHAT_NICK: "bob" });
  const conn = await t.server.accept();
  assert.deepEqual(await conn.next(), loginFrame("bob"));
  await conn.send({ status: "error", reason: "nickname already in use" });
  assert.equal(await client.code, 1);
  assert.match(client.stderr, /login as bob refused: nickname already in use/);
});

test("a login error without a reason says the nickname was taken or not allowed", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "error" });
  assert.equal(await client.code, 1);
  assert.match(client.stderr, /nickname taken or not allowed/);
});

test("after a dropped connection it logs in again with since, sends queued lines, shows nothing twice", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send(
    { status: "ok" },
    { from: "alice", message: "one", time: "2017-01-12T20:00:00Z", seq: 1 },
    { from: "alice", message: "two", time: "2017-01-12T20:01:00Z", seq: 2 },
  );
  assert(await eventually(() => client.stdout.includes("two")));
  await conn.drop();
  assert(await eventually(() => /reconnecting in \d+ s/.test(client.stderr)), client.stderr);
  client.type("typed while away");
  const again = await t.server.accept(5000);
  assert.deepEqual(await again.next(), loginFrame("bob", 2));
  await again.send(
    { status: "ok" },
    // A server that ignores `since` repeats seq 2: it must not show twice.
    { from: "alice", message: "two", time: "2017-01-12T20:01:00Z", seq: 2 },
    { from: "alice", message: "three", time: "2017-01-12T20:02:00Z", seq: 3 },
  );
  const queued = await again.next();
  assert.equal(queued.message, "typed while away");
  await again.send({ status: "ok", id: queued.id });
  assert(await eventually(() => client.stderr.includes('delivered: "typed while away"')));
  assert(await eventually(() => client.stdout.includes("three")));
  client.end();
  assert.equal(await client.code, 0);
  const shown = lines(client.stdout).filter((line) => !line.startsWith("---"));
  assert.deepEqual(shown.map((line) => line.slice(6)), [
    "<alice> one",
    "<alice> two",
    "<alice> three",
    "<bob> typed while away",
  ]);
});

test("a server whose numbers went back (it lost its last messages in a restart): no new message is skipped", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const at = (minute: number) => `2017-01-12T20:${String(minute).padStart(2, "0")}:00Z`;
  const before = Array.from({ length: 10 }, (_, i) => ({
    from: "alice",
    message: `old ${i + 1}`,
    time: at(i),
    seq: i + 1,
  }));
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok" }, ...before);
  assert(await eventually(() => client.stdout.includes("old 10")), client.stdout);
  await conn.drop();
  // Restarted: 9 and 10 were relayed but never written. Asked for `since` 10, beyond its
  // newest, it replays everything it has (as our server does).
  const second = await t.server.accept(5000);
  assert.deepEqual(await second.next(), loginFrame("bob", 10));
  await second.send({ status: "ok" }, ...before.slice(0, 8));
  assert(await eventually(() => client.stderr.includes("reconnected")), client.stderr);
  await new Promise((resolve) => setTimeout(resolve, 200)); // The replay is taken in.
  await second.drop();
  // Meanwhile carol said three things, numbered 9, 10 and 11 by this life of the server.
  const after = ["new 9", "new 10", "new 11"].map((message, i) => ({
    from: "carol",
    message,
    time: at(20 + i),
    seq: 9 + i,
  }));
  const third = await t.server.accept(5000);
  const login = await third.next();
  const since = typeof login.since === "number" ? login.since : 0;
  await third.send({ status: "ok" }, ...after.filter((m) => m.seq > since));
  client.end();
  assert.equal(await client.code, 0, client.stderr);
  assert.equal(since, 8, "since follows the server's numbers as they are now");
  const shown = lines(client.stdout).filter((line) => !line.startsWith("---"));
  assert.deepEqual(shown.map((line) => line.slice(6)), [
    ...before.map((m) => `<alice> ${m.message}`),
    "<carol> new 9",
    "<carol> new 10",
    "<carol> new 11",
  ]);
  assert.equal(client.stderr.match(/numbers restarted/g)?.length, 1, client.stderr);
});

test("against a server without seq, a reconnect marks the replay and skips what was shown", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  await conn.next();
  const a = { from: "alice", message: "a", time: "2017-01-12T20:00:00Z" };
  const b = { from: "carol", message: "b", time: "2017-01-12T20:01:00Z" };
  await conn.send({ status: "ok" }, a, b);
  client.type("mine");
  assert.equal((await conn.next()).message, "mine");
  assert(await eventually(() => client.stdout.includes("<carol> b")));
  await conn.drop();
  const again = await t.server.accept(5000);
  assert.deepEqual(await again.next(), loginFrame("bob"));
  const mine = { from: "bob", message: "mine", time: "2017-01-12T20:02:00Z" };
  const c = { from: "alice", message: "c", time: "2017-01-12T20:03:00Z" };
  await again.send({ status: "ok" }, a, b, mine, c);
  assert(await eventually(() => client.stdout.includes("<alice> c")));
  client.end();
  assert.equal(await client.code, 0);
  assert.match(client.stderr, /replay begins here/);
  const shown = lines(client.stdout).filter((line) => !line.startsWith("---"));
  assert.deepEqual(shown.map((line) => line.slice(6)), [
    "<alice> a",
    "<carol> b",
    "<bob> mine",
    "<alice> c",
  ]);
});

test("a message unconfirmed when the connection dropped is resent unless the replay shows it", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok" });
  client.type("m1");
  const m1 = await conn.next();
  await conn.send({ status: "ok", id: m1.id }); // This server acks.
  client.type("m2", "m3");
  const m2 = await conn.next();
  const m3 = await conn.next();
  await conn.drop(); // m2 and m3 were never confirmed.
  const again = await t.server.accept(5000);
  await again.next();
  await again.send(
    { status: "ok" },
    { from: "bob", message: "m1", time: "2017-01-12T20:00:00Z", seq: 1 },
    { from: "bob", message: "m2", time: "2017-01-12T20:00:01Z", seq: 2 },
  );
  const resent = await again.next();
  assert.deepEqual(resent, { message: "m3", id: m3.id });
  await again.send({ status: "ok", id: m3.id });
  assert(await eventually(() => client.stderr.includes('delivered: "m3"')));
  client.end();
  assert.equal(await client.code, 0);
  assert.notEqual(m2.id, m3.id);
  assert.match(client.stderr, /delivered: "m2"/);
  assert.equal(again.received.length, 2, "login and m3 only");
  const shown = lines(client.stdout).filter((line) => !line.startsWith("---"));
  assert.deepEqual(shown.map((line) => line.slice(6)), ["<bob> m1", "<bob> m2", "<bob> m3"]);
});

test("a quiet connection carries a blank line each heartbeat interval, skipped as a frame; none while chatting", async () => {
  await using t = await setup();
  const client = new PipeClient(
    ["--addr", `127.0.0.1:${t.server.port}`, "--ca", certs.caTrue.certFile, "--nick", "bob"],
    clientEnv(t.config),
    { heartbeatMs: 150 },
  );
  const conn = await t.server.accept();
  await conn.next();
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(conn.blankLines, 0, "none before the login's answer");
  await conn.send({ status: "ok" });
  assert(await eventually(() => conn.blankLines >= 3, 3000), `${conn.blankLines} heartbeats`);
  // Chatting faster than the interval: no heartbeat in between.
  const before = conn.blankLines;
  for (let i = 0; i < 5; i++) {
    client.type(`line ${i}`);
    assert.equal((await conn.next()).message, `line ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert(conn.blankLines - before <= 1, `${conn.blankLines - before} heartbeats while chatting`);
  client.end();
  assert.equal(await client.code, 0, client.stderr);
  assert.equal(conn.received.length, 6, "the login and five messages: heartbeats are no frames");
});

test("--json prints every received frame as one terminal-safe JSON line", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bot", "--json"]);
  const conn = await t.server.accept();
  await conn.next();
  const frames: Record<string, unknown>[] = [
    { status: "ok" },
    { from: "alice\u202e", message: "hi\u0085\nthere", time: "2017-01-12T20:00:00Z", seq: 1, x: 1 },
    { status: "error", reason: "login required" },
    { something: "unknown" },
  ];
  await conn.send(...frames);
  assert(await eventually(() => client.stdout.includes("unknown")));
  client.type("from the bot");
  const sent = await conn.next();
  assert.equal(sent.message, "from the bot");
  await conn.send({ status: "ok", id: sent.id });
  frames.push({ status: "ok", id: sent.id });
  client.end();
  assert.equal(await client.code, 0);
  const out = lines(client.stdout);
  assert.deepEqual(out.map((line) => JSON.parse(line)), frames);
  assert.doesNotMatch(client.stdout, RAW_UNSAFE);
});

test("an over-long line from the server becomes a notice; the connection goes on", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok" });
  await conn.send(`{"from":"x","message":"${"y".repeat(MAX_SERVER_LINE_BYTES)}"}\n`);
  await conn.send("not json\n", { from: "alice", message: "still here", time: "" });
  assert(await eventually(() => client.stdout.includes("still here")));
  client.end();
  assert.equal(await client.code, 0);
  assert.match(client.stderr, /dropped a line from the server: line too long/);
  assert.match(client.stderr, /ignored a frame from the server: malformed JSON/);
  assert.doesNotMatch(client.stdout, /yyyy/);
});

Deno.test("without a terminal, a missing address or nickname is a usage error", async () => {
  await assert.rejects(new PipeClient(["--nick", "bob"]).code, UsageError);
  await assert.rejects(new PipeClient(["--addr", "localhost"]).code, /no nickname/);
  await assert.rejects(new PipeClient(["--addr", "h:0", "--nick", "b"]).code, /--addr: port/);
  await assert.rejects(new PipeClient(["--addr", "h", "--nick", "a\u202eb"]).code, /--nick/);
  await assert.rejects(new PipeClient(["--addr", "h", "--nick", "b", "--bogus"]).code, UsageError);
});

Deno.test("a refused connection without a terminal is an error, not a hang", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const client = new PipeClient(["--addr", `127.0.0.1:${port}`, "--nick", "bob"]);
  assert.equal(await client.code, 1);
  assert.match(
    client.stderr,
    new RegExp(`cannot connect to 127.0.0.1:${port}: connection refused`),
  );
});

/** The messages among the frames a fake connection received so far. */
function messagesOf(conn: FakeConn): Frame[] {
  return conn.received.map((line) => JSON.parse(line)).filter((frame) => "message" in frame);
}

/**
 * Plays a server that acks: answers each message the client sends with what
 * `decide` returns (an ack when it returns nothing), until the connection ends.
 */
async function answerEach(
  conn: FakeConn,
  decide: (frame: Frame) => Frame | undefined,
): Promise<void> {
  while (true) {
    const frame = await conn.next(20_000).catch(() => undefined);
    if (!frame) return;
    if (typeof frame.message !== "string") continue;
    await conn.send(decide(frame) ?? { status: "ok", id: frame.id }).catch(() => {});
  }
}

test("a message refused for the rate limit is resent after a pause, before those waiting; other refusals fail the run", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "piper"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok" });
  const input = Array.from({ length: 8 }, (_, i) => `line ${i + 1}`);
  client.type(...input);
  client.end();
  const limited = new Set(["line 3", "line 4"]);
  const times = new Map<string, number[]>();
  const serving = answerEach(conn, (frame) => {
    const text = frame.message as string;
    times.set(text, [...times.get(text) ?? [], Date.now()]);
    if (limited.delete(text)) {
      return { status: "error", id: frame.id, reason: "rate limit exceeded" };
    }
    if (text === "line 6") {
      return { status: "error", id: frame.id, reason: "message must be at most 16384 bytes" };
    }
  });
  assert.equal(await client.code, 1, client.stderr);
  await serving;
  const sent = messagesOf(conn);
  assert.deepEqual(sent.map((m) => m.message), [...input, "line 3", "line 4"]);
  assert.equal(sent[8].id, sent[2].id, "resent with the same id");
  const [refused, resent] = times.get("line 3")!;
  assert(resent - refused >= 900, `resent after a pause (${resent - refused} ms)`);
  assert.match(client.stderr, /limits how fast we may send: pausing 1 s/);
  assert.match(client.stderr, /not delivered: "line 6": message must be at most 16384 bytes/);
  assert.match(client.stderr, /chat: 1 message\(s\) not delivered:\nchat: {3}line 6\n$/);
  assert.doesNotMatch(client.stderr, /"line [34]"/);
  // Each line is shown once, when it first went out.
  const shown = lines(client.stdout).filter((line) => !line.startsWith("---"))
    .map((line) => line.slice(6));
  assert.deepEqual(shown, input.map((line) => `<piper> ${line}`));
});

test("a message refused with storage unavailable is resent after a pause and never lost", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "stora"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok" });
  const input = ["one", "two", "three", "four"];
  client.type(...input);
  client.end();
  // The server's storage fails for "two" (twice) and recovers.
  let failures = 2;
  const times: number[] = [];
  const serving = answerEach(conn, (frame) => {
    if (frame.message === "two") times.push(Date.now());
    if (frame.message === "two" && failures-- > 0) {
      return { status: "error", id: frame.id, reason: "storage unavailable" };
    }
  });
  assert.equal(await client.code, 0, client.stderr);
  await serving;
  const sent = messagesOf(conn).map((m) => m.message);
  // Every message stored once; "two" only after its refusals, never lost.
  const accepted = sent.filter((text, i) => text !== "two" || i === sent.lastIndexOf("two"));
  assert.deepEqual([...accepted].sort(), [...input].sort());
  assert.equal(sent.filter((text) => text === "two").length, 3);
  assert(times[1] - times[0] >= 1_900, `paused before resending (${times[1] - times[0]} ms)`);
  assert.match(client.stderr, /cannot store messages right now; resending "two" in 2 s/);
  assert.doesNotMatch(client.stderr, /not delivered/);
});

test("rate-limit refusals without an id (an older server) are matched to the messages left unanswered", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "piper"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok" });
  const input = ["one", "two", "three", "four"];
  client.type(...input);
  client.end();
  // As our older server did: refusals at once, without the id; acks after them.
  const burst = [await conn.next(), await conn.next(), await conn.next(), await conn.next()];
  await conn.send(
    { status: "error", reason: "rate limit exceeded" },
    { status: "error", reason: "rate limit exceeded" },
    { status: "ok", id: burst[0].id },
    { status: "ok", id: burst[1].id },
  );
  const serving = answerEach(conn, () => undefined);
  assert.equal(await client.code, 0, client.stderr);
  await serving;
  assert.deepEqual(messagesOf(conn).map((m) => m.message), [...input, "three", "four"]);
});

test("two identical messages in doubt after a drop: only the copies the replay shows beyond the confirmed ones count as delivered", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok" }, {
    from: "alice",
    message: "ready?",
    time: "2017-01-12T20:00:00Z",
    seq: 1,
  });
  client.type("ok");
  const first = await conn.next();
  await conn.send({ status: "ok", id: first.id }); // Stored as seq 2.
  client.type("ok", "ok");
  const second = await conn.next(); // Stored as seq 3, the ack lost with the connection.
  const third = await conn.next(); // Never reached the server.
  await conn.drop();
  const again = await t.server.accept(5000);
  assert.deepEqual(await again.next(), loginFrame("bob", 1));
  await again.send(
    { status: "ok" },
    { from: "bob", message: "ok", time: "2017-01-12T20:00:01Z", seq: 2 },
    { from: "bob", message: "ok", time: "2017-01-12T20:00:02Z", seq: 3 },
  );
  const resent = await again.next();
  assert.deepEqual(resent, { message: "ok", id: third.id });
  assert.notEqual(second.id, third.id);
  await again.send({ status: "ok", id: third.id });
  client.end();
  assert.equal(await client.code, 0, client.stderr);
  assert.equal(messagesOf(again).length, 1, "only the third is sent again");
  assert.equal((client.stderr.match(/delivered: "ok"/g) ?? []).length, 2, client.stderr);
  const shown = lines(client.stdout).filter((line) => !line.startsWith("---"));
  assert.deepEqual(shown.map((line) => line.slice(6)), [
    "<alice> ready?",
    "<bob> ok",
    "<bob> ok",
    "<bob> ok",
  ]);
});

test("end of input with the server gone: exit 1 within the deadline, naming the line that did not get there", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  await conn.next();
  await conn.send({ status: "ok" });
  assert(await eventually(() => client.stderr.includes("logged in")));
  await t.server.close(); // The server dies; nothing listens on the port any more.
  assert(await eventually(() => client.stderr.includes("reconnecting in")), client.stderr);
  client.type("hi"); // (sleep 1; echo hi) | chat client …: the line comes after the drop.
  client.end();
  // Not forever: the run ends within the deadline (plus a reconnect attempt).
  let timer: ReturnType<typeof setTimeout> | undefined;
  const code = await Promise.race([
    client.code,
    new Promise<string>((resolve) =>
      timer = setTimeout(() => resolve("still running"), FINISH_WAIT_MS + 3000)
    ),
  ]);
  clearTimeout(timer);
  if (code === "still running") client.interrupt();
  assert.equal(code, 1, client.stderr);
  assert.match(client.stderr, /giving up: could not reconnect to 127\.0\.0\.1:\d+/);
  assert.match(client.stderr, /chat: 1 message\(s\) not delivered:\nchat: {3}hi\n$/);
});
