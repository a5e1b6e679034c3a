// The local copy of the shared roster (PROTOCOL.md §10 across servers):
// who is logged in on every server, read from Redis whole at start
// (`chat:presence` and the number of its newest change, in one script),
// then followed change by change (XREAD BLOCK on `chat:presence:events`).
// Each change goes to the hub's roster (presence.ts) in the one order every
// server sees, so a member's `who` and the events after it agree on every
// server. A claim's own join comes back this way too: a login is answered
// only once its join is here (caughtUp).
//
// When the stream cannot be followed without a gap (Redis was out of reach,
// the follower fell further behind than the stream keeps, Redis lost its
// data), the roster is read whole again and the difference goes to the hub
// as events: those gone leave (`lost`), those new join. A Redis that lost
// its data without dropping the connection (FLUSHALL) counts anew from 1,
// below what the follower has read: its counter is checked after every read
// that waited in vain, and every COUNTER_CHECK_READS reads.

import { pause } from "../../deadline.ts";
import { errorReason, Unavailable } from "../../errors.ts";
import type { LeaveReason } from "../../protocol.ts";
import type { Place, Present } from "../presence.ts";
import { integerReply } from "./client.ts";
import {
  parseRosterValue,
  PRESENCE_EVENTS_KEY,
  PRESENCE_SEQ_KEY,
  ROSTER_SCRIPT,
  runScript,
} from "./scripts.ts";
import type { LinkReading } from "./follower.ts";
import { answerWithin } from "./watchdog.ts";

/** Roster changes read per XREAD. */
const PAGE = 1000;
/** How long one XREAD blocks before it is issued again. */
const BLOCK_MS = 5_000;
/** Reads with changes between two checks that the counter has not gone back. */
const COUNTER_CHECK_READS = 100;
/** The first pause after a failure; it doubles up to MAX_BACKOFF_MS. */
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2_000;
const REASONS: readonly string[] = ["quit", "lost", "kicked", "banned"];

/** What the roster tells the hub. */
export interface RosterEvents {
  joined(key: string, present: Present, time: string): void;
  left(key: string, place: Place, reason: LeaveReason, time: string): void;
}

/** Options of {@linkcode RosterFollower}. */
export interface RosterOptions extends LinkReading {
  /** The wall clock as a wire time, for the events of a difference. */
  time: () => string;
}

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** An entry of the presence stream, as the `redis` package gives it. */
interface StreamEntry {
  id: string;
  message: Record<string, string>;
}

