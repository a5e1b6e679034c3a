// How many outbox writes may start in one turn of the event loop.
//
// A message to 999 receivers wakes 999 outboxes in one microtask checkpoint.
// Written all at once, that is 999 TLS encryptions before the event loop
// reads a socket or fires a timer again, and in a burst every receiver's
// whole backlog is encrypted and queued natively in that one turn: issue 15
// measured 185 MiB of node:tls write buffers at N=1000, and stretches of up
// to 127 ms of the server's own run time without a return to the loop. With
// at most TURN_WRITES writes started per turn, the rest wait for a later
// turn (setImmediate, about 11 µs a hop; setTimeout(0) is clamped to ms), the
// kernel sends what was encrypted in between, and the peak at N=1000 was
// 104–109 MiB.
//
// Waiting is fair: writes are granted in the order asked, so nobody asks
// twice before everyone waiting has written once, and the outboxes that asked
// in one turn (one fan-out wakes them in the hub's fixed member order) join
// the queue rotated by a stride that changes every turn, so the same
// receivers are not always the last to get a message.

import { setImmediate } from "node:timers";

/** Writes started per event-loop turn by the process-wide budget (issue 15, phase B2). */
export const TURN_WRITES = 16;

/**
 * The fraction of a turn's late arrivals that the next rotation moves ahead
 * by: the golden ratio's, which spreads successive offsets evenly over any
 * number of waiters.
 */
const ROTATION_STRIDE = 0.6180339887498949;

/** Schedules a function after the current turn's I/O (setImmediate). */
export type Scheduler = (next: () => void) => void;

/**
 * Grants the right to start one write, at most `maxWrites` per turn, in
 * order and fairly (see the header).
 *
 * @example
 * ```ts
 * const budget = new TurnBudget(16);
 * async function writeSome(write: () => void): Promise<void> {
 *   const later = budget.take();
 *   if (later !== undefined) await later;
 *   write();
 * }
 * ```
 */
export class TurnBudget {
  readonly #maxWrites: number;
  readonly #schedule: Scheduler;
  /** Writes granted in this turn. */
  #writes = 0;
  /** Waiters from earlier turns, granted from #head on. */
  #queue: (() => void)[] = [];
  #head = 0;
  /** Waiters that asked in this turn after the budget ran out. */
  #arrivals: (() => void)[] = [];
  #turns = 0;
  #armed = false;

  /**
   * @param maxWrites Writes granted per turn (at least 1).
   * @param schedule How the next turn is reached; tests may step turns by hand.
   */
  constructor(maxWrites: number, schedule: Scheduler = setImmediate) {
    this.#maxWrites = Math.max(1, Math.floor(maxWrites));
    this.#schedule = schedule;
  }

  /** Writers waiting for a later turn. */
  get waiting(): number {
    return this.#queue.length - this.#head + this.#arrivals.length;
  }

  /**
   * Asks to start one write: undefined when it may start now (it is
   * counted), else a promise that resolves in the turn that grants it.
   */
  take(): Promise<void> | undefined {
    this.#arm();
    if (this.waiting === 0 && this.#writes < this.#maxWrites) {
      this.#writes++;
      return undefined;
    }
    return new Promise((resolve) => this.#arrivals.push(resolve));
  }

  #arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    this.#schedule(() => this.#turn());
  }

  /** A new turn: last turn's late arrivals join the queue, rotated; the head is granted. */
  #turn(): void {
    this.#armed = false;
    this.#writes = 0;
    const arrivals = this.#arrivals;
    if (arrivals.length > 0) {
      this.#arrivals = [];
      const stride = (this.#turns++ * ROTATION_STRIDE) % 1;
      const offset = Math.floor(stride * arrivals.length);
      for (let i = offset; i < arrivals.length; i++) this.#queue.push(arrivals[i]);
      for (let i = 0; i < offset; i++) this.#queue.push(arrivals[i]);
    }
    const granted: (() => void)[] = [];
    while (this.#head < this.#queue.length && this.#writes < this.#maxWrites) {
      granted.push(this.#queue[this.#head++]);
      this.#writes++;
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    // Armed again even when nobody waits: the writes granted now must be
    // counted against this turn, not leave the next one unlimited.
    if (granted.length > 0 || this.waiting > 0) this.#arm();
    for (const resolve of granted) resolve();
  }
}

/** The budget every outbox of this process shares unless given its own: one event loop, one budget. */
export const sharedTurnBudget: TurnBudget = new TurnBudget(TURN_WRITES);
