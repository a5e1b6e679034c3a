// The client's heartbeat: a blank line after HEARTBEAT_MS without sending
// anything, so a server can tell a vanished client (a laptop that changed
// networks, a pulled cable: no FIN ever comes) from a quiet one within about
// a minute, where TCP keepalive at the kernel's defaults takes some twelve
// minutes, and the nickname stays taken all that time (issue 16, item 6).
//
// Every receiver skips blank lines (PROTOCOL.md §1), so a server that does
// not look for heartbeats sees nothing, and a busy client never sends one:
// any write pushes the next beat back. A server that answers a blank line
// with an error anyway (`lastWasBeat` tells the session that an error
// without an id answers a beat) gets no more (`disable`).

import type { TimerHandle, Timers } from "./timers.ts";

/** A blank line goes out after this long without sending anything. */
export const HEARTBEAT_MS = 20_000;

/** What the heartbeat sends: an empty line, skipped by every receiver (PROTOCOL.md §1). */
export const HEARTBEAT_LINE = "\n";

/**
 * Calls `beat` whenever `intervalMs` passed without a write, while started.
 * One timer at a time, re-armed only when it fires, so a write costs no
 * timer churn.
 *
 * @example
 * ```ts
 * import { REAL_TIMERS } from "./timers.ts";
 *
 * const heartbeat = new Heartbeat(REAL_TIMERS, 20_000, () => console.log("beat"));
 * heartbeat.start();
 * heartbeat.wrote(); // the next beat is 20 s from now
 * heartbeat.stop();
 * ```
 */
export class Heartbeat {
  readonly #timers: Timers;
  readonly #intervalMs: number;
  readonly #beat: () => void;
  #lastWrite = 0;
  #timer: TimerHandle | undefined;
  #running = false;
  #lastWasBeat = false;
  #disabled = false;

  constructor(timers: Timers, intervalMs: number, beat: () => void) {
    if (!(intervalMs > 0)) {
      throw new RangeError(`Heartbeat interval must be positive: ${intervalMs}`);
    }
    this.#timers = timers;
    this.#intervalMs = intervalMs;
    this.#beat = beat;
  }

  /** True when the last write was a beat: an error without an id now answers it. */
  get lastWasBeat(): boolean {
    return this.#lastWasBeat;
  }

  /** Starts beating (again), counting from now; never after {@linkcode disable}. */
  start(): void {
    this.stop();
    if (this.#disabled) return;
    this.#running = true;
    this.#lastWrite = this.#timers.now();
    this.#arm(this.#intervalMs);
  }

  /** Something was written: the next beat is due a whole interval from now. */
  wrote(): void {
    this.#lastWrite = this.#timers.now();
    this.#lastWasBeat = false;
  }

  /** No more beats, ever: the server answers them with an error. */
  disable(): void {
    this.#disabled = true;
    this.stop();
  }

  /** No more beats until {@linkcode start}. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      const idle = this.#timers.now() - this.#lastWrite;
      if (idle >= this.#intervalMs) {
        this.#lastWrite = this.#timers.now();
        this.#beat();
        this.#lastWasBeat = true;
        // The beat may have stopped (or restarted) the heartbeat.
        if (this.#running && this.#timer === undefined) this.#arm(this.#intervalMs);
      } else {
        this.#arm(this.#intervalMs - idle);
      }
    }, ms);
  }
}
