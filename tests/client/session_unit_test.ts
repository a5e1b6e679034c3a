// Session behaviour that needs a controlled clock: the backoff schedule,
// the login deadline without a terminal, another nickname on a terminal,
// the pace of sending, the end of input (acks, drain, a server that is
// gone), and recognising own messages in a replay after a reconnect.

import assert from "node:assert/strict";
import { FatalError } from "../../lib/errors.ts";
import { SEND_BURST, SEND_RATE_PER_SECOND, SendPacer } from "../../lib/client/pacer.ts";
import {
  FINISH_DRAIN_MS,
  FINISH_WAIT_MS,
  REPLAY_MAX_WAIT_MS,
  REPLAY_QUIET_MS,
} from "../../lib/client/delivery.ts";
import { BACKOFF_MAX_MS, backoffDelay } from "../../lib/client/backoff.ts";
import {
  LOGIN_NOTICE_MS,
  LOGIN_TIMEOUT_MS,
  Session,
  type SessionEvents,
} from "../../lib/client/session.ts";
import { HEARTBEAT_MS } from "../../lib/client/heartbeat.ts";
import { FakeLink, FakeTimers, startFakeSession, tick } from "./_fake_clock.ts";

function recorder() {
  const notices: string[] = [];
  const events: SessionEvents = {
    message: () => {},
    direct: () => {},
    presence: () => {},
    frame: () => {},
    notice: (text) => notices.push(text),
    status: () => {},
    sent: () => {},
    answer: () => {},
  };
  return { notices, events };
}

/** The login the client sends: it asks for every feature it speaks (§9). */
const loginLine = (nickname: string) =>
  `{"command":"login","nickname":"${nickname}","features":["presence","direct","heartbeat","identity","ops"]}\n`;

Deno.test("reconnect delays start near 1 s, double, stay within 30 s, and are jittered", () => {
  const low = () => 0;
  const high = () => 0.999999;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, high)), [
    1000,
    2000,
    4000,
    8000,
    16000,
    30000,
    30000,
  ]);
  assert.deepEqual([0, 1, 5].map((n) => backoffDelay(n, low)), [500, 1000, 15000]);
  for (let n = 0; n < 100; n++) {
    const delay = backoffDelay(n, Math.random);
    assert(delay >= 500 && delay <= BACKOFF_MAX_MS);
  }
});

Deno.test("without a terminal, a login that is never answered ends with an error, after a notice", async () => {
  const timers = new FakeTimers();
  const { notices, events } = recorder();
  let link: FakeLink | undefined;
  const session = new Session({
    nickname: "bob",
    label: "example:1337",
    interactive: false,
    events,
    timers,
    dial: (sink) => Promise.resolve(link = new FakeLink(sink)),
  });
  const running = session.run();
  await tick();
  assert.deepEqual(link?.written, [loginLine("bob")]);
  timers.advance(LOGIN_NOTICE_MS);
  assert.match(notices.at(-1)!, /still waiting for example:1337 to answer the login/);
  timers.advance(LOGIN_TIMEOUT_MS - LOGIN_NOTICE_MS);
  await assert.rejects(running, FatalError);
  await assert.rejects(running, /did not answer the login within 30 s/);
  assert.equal(link?.ended, true);
});

Deno.test("on a terminal, a refused login asks for another nickname and tries it on the same connection", async () => {
  const timers = new FakeTimers();
  const { notices, events } = recorder();
  const links: FakeLink[] = [];
  const reasons: string[] = [];
  const session = new Session({
    nickname: "bob",
    label: "example:1337",
    interactive: true,
    events,
    timers,
    dial: (sink) => {
      links.push(new FakeLink(sink));
      return Promise.resolve(links.at(-1)!);
    },
    chooseNickname: (reason) => {
      reasons.push(reason);
      return Promise.resolve("bobby");
    },
  });
  const running = session.run();
  await tick();
  links[0].sink.line('{"status":"error"}');
  await tick();
  assert.deepEqual(reasons, ["nickname taken or not allowed"]);
  assert.deepEqual(links[0].written, [
    loginLine("bob"),
    loginLine("bobby"),
  ]);
  links[0].sink.line('{"status":"ok"}');
  assert.equal(session.nickname, "bobby");
  assert.match(notices.join("\n"), /logged in to example:1337 as bobby/);
  // The user never waits for a login on a terminal: no deadline.
  timers.advance(10 * LOGIN_TIMEOUT_MS);
  assert.equal(links.length, 1);
  await session.quit();
  await running;
  assert.equal(links.length, 1);
});