/** Follows the shared roster into the hub's; see the top of this file. */
export class RosterFollower {
  readonly #options: RosterOptions;
  /** The roster as read: nickname key → its value in `chat:presence`. */
  readonly #roster = new Map<string, string>();
  /** The number of the newest change applied. */
  #last = 0;
  #events: RosterEvents | undefined;
  #waiters: Waiter[] = [];
  /** Set after a lost connection or a gap: read the roster whole, then follow again. */
  #resync = false;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(options: RosterOptions) {
    this.#options = options;
  }

  /** Reads the whole roster (at startup, before following). */
  async load(): Promise<void> {
    await this.#read();
  }

  /** Sends changes to `events` from now on, starting with everyone in the roster now. */
  listen(events: RosterEvents): void {
    this.#events = events;
    const time = this.#options.time();
    for (const [key, value] of this.#roster) this.#join(key, value, time);
  }

  /** Follows the stream until the link closes. */
  start(): void {
    this.#running = this.#follow();
  }

  /** Redis may have lost or skipped something: read the roster whole before following on. */
  resync(): void {
    this.#resync = true;
  }

  /** Resolves once change `n` is applied; rejects after `timeoutMs`, or on close. */
  caughtUp(n: number, timeoutMs: number): Promise<void> {
    if (this.#last >= n) return Promise.resolve();
    if (this.#options.closed()) return Promise.reject(new Unavailable("closed"));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        n,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((other) => other !== waiter);
          reject(new Unavailable("the roster did not catch up"));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Ends following, once the link is closed and the follower's connection destroyed. */
  async stop(): Promise<void> {
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Unavailable("closed"));
    }
    this.#waiters = [];
    this.#wake?.();
    await this.#running;
  }

  async #follow(): Promise<void> {
    const { closed } = this.#options;
    const hang = () => this.#options.hung("the roster follower got no answer");
    let backoff = MIN_BACKOFF_MS;
    let reads = 0;
    while (!closed()) {
      try {
        if (this.#resync) {
          this.#resync = false;
          await answerWithin(this.#read(), 0, hang);
        }
        const reply = await answerWithin(
          this.#options.client().xRead(
            { key: PRESENCE_EVENTS_KEY, id: `${this.#last}-0` },
            { COUNT: PAGE, BLOCK: BLOCK_MS },
          ),
          BLOCK_MS,
          hang,
        );
        if (!this.#options.up()) this.#options.ready();
        const entries: StreamEntry[] = reply?.[0]?.messages ?? [];
        this.#apply(entries);
        if (entries.length === 0 || ++reads % COUNTER_CHECK_READS === 0) {
          const counter = await answerWithin(this.#options.client().get(PRESENCE_SEQ_KEY), 0, hang);
          if ((integerReply(counter) ?? 0) < this.#last) this.#resync = true;
        }
        backoff = MIN_BACKOFF_MS;
      } catch (error) {
        if (closed()) return;
        this.#options.down(errorReason(error));
        this.#resync = true;
        const wait = pause(backoff);
        this.#wake = wait.wake;
        await wait.done;
        this.#wake = undefined;
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /**
   * Reads the roster whole with the number of its newest change, and tells
   * the hub the difference from what it holds.
   */
  async #read(): Promise<void> {
    const reply = await runScript(this.#options.client(), ROSTER_SCRIPT, [], []);
    const [counter, flat] = Array.isArray(reply) ? reply : [];
    const now = new Map<string, string>();
    if (Array.isArray(flat)) {
      for (let i = 0; i + 1 < flat.length; i += 2) {
        if (typeof flat[i] === "string" && typeof flat[i + 1] === "string") {
          now.set(flat[i], flat[i + 1]);
        }
      }
    }
    const time = this.#options.time();
    for (const [key, value] of this.#roster) {
      if (now.get(key) !== value) this.#leave(key, value, "lost", time);
    }
    for (const [key, value] of now) {
      if (this.#roster.get(key) !== value) this.#join(key, value, time);
    }
    this.#last = integerReply(counter) ?? 0;
    this.#settle();
  }

  /** Applies changes in order; a gap before them means reading the roster whole. */
  #apply(entries: StreamEntry[]): void {
    for (const entry of entries) {
      const n = Number.parseInt(entry.id, 10);
      if (n <= this.#last) continue;
      if (n > this.#last + 1) {
        // Trimmed before it was read, or counted anew: the whole roster says what was missed.
        this.#resync = true;
        break;
      }
      this.#last = n;
      const { kind, key, value, owner, reason, time } = entry.message;
      if (typeof key !== "string") continue;
      const at = typeof time === "string" ? time : this.#options.time();
      if (kind === "join" && typeof value === "string") {
        this.#join(key, value, at);
      } else if (kind === "leave" && typeof owner === "string") {
        const held = this.#roster.get(key);
        // A leave for someone who is not (or no longer) the one held under that key.
        if (held === undefined || !held.startsWith(`${owner} `)) continue;
        this.#leave(key, held, REASONS.includes(reason) ? reason as LeaveReason : "lost", at);
      }
    }
    this.#settle();
  }

  #join(key: string, value: string, time: string): void {
    const present = parseRosterValue(value);
    if (present === undefined) return; // Not one of ours: nobody to show.
    this.#roster.set(key, value);
    this.#events?.joined(key, present, time);
  }

  #leave(key: string, value: string, reason: LeaveReason, time: string): void {
    this.#roster.delete(key);
    const place = parseRosterValue(value);
    if (place !== undefined) this.#events?.left(key, place, reason, time);
  }

  #settle(): void {
    if (this.#waiters.length === 0) return;
    const ready = this.#waiters.filter((waiter) => waiter.n <= this.#last);
    this.#waiters = this.#waiters.filter((waiter) => waiter.n > this.#last);
    for (const waiter of ready) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
  }
}
