// Noticing a Redis that hangs. A Redis that is stopped (SIGSTOP), or whose
// host died, keeps its TCP connections open and simply never answers: no
// error ever comes. So every command the link waits on has a deadline, and
// the command connection is pinged now and then; a missed deadline counts
// as Redis being down, and the link replaces its connections.

import { withDeadline } from "../../deadline.ts";
import type { RedisClient } from "./client.ts";

/** How long Redis may take to answer before it counts as down (it hangs, or its host died). */
export const HANG_MS = 3_000;
/** How often Redis is pinged to notice that. */
const HEALTH_MS = 1_000;

/**
 * Waits for `answer`, due `dueMs` from now (a blocking read's block time,
 * or 0); when none comes `HANG_MS` after that, calls `onHang` and rejects.
 */
export async function answerWithin<T>(
  answer: Promise<T>,
  dueMs: number,
  onHang: () => void,
): Promise<T> {
  const answered = await withDeadline(answer.then(() => true), dueMs + HANG_MS);
  if (answered === undefined) {
    answer.catch(() => {}); // It fails once the link drops the connection.
    onHang();
    throw new Error("Redis did not answer");
  }
  return await answer;
}

/** Options of {@linkcode HealthWatchdog}. */
export interface WatchdogOptions {
  /** The connection commands go over now (the link replaces it after a hang). */
  client: () => RedisClient;
  /** False while Redis is known to be down, or the link is closed: nothing to watch then. */
  active: () => boolean;
  /** Redis did not answer a PING within HANG_MS. */
  hung: (why: string) => void;
}

/** Pings Redis every HEALTH_MS, and reports a PING left unanswered for HANG_MS. */
export class HealthWatchdog {
  readonly #options: WatchdogOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #pinging = false;

  constructor(options: WatchdogOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer = setInterval(() => this.#check(), HEALTH_MS);
  }

  /** Stops pinging; a PING in flight ends with its connection. */
  stop(): void {
    clearInterval(this.#timer);
  }

  #check(): void {
    if (!this.#options.active() || this.#pinging) return;
    this.#pinging = true;
    const client = this.#options.client();
    const ping = client.ping().then(() => true, () => true);
    withDeadline(ping, HANG_MS).then((answered) => {
      this.#pinging = false;
      // A connection replaced meanwhile has been dealt with already.
      if (answered === undefined && client === this.#options.client()) {
        this.#options.hung("no answer to PING");
      }
    });
  }
}
