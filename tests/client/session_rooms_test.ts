// The session with the extensions of PROTOCOL.md §9–§11, on a fake clock
// and a recording link: what the login asks for, what the server's list
// allows, direct messages through the outgoing queue (ids, acks, errors,
// resends) and never as public text, the `who` after the replay, and a core
// server that never sees a field or command it does not know.

import assert from "node:assert/strict";
import { NO_DIRECT_REASON, REPLAY_QUIET_MS } from "../../lib/client/delivery.ts";
import { NO_PRESENCE_REASON } from "../../lib/client/room.ts";
import type { SessionEvents } from "../../lib/client/session.ts";
import { type FakeLink, startFakeSession, tick } from "./_fake_clock.ts";

function startSession() {
  const seen = {
    notices: [] as string[],
    messages: [] as string[],
    directs: [] as string[],
    presence: [] as string[],
    sent: [] as string[],
  };
  const events: SessionEvents = {
    message: (m) => seen.messages.push(`<${m.from}> ${m.message}`),
    direct: (m) => seen.directs.push(`*${m.from}* ${m.message}`),
    presence: (event, _line, atLogin) =>
      seen.presence.push(
        event.type === "who"
          ? `${atLogin ? "login " : ""}who ${event.nicknames}`
          : `${event.type} ${event.nickname}`,
      ),
    frame: () => {},
    notice: (text) => seen.notices.push(text),
    status: () => {},
    sent: (text, to) => seen.sent.push(to === undefined ? text : `-> ${to}: ${text}`),
    answer: () => {},
  };
  return Object.assign(startFakeSession(events), { seen });
}

/** Every frame a link carried, parsed. */
const frames = (link: FakeLink) => link.written.filter((l) => l !== "\n").map((l) => JSON.parse(l));
/** The messages (public and direct) a link carried. */
const sentOn = (link: FakeLink) => frames(link).filter((f) => "message" in f);
const send = (link: FakeLink, frame: Record<string, unknown>) =>
  link.sink.line(JSON.stringify(frame));
const ROOMS_OK = { status: "ok", features: ["presence", "direct", "identity"] };

/** Nothing of §10–§13 in what the client wrote: only logins and plain messages. */
function assertCoreOnly(link: FakeLink): void {
  for (const frame of frames(link)) {
    const keys = Object.keys(frame).sort().join(",");
    assert(
      ["command,features,nickname", "command,features,nickname,since", "id,message"].includes(
        keys,
      ) &&
        (frame.command === undefined || frame.command === "login"),
      `a core server got ${JSON.stringify(frame)}`,
    );
  }
}

Deno.test("the login asks for presence, direct, heartbeat, identity and ops, on every connection", async () => {
  const t = startSession();
  await tick();
  assert.deepEqual(frames(t.links[0])[0], {
    command: "login",
    nickname: "bob",
    features: ["presence", "direct", "heartbeat", "identity", "ops"],
  });
  await t.session.quit();
  await t.running;
});

Deno.test("a core server (a plain ok): /who and /msg are refused and nothing of §10–§13 is ever written", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  const early = t.session.submit("psst", "alice"); // Before the answer: it waits.
  assert.deepEqual(early, { ok: true, queued: true });
  send(link, { status: "ok" });
  assert(t.seen.notices.includes(`not delivered: -> alice: "psst": ${NO_DIRECT_REASON}`));
  assert.deepEqual(t.session.submit("again", "alice"), { ok: false, reason: NO_DIRECT_REASON });
  assert.deepEqual(t.session.who(), { ok: false, reason: NO_PRESENCE_REASON });
  t.session.submit("public");
  t.timers.advance(REPLAY_QUIET_MS);
  assert.deepEqual(sentOn(link).map((f) => f.message), ["public"]);
  assertCoreOnly(link);
  assert.deepEqual(t.session.delivery.undelivered, ["/msg alice psst"]);
  assert.deepEqual(t.seen.sent, ["public"], "only what went out is echoed");
  await t.session.quit();
  await t.running;
});

Deno.test("a server that lists direct gets it with `to` and an id; its ack confirms, its error is shown and counted", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  send(link, ROOMS_OK);
  send(link, { event: "who", nicknames: ["alice", "bob"] });
  t.session.submit("psst", "alice");
  t.session.submit("hello?", "nobody");
  t.timers.advance(0);
  const [psst, hello] = sentOn(link);
  assert.deepEqual(Object.keys(psst).sort(), ["id", "message", "to"]);
  assert.equal(psst.to, "alice");
  assert.equal(hello.to, "nobody");
  assert.deepEqual(t.seen.sent, ["-> alice: psst", "-> nobody: hello?"]);
  send(link, { status: "ok", id: psst.id });
  send(link, { status: "error", id: hello.id, reason: "nobody by that name" });
  assert(t.seen.notices.includes('not delivered: -> nobody: "hello?": nobody by that name'));
  assert.deepEqual(t.session.delivery.undelivered, ["/msg nobody hello?"]);
  assert.deepEqual(t.session.delivery.notConfirmed, []);
  await t.session.quit();
  await t.running;
});