Deno.test("a message typed while offline waits, is counted in the status, and goes out after the replay", async () => {
  const timers = new FakeTimers();
  const { events } = recorder();
  let link: FakeLink | undefined;
  const session = new Session({
    nickname: "bob",
    label: "example:1337",
    interactive: false,
    events,
    timers,
    dial: (sink) => Promise.resolve(link = new FakeLink(sink)),
  });
  const running = session.run();
  assert.deepEqual(session.submit("early"), { ok: true, queued: true });
  assert.equal(session.status.queued, 1);
  assert.deepEqual(session.submit(""), { ok: false, reason: "message must not be empty" });
  assert.equal(session.submit("x".repeat(16 * 1024 + 1)).ok, false);
  await tick();
  link!.sink.line('{"status":"ok"}');
  assert.equal(link!.written.length, 1, "held while the replay may still come");
  timers.advance(1000);
  assert.match(link!.written[1], /^\{"message":"early","id":"[^"]+"\}\n$/);
  assert.equal(session.status.queued, 0);
  await session.quit();
  await running;
});

/** A session without a terminal on fake timers; each dial makes a FakeLink (or fails, once the server is "gone"). */
function startSession() {
  const { notices, events } = recorder();
  return Object.assign(startFakeSession(events), { notices });
}

/** The messages a link carried, parsed. */
function messagesOn(link: FakeLink): { message: string; id: string }[] {
  return link.written.map((line) => JSON.parse(line)).filter((frame) => "message" in frame);
}

/** The server's ack of the message with `text` on `link`. */
function ack(link: FakeLink, text: string, extra: Record<string, unknown> = {}): void {
  const frame = messagesOn(link).findLast((m) => m.message === text);
  assert(frame, `"${text}" was not sent`);
  link.sink.line(JSON.stringify({ status: "ok", id: frame.id, ...extra }));
}

Deno.test("the pacer allows a burst, then its rate, and says how long to wait", () => {
  const pacer = new SendPacer(20, 40, 0);
  let sent = 0;
  while (pacer.take(0)) sent++;
  assert.equal(sent, 40);
  assert.equal(pacer.wait(0), 50);
  assert.equal(pacer.take(49), false);
  assert.equal(pacer.take(50), true);
  pacer.empty(10_000);
  assert.equal(pacer.wait(10_000), 50, "emptied: the next one waits an interval");
  assert.throws(() => new SendPacer(0, 1, 0), RangeError);
});

Deno.test("sends at most a burst at once, then at the sending rate", async () => {
  const t = startSession();
  await tick();
  t.links[0].sink.line('{"status":"ok"}');
  for (let i = 1; i <= 100; i++) assert.equal(t.session.submit(`line ${i}`).ok, true);
  assert.equal(messagesOn(t.links[0]).length, 0, "nothing during the replay");
  t.timers.advance(REPLAY_QUIET_MS);
  assert.equal(messagesOn(t.links[0]).length, SEND_BURST);
  t.timers.advance(1000);
  assert.equal(messagesOn(t.links[0]).length, SEND_BURST + SEND_RATE_PER_SECOND);
  t.timers.advance(2000);
  const sent = messagesOn(t.links[0]);
  assert.deepEqual(
    sent.map((m) => m.message),
    Array.from({ length: 100 }, (_, i) => `line ${i + 1}`),
  );
  await t.session.quit();
  await t.running;
});

Deno.test("at end of input it waits for the acks of the first messages too, then leaves", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  link.sink.line('{"status":"ok"}');
  t.session.submit("a");
  t.session.submit("b");
  t.session.finish();
  t.timers.advance(REPLAY_QUIET_MS);
  assert.equal(messagesOn(link).length, 2);
  t.timers.advance(FINISH_DRAIN_MS / 2);
  ack(link, "a"); // The first ack ever: this server acks, so "b" is waited for too.
  t.timers.advance(FINISH_DRAIN_MS * 2);
  assert.equal(link.ended, false, "still waiting for the ack of b");
  assert.deepEqual(t.session.delivery.notConfirmed, ["b"]);
  assert.deepEqual(t.session.delivery.undelivered, []);
  ack(link, "b");
  await t.running;
  assert.equal(link.ended, true);
  assert.deepEqual(t.session.delivery.notConfirmed, []);
});

