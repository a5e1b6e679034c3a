// A controlled clock and a recording link, for the session's tests that
// need time to move only when the test says so (tests/client/
// session_unit_test.ts, session_rooms_test.ts, presence_lines_test.ts), and
// a session run on them.

import type { Link, LinkSink } from "../../lib/client/connect.ts";
import { Unavailable } from "../../lib/errors.ts";
import { Session, type SessionEvents } from "../../lib/client/session.ts";
import type { TimerHandle, Timers } from "../../lib/client/timers.ts";

/** Lets promises (dials, sleeps) settle. */
export const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Timers that fire only when the test advances the clock. */
export class FakeTimers implements Timers {
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
export class FakeLink implements Link {
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

/**
 * A session as "bob" without a terminal, on fake timers, whose every dial
 * gives a new {@linkcode FakeLink} (until `goAway`), already running.
 */
export function startFakeSession(events: SessionEvents) {
  const timers = new FakeTimers();
  const links: FakeLink[] = [];
  let gone = false;
  const session = new Session({
    nickname: "bob",
    label: "example:1337",
    interactive: false,
    events,
    timers,
    random: () => 0.5,
    dial: (sink) => {
      if (gone) return Promise.reject(new Unavailable("connection refused"));
      links.push(new FakeLink(sink));
      return Promise.resolve(links.at(-1)!);
    },
  });
  let settled = false;
  const running = session.run().finally(() => settled = true);
  return {
    timers,
    links,
    session,
    running,
    get settled() {
      return settled;
    },
    /** The server stops accepting connections. */
    goAway: () => void (gone = true),
    /** Advances the clock in small steps, letting promises (dials, sleeps) settle in between. */
    async advance(ms: number) {
      for (let done = 0; done < ms; done += 50) {
        timers.advance(Math.min(50, ms - done));
        await tick();
      }
    },
  };
}