Deno.test("the who after the replay ends the wait at once: what was typed goes out then, not after the quiet", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  t.session.submit("typed early");
  send(link, ROOMS_OK);
  send(link, { from: "alice", message: "old", time: "2017-01-12T20:00:00Z", seq: 1 });
  t.timers.advance(REPLAY_QUIET_MS - 1);
  assert.deepEqual(sentOn(link), [], "the replay is not over yet");
  send(link, { event: "who", nicknames: ["alice", "bob"] });
  t.timers.advance(0);
  assert.deepEqual(sentOn(link).map((f) => f.message), ["typed early"]);
  assert.deepEqual(t.seen.presence, ["login who alice,bob"]);
  assert.deepEqual(t.seen.messages, ["<alice> old"]);
  await t.session.quit();
  await t.running;
});

Deno.test("a direct message in doubt after a drop is resent as a direct message, never matched against the public replay", async () => {
  const t = startSession();
  await tick();
  let link = t.links[0];
  send(link, ROOMS_OK);
  send(link, { event: "who", nicknames: ["alice", "bob"] });
  t.session.submit("first");
  t.timers.advance(0);
  send(link, { status: "ok", id: sentOn(link)[0].id }); // It acks.
  t.session.submit("ok", "alice");
  t.timers.advance(0);
  const direct = sentOn(link)[1];
  assert.equal(direct.to, "alice");
  await link.end(); // Dropped before the ack: in doubt.
  await t.advance(2000);
  link = t.links[1];
  assert.equal(frames(link)[0].since, undefined);
  send(link, ROOMS_OK);
  // Our public "ok" in the replay must not be taken for the direct one.
  send(link, { from: "bob", message: "ok", time: "2017-01-12T20:00:00Z", seq: 5 });
  send(link, { event: "who", nicknames: ["alice", "bob"] });
  t.timers.advance(0);
  const resent = sentOn(link);
  assert.equal(resent.length, 1);
  assert.deepEqual(resent[0], { message: "ok", to: "alice", id: direct.id });
  assert(t.seen.notices.includes("resending 1 message(s) the server had not confirmed"));
  await t.session.quit();
  await t.running;
});

Deno.test("a direct message in doubt when the server comes back without direct is not delivered, and never sent public", async () => {
  const t = startSession();
  await tick();
  let link = t.links[0];
  send(link, ROOMS_OK);
  t.session.submit("first");
  t.timers.advance(REPLAY_QUIET_MS);
  send(link, { status: "ok", id: sentOn(link)[0].id });
  t.session.submit("secret", "alice");
  t.timers.advance(0);
  await link.end();
  await t.advance(2000);
  link = t.links[1];
  send(link, { status: "ok" }); // A core server now.
  t.timers.advance(REPLAY_QUIET_MS);
  assert.deepEqual(sentOn(link), []);
  assertCoreOnly(link);
  assert(t.seen.notices.includes(`not delivered: -> alice: "secret": ${NO_DIRECT_REASON}`));
  assert.deepEqual(t.session.delivery.undelivered, ["/msg alice secret"]);
  await t.session.quit();
  await t.running;
});

Deno.test("direct frames: shown as direct from a server that lists direct, as public from one that does not", async () => {
  const rooms = startSession();
  await tick();
  send(rooms.links[0], ROOMS_OK);
  send(rooms.links[0], { from: "alice", to: "bob", message: "psst", time: "t" });
  assert.deepEqual(rooms.seen.directs, ["*alice* psst"]);
  assert.deepEqual(rooms.seen.messages, []);
  await rooms.session.quit();
  await rooms.running;

  const core = startSession();
  await tick();
  send(core.links[0], { status: "ok" });
  // A core server that kept a sender's `to` relayed it to everybody: it is public.
  send(core.links[0], { from: "alice", to: "bob", message: "psst", time: "t" });
  assert.deepEqual(core.seen.directs, []);
  assert.deepEqual(core.seen.messages, ["<alice> psst"]);
  await core.session.quit();
  await core.running;
});

Deno.test("/who typed before the login goes out after it; end of input waits for its answer", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  assert.deepEqual(t.session.who(), { ok: true, queued: true });
  t.session.finish();
  send(link, ROOMS_OK);
  assert.deepEqual(frames(link).at(-1), { command: "who" });
  send(link, { event: "who", nicknames: ["alice", "bob"] });
  await t.advance(1000);
  assert.equal(t.settled, false, "the login's who is not the answer");
  send(link, { event: "who", nicknames: ["alice", "bob", "carol"] });
  await t.running;
  assert.deepEqual(t.seen.presence, ["login who alice,bob", "who alice,bob,carol"]);
  assert.equal(link.ended, true);
});

Deno.test("presence events reach the caller in order, and the room follows them", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  send(link, ROOMS_OK);
  send(link, { event: "who", nicknames: ["bob", "alice"] });
  send(link, { event: "join", nickname: "carol", time: "t" });
  send(link, { event: "leave", nickname: "alice", time: "t", reason: "lost" });
  assert.deepEqual(t.seen.presence, ["login who bob,alice", "join carol", "leave alice"]);
  assert.deepEqual(t.session.here.names, ["bob", "carol"]);
  await link.end();
  assert.deepEqual(t.session.here.names, [], "nobody is known while offline");
  await t.session.quit();
  await t.running;
});
