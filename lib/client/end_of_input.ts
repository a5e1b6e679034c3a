// End of input (pipes, `--json`): send everything, wait for the acks (or,
// with a server that has never acked, a short drain), then leave; give up
// when nothing moves for FINISH_WAIT_MS, e.g. because the server is gone.
//
// These are the two timers of it. The sending side (delivery.ts) says when
// something moved (a message went out or was confirmed) and when to look
// again; what the next step is comes from the outgoing queue
// (`finishStep`), which has no clock.

import type { LinkState, OutgoingQueue } from "./outgoing_queue.ts";
import type { TimerHandle, Timers } from "./timers.ts";

/** After end of input, give up when for this long no message went out or was confirmed. */
export const FINISH_WAIT_MS = 10_000;
/** After end of input, a server that has not acked yet gets this long to show that it acks. */
export const FINISH_DRAIN_MS = 1000;

/** Where the session was when end of input gave up, for {@linkcode stallReport}. */
export interface StallState {
  /** The server as the user knows it (`host:port`). */
  label: string;
  everLoggedIn: boolean;
  loggedIn: boolean;
  awaitingLogin: boolean;
  /** How long the current login has waited for its answer. */
  loginWaitedMs: number;
}

/**
 * What to say when end of input gives up, and whether the run fails: one
 * that never logged in does, since a script must not take a server that
 * never answered for an empty chat.
 *
 * @example
 * ```ts
 * stallReport({
 *   label: "localhost:1337",
 *   everLoggedIn: true,
 *   loggedIn: true,
 *   awaitingLogin: false,
 *   loginWaitedMs: 0,
 * }); // { fatal: false, text: "giving up: localhost:1337 confirmed nothing for 10 s" }
 * ```
 */
export function stallReport(state: StallState): { fatal: boolean; text: string } {
  const seconds = `${FINISH_WAIT_MS / 1000} s`;
  const label = state.label;
  if (!state.everLoggedIn) {
    const waited = Math.ceil(state.loginWaitedMs / 1000);
    return {
      fatal: true,
      text: state.awaitingLogin
        ? `${label} did not answer the login within ${waited} s`
        : `could not connect to ${label} within ${seconds}`,
    };
  }
  return {
    fatal: false,
    text: state.loggedIn
      ? `giving up: ${label} confirmed nothing for ${seconds}`
      : state.awaitingLogin
      ? `giving up: ${label} did not answer the login for ${seconds}`
      : `giving up: could not reconnect to ${label} within ${seconds}`,
  };
}

/** What an {@linkcode EndOfInput} tells its session. */
export interface EndOfInputHost {
  readonly timers: Timers;
  /** End of input is done: everything got there, or nothing is left to wait for. */
  leave(): void;
  /** End of input: nothing moved for FINISH_WAIT_MS. */
  stalled(): void;
}

/**
 * The end-of-input timers of one session.
 *
 * @example
 * ```ts
 * import { OutgoingQueue } from "./outgoing_queue.ts";
 * import { REAL_TIMERS } from "./timers.ts";
 *
 * const host = { timers: REAL_TIMERS, leave: () => console.log("leaving"), stalled: () => {} };
 * const link = () => ({ loggedIn: true, everLoggedIn: true, holding: false });
 * const end = new EndOfInput(host, new OutgoingQueue(Math.random, 0), link);
 * end.begin(); // "leaving": nothing was waiting
 * end.stop();
 * ```
 */
export class EndOfInput {
  readonly #host: EndOfInputHost;
  readonly #queue: OutgoingQueue;
  readonly #link: () => LinkState;
  #finishing = false;
  #stopped = false;
  #drainTimer: TimerHandle | undefined;
  #stallTimer: TimerHandle | undefined;

  /** `queue` decides the next step, given where the connection is (`link`). */
  constructor(host: EndOfInputHost, queue: OutgoingQueue, link: () => LinkState) {
    this.#host = host;
    this.#queue = queue;
    this.#link = link;
  }

  /** True after end of input ({@linkcode begin}). */
  get finishing(): boolean {
    return this.#finishing;
  }

  /** Input ended: from now on, leave as soon as the queue allows. */
  begin(): void {
    if (this.#finishing) return;
    this.#finishing = true;
    this.progress();
    this.check();
  }

  /** Something moved: the FINISH_WAIT_MS deadline starts again. */
  progress(): void {
    if (!this.#finishing || this.#stopped) return;
    this.#clearStall();
    this.#stallTimer = this.#host.timers.setTimeout(() => {
      this.#stallTimer = undefined;
      this.#host.stalled();
    }, FINISH_WAIT_MS);
  }

  /** Leaves now if the queue and the connection allow, or starts the drain. */
  check(): void {
    if (!this.#finishing || this.#stopped) return;
    const step = this.#queue.finishStep(this.#link());
    if (step === "leave") {
      this.#host.leave();
    } else if (step === "drain") {
      this.#drainTimer ??= this.#host.timers.setTimeout(() => {
        this.#drainTimer = undefined;
        if (!this.#queue.serverAcks) this.#host.leave();
      }, FINISH_DRAIN_MS);
    }
  }

  /** The connection is gone: its drain ends with it (the deadline outlives it). */
  connectionGone(): void {
    if (this.#drainTimer !== undefined) this.#host.timers.clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
  }

  /** The session ends: no more timers. */
  stop(): void {
    this.#stopped = true;
    this.connectionGone();
    this.#clearStall();
  }

  #clearStall(): void {
    if (this.#stallTimer !== undefined) this.#host.timers.clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }
}