Deno.test("at end of input, a server that never acks gets a short drain, and what was written counts as delivered", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  link.sink.line('{"status":"ok"}');
  t.session.submit("a");
  t.session.finish();
  t.timers.advance(REPLAY_QUIET_MS);
  t.timers.advance(FINISH_DRAIN_MS - 1);
  assert.equal(link.ended, false);
  t.timers.advance(1);
  await t.running;
  assert.equal(link.ended, true);
  assert.deepEqual(t.session.delivery.undelivered, []);
});

Deno.test("a server that numbers its messages but never acks: end of input drains briefly and nothing is claimed lost", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  link.sink.line('{"status":"ok"}');
  link.sink.line('{"from":"alice","message":"hi","time":"2017-01-12T20:00:00Z","seq":7}');
  t.session.submit("a");
  t.session.finish();
  t.timers.advance(REPLAY_QUIET_MS);
  assert.equal(messagesOn(link).length, 1);
  assert.equal(t.session.status.unconfirmed, 0, "a seq is no promise of acks");
  t.timers.advance(FINISH_DRAIN_MS);
  await t.running;
  assert.equal(link.ended, true, "left after the drain, not after the give-up deadline");
  assert.deepEqual(t.session.delivery.undelivered, []);
  assert.deepEqual(t.session.delivery.notConfirmed, []);
  assert.doesNotMatch(t.notices.join("\n"), /giving up/);
});

Deno.test("at end of input with the server gone, it gives up after the deadline and names what was not confirmed", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  link.sink.line('{"status":"ok"}');
  t.session.submit("first");
  await t.advance(REPLAY_QUIET_MS);
  ack(link, "first");
  t.session.submit("hi");
  assert.equal(messagesOn(link).at(-1)?.message, "hi");
  t.goAway();
  await link.end(); // The server died before acking "hi".
  t.session.finish();
  await t.advance(FINISH_WAIT_MS - 100);
  assert.equal(t.settled, false, "still trying within the deadline");
  await t.advance(200);
  assert.equal(t.settled, true, "gave up at the deadline instead of retrying forever");
  await t.running;
  assert.deepEqual(
    t.session.delivery.notConfirmed,
    ["hi"],
    "written, never acked: it may have arrived",
  );
  assert.deepEqual(t.session.delivery.undelivered, []);
  assert.match(t.notices.join("\n"), /giving up: could not reconnect to example:1337/);
});

Deno.test("after a reconnect, an own message proved older by a skipped seq does not hide a later copy in doubt", async () => {
  const t = startSession();
  await tick();
  const first = t.links[0];
  first.sink.line('{"status":"ok"}');
  first.sink.line('{"from":"alice","message":"hi","time":"2017-01-12T20:00:00Z","seq":1}');
  t.session.submit("ok");
  await t.advance(REPLAY_QUIET_MS);
  ack(first, "ok"); // Stored as seq 2, which we never receive...
  first.sink.line('{"from":"alice","message":"so?","time":"2017-01-12T20:01:00Z","seq":3}');
  t.session.submit("ok"); // ...so the next "ok" is the only one newer than seq 3.
  await t.advance(100);
  const second = messagesOn(first).at(-1)!;
  await first.end(); // Dropped before its ack, but it was stored as seq 4.
  await t.advance(1000);
  const again = t.links[1];
  assert.match(again.written[0], /"since":3/);
  again.sink.line('{"status":"ok"}');
  again.sink.line('{"from":"bob","message":"ok","time":"2017-01-12T20:02:00Z","seq":4}');
  await t.advance(REPLAY_MAX_WAIT_MS);
  assert.deepEqual(messagesOn(again), [], "not resent: the replay showed it");
  assert.match(t.notices.join("\n"), /delivered: "ok"/);
  assert.deepEqual(t.session.status.queued, 0);
  assert.notEqual(second.id, undefined);
  await t.session.quit();
  await t.running;
});

