// Session behaviour that needs a controlled clock: the backoff schedule,
// the login deadline without a terminal, another nickname on a terminal.

import assert from "node:assert/strict";
import type { Link, LinkSink } from "../../lib/client/connect.ts";
import {
  BACKOFF_MAX_MS,
  backoffDelay,
  ClientError,
  LOGIN_NOTICE_MS,
  LOGIN_TIMEOUT_MS,
  Session,
  type SessionEvents,
  type TimerHandle,
  type Timers,
} from "../../lib/client/session.ts";

/** Timers that fire only when the test advances the clock. */
class FakeTimers implements Timers {
  time = 0;
  #next = 1;
  #pending = new Map<number, { at: number; run: () => void }>();

  now(): number {
    return this.time;
  }
  setTimeout(run: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.#pending.set(id, { at: this.time + ms, run });
    return id as unknown as TimerHandle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.#pending.delete(handle as unknown as number);
  }
  /** Moves the clock forward, running what falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    while (true) {
      const due = [...this.#pending].filter(([, t]) => t.at <= end).sort((a, b) =>
        a[1].at - b[1].at
      );
      if (due.length === 0) break;
      const [id, timer] = due[0];
      this.#pending.delete(id);
      this.time = timer.at;
      timer.run();
    }
    this.time = end;
  }
}

/** A link that records what the session writes and lets the test play the server. */
class FakeLink implements Link {
  written: string[] = [];
  ended = false;
  constructor(readonly sink: LinkSink) {}
  write(text: string): void {
    this.written.push(text);
  }
  end(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      this.sink.closed();
    }
    return Promise.resolve();
  }
}

function recorder() {
  const notices: string[] = [];
  const events: SessionEvents = {
    message: () => {},
    frame: () => {},
    notice: (text) => notices.push(text),
    status: () => {},
    sent: () => {},
  };
  return { notices, events };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

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
  assert.deepEqual(link?.written, ['{"command":"login","nickname":"bob"}\n']);
  timers.advance(LOGIN_NOTICE_MS);
  assert.match(notices.at(-1)!, /still waiting for example:1337 to answer the login/);
  timers.advance(LOGIN_TIMEOUT_MS - LOGIN_NOTICE_MS);
  await assert.rejects(running, ClientError);
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
    '{"command":"login","nickname":"bob"}\n',
    '{"command":"login","nickname":"bobby"}\n',
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
