// A controlled clock and a recording link, for the session's tests that
// need time to move only when the test says so (tests/client/
// session_unit_test.ts, session_rooms_test.ts, presence_lines_test.ts).

import type { Link, LinkSink } from "../../lib/client/connect.ts";
import type { TimerHandle, Timers } from "../../lib/client/timers.ts";

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
