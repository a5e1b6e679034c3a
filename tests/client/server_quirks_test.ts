// What a server may do within the core protocol, or just outside it, and
// what the client makes of it (issue 12, part 3): no `reason`, no `seq`,
// unknown fields and frame types, a second `{"status":"ok"}`, messages
// before the login's answer, a close right after it, refusals that name no
// message. Each is shown, ignored, or said in one line; never a hang, a
// crash, or a claim that is not true.

import assert from "node:assert/strict";
import {
  eventually,
  fileCerts,
  lines,
  loginFrame,
  type PipeClient,
  pipeSetup,
} from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";

/** Deno.test for the tests that use certificates made with openssl: skipped without it. */
const test = testNeeding("openssl");
// Without openssl there are no certificates, and every test that reads them is skipped.
const certs = await fileCerts();

const setup = () => pipeSetup(certs.caTrue);

/** A client as bob, logged in to the fake server, and its connection there. */
async function loggedIn(t: Awaited<ReturnType<typeof setup>>) {
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  assert.deepEqual(await conn.next(), loginFrame("bob"));
  await conn.send({ status: "ok" });
  return { client, conn };
}

/** Resolves with the exit code, and how long after `since` it came. */
async function exitAfter(client: PipeClient, since: number): Promise<{ code: number; ms: number }> {
  const code = await client.code;
  return { code, ms: performance.now() - since };
}

test("messages before the login's answer, unknown fields and frames, a second ok: shown or ignored, nothing misread", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  const conn = await t.server.accept();
  assert.deepEqual(await conn.next(), loginFrame("bob"));
  await conn.send(
    // History before the answer, with fields nobody asked for.
    { from: "alice", message: "early", time: "2017-01-12T20:00:00.25+01:00", mood: "keen" },
    { from: "carol", message: "zulu", time: "2017-01-12T19:01:00Z", seq: 3, extra: { a: [1] } },
    { status: "ok", motd: "welcome", features: ["presence"] },
    { status: "ok" }, // Twice: not a second login, not an ack.
    { status: "ok", id: "nobody-1" }, // An ack of nothing we sent.
    { event: "join", nickname: "dave", time: "2017-01-12T20:02:00Z" },
    { type: "ping" },
    "[1,2]\n",
    "not json\n",
    { message: "no sender" },
    { from: "alice", message: "late", time: "2017-01-12T20:03:00-0100" },
  );
  assert(await eventually(() => client.stdout.includes("late")), client.stdout + client.stderr);
  client.type("hi");
  const hi = await conn.next();
  assert.equal(hi.message, "hi");
  const eof = performance.now();
  client.end();
  const { code, ms } = await exitAfter(client, eof);
  assert.equal(code, 0, client.stderr);
  assert(ms < 2000, `left ${Math.round(ms)} ms after end of input: this server never acks`);
  assert.equal(await conn.ended, "close_notify");
  const shown = lines(client.stdout).filter((line) => !line.startsWith("---"));
  assert.deepEqual(shown.map((line) => line.replace(/^\d\d:\d\d/, "HH:MM")), [
    "HH:MM <alice> early",
    "HH:MM <carol> zulu",
    "*** dave joined", // It listed presence: a join event is no unknown frame now.
    "HH:MM <alice> late",
    "HH:MM <bob> hi",
  ]);
  assert.match(client.stdout, /^19:00 <alice> early$/m);
  assert.match(client.stdout, /^21:03 <alice> late$/m);
  assert.deepEqual(lines(client.stderr), [
    `chat: logged in to 127.0.0.1:${t.server.port} as bob`,
    "chat: ignored a frame from the server: frame must be a JSON object",
    "chat: ignored a frame from the server: malformed JSON",
  ]);
});

test("a core server's refusal names no message: said, and the run fails at once, not claiming all got there", async () => {
  await using t = await setup();
  const { client, conn } = await loggedIn(t);
  client.type("one", "two");
  await conn.next();
  await conn.next();
  await conn.send({ status: "error" }); // As a core server refuses: no id, no reason.
  assert(await eventually(() => client.stderr.includes("server: error")), client.stderr);
  const eof = performance.now();
  client.end();
  const { code, ms } = await exitAfter(client, eof);
  assert.equal(code, 1);
  assert(ms < 2000, `left ${Math.round(ms)} ms after end of input`);
  assert.deepEqual(lines(client.stderr).slice(1), [
    "chat: server: error (no reason given)",
    "chat: the server refused 1 time(s) without naming the message (no reason given): " +
    "some messages may not have been stored",
  ]);
});

test("a refusal naming the message but giving no reason: that message is not delivered", async () => {
  await using t = await setup();
  const { client, conn } = await loggedIn(t);
  client.type("one", "two");
  const one = await conn.next();
  const two = await conn.next();
  await conn.send({ status: "error", id: one.id }, { status: "ok", id: two.id });
  client.end();
  assert.equal(await client.code, 1);
  assert.deepEqual(lines(client.stderr).slice(1), [
    'chat: not delivered: "one": refused by the server',
    "chat: 1 message(s) not delivered:",
    "chat:   one",
  ]);
});

test("a server that closes right after the login's answer: the client comes back and delivers", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob"]);
  client.type("hello");
  const first = await t.server.accept();
  await first.next();
  await first.send({ status: "ok" });
  await first.drop();
  const second = await t.server.accept(5000);
  assert.deepEqual(await second.next(), loginFrame("bob"));
  await second.send({ status: "ok" });
  assert.equal((await second.next()).message, "hello");
  const eof = performance.now();
  client.end();
  const { code, ms } = await exitAfter(client, eof);
  assert.equal(code, 0, client.stderr);
  assert(ms < 2000, `left ${Math.round(ms)} ms after end of input`);
  assert.equal(first.received.length, 1, "nothing was written on the connection that closed");
  assert.match(
    client.stderr,
    /connection to 127\.0\.0\.1:\d+ lost \(closed by the server\); reconnecting in 1 s/,
  );
  assert.doesNotMatch(client.stderr, /not delivered|not confirmed|giving up/);
});

test("--json with nothing to send and a server that closes right after the login's answer: exit 0 at once", async () => {
  await using t = await setup();
  const client = t.start(["--nick", "bob", "--json"]);
  client.end();
  const conn = await t.server.accept();
  await conn.next();
  const answered = performance.now();
  await conn.send({ status: "ok" }, {
    from: "alice",
    message: "only",
    time: "2017-01-12T20:00:00Z",
  });
  await conn.drop();
  const { code, ms } = await exitAfter(client, answered);
  assert.equal(code, 0, client.stderr);
  assert(ms < 2000, `left ${Math.round(ms)} ms after the close`);
  assert.deepEqual(lines(client.stdout), [
    '{"status":"ok"}',
    '{"from":"alice","message":"only","time":"2017-01-12T20:00:00Z"}',
  ]);
});