Deno.test("after a reconnect, a replayed copy of a confirmed message does not count as a later one in doubt", async () => {
  const t = startSession();
  await tick();
  const first = t.links[0];
  first.sink.line('{"status":"ok"}');
  t.session.submit("ok");
  await t.advance(REPLAY_QUIET_MS);
  ack(first, "ok"); // Stored as seq 1.
  t.session.submit("ok");
  await t.advance(100);
  const inDoubt = messagesOn(first).at(-1)!;
  await first.end(); // Dropped before the second "ok" reached the server.
  await t.advance(1000);
  const again = t.links[1];
  again.sink.line('{"status":"ok"}');
  again.sink.line('{"from":"bob","message":"ok","time":"2017-01-12T20:02:00Z","seq":1}');
  await t.advance(REPLAY_MAX_WAIT_MS);
  assert.deepEqual(messagesOn(again), [{ message: "ok", id: inDoubt.id }], "resent");
  await t.session.quit();
  await t.running;
});

Deno.test("at end of input with a login never answered, the run fails with one reason instead of leaving quietly", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  assert.deepEqual(link.written, [loginLine("bob")]);
  const failed = assert.rejects(
    t.running,
    (error) =>
      error instanceof FatalError &&
      error.message === "example:1337 did not answer the login within 10 s",
  );
  t.session.finish(); // `--json < /dev/null`: nothing to send, only the history to print.
  await t.advance(FINISH_WAIT_MS + 100);
  await failed;
  assert.equal(link.ended, true, "closed politely all the same");
  assert.doesNotMatch(t.notices.join("\n"), /giving up/, "the error is the one line");
});

Deno.test("a blank line goes out after 20 s without sending, and not while messages flow or before the login", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  t.timers.advance(LOGIN_TIMEOUT_MS - 1000); // Longer than the heartbeat, shorter than the login deadline.
  assert.deepEqual(link.written.filter((line) => line === "\n"), [], "not before the login");
  link.sink.line('{"status":"ok"}');
  t.timers.advance(HEARTBEAT_MS - 1);
  assert.equal(link.written.at(-1), loginLine("bob"));
  t.timers.advance(1);
  assert.equal(link.written.at(-1), "\n", "20 s after the login");
  t.timers.advance(HEARTBEAT_MS);
  assert.deepEqual(link.written.slice(-2), ["\n", "\n"], "and every 20 s while idle");
  // Chatting every 15 s: no heartbeat at all.
  const before = link.written.length;
  for (let i = 0; i < 6; i++) {
    t.timers.advance(15_000);
    t.session.submit(`line ${i}`);
  }
  const flowing = link.written.slice(before);
  assert.equal(flowing.length, 6);
  assert(flowing.every((line) => line !== "\n"), flowing.join(""));
  t.timers.advance(HEARTBEAT_MS);
  assert.equal(link.written.at(-1), "\n", "idle again: the heartbeat resumes");
  await link.end();
  const count = link.written.length;
  t.timers.advance(HEARTBEAT_MS * 3);
  assert.equal(link.written.length, count, "none once the connection is gone");
  await t.session.quit();
  await t.running;
});

Deno.test("a server that answers the heartbeat with an error gets no more heartbeats, and no message is blamed", async () => {
  const t = startSession();
  await tick();
  const link = t.links[0];
  link.sink.line('{"status":"ok"}');
  t.timers.advance(HEARTBEAT_MS);
  assert.equal(link.written.at(-1), "\n");
  link.sink.line('{"status":"error","reason":"malformed JSON"}'); // It does not skip blank lines.
  assert.match(
    t.notices.at(-1)!,
    /answers a blank line with an error \(malformed JSON\): no more heartbeats/,
  );
  t.timers.advance(HEARTBEAT_MS * 5);
  assert.equal(link.written.filter((line) => line === "\n").length, 1);
  assert.equal(t.session.delivery.unnamedRefusals.count, 0);
  t.session.submit("hello");
  t.timers.advance(REPLAY_QUIET_MS);
  link.sink.line('{"status":"error","reason":"too long for me"}'); // After a message: about it.
  assert.deepEqual(t.session.delivery.unnamedRefusals, { count: 1, reason: "too long for me" });
  await t.session.quit();
  await t.running;
});
