// Two ways a connection's reading side can stall for good, with one timer:
//
// - An unfinished line. A peer that sends part of a line and nothing more
//   for minutes holds a buffer (up to --max-line-bytes) and a connection
//   slot for as long as it likes; after `partialLineMs` from the line's
//   first byte it is cut. Later bytes of the same line do not restart the
//   clock, or one byte a second would keep a 64 KiB line open for 18 hours.
// - A vanished peer that heartbeats. TCP keepalive (server.ts) notices a
//   peer gone without a word only after ~12 minutes (the kernel's 9 probes
//   75 s apart; Deno sets only the idle time), and until then its nickname
//   stays taken. Our client asks for the feature `heartbeat` at login
//   (PROTOCOL.md §9: other peers ignore the name) and then sends a blank
//   line after 20 s without sending anything (§1: every receiver skips
//   blank lines). A peer that asked for it and then sends nothing at all
//   for `heartbeatGraceMs` is gone: it is cut and its nickname is free.
//   Nobody else is ever cut for silence: not a core client, and not a
//   person typing into openssl s_client who presses Enter on an empty line
//   (a blank line alone once counted as asking, and cut such a person
//   after a minute without typing).

/** Why a watched connection is cut. */
export type Stalled = "unfinished line" | "no heartbeat";

/** Options of {@linkcode PeerWatch}. */
export interface PeerWatchOptions {
  /** How long a line may stay unfinished; 0 for no limit. */
  partialLineMs: number;
  /** How long a heartbeating peer may send nothing; 0 for no limit. */
  heartbeatGraceMs: number;
  /** A monotonic clock in milliseconds. */
  now: () => number;
  /** Called once when the connection has stalled; the watch is stopped by then. */
  stalled: (why: Stalled) => void;
}

/**
 * Watches one connection's reading side; see the top of this file. Call
 * {@linkcode arrived} as a read comes in, {@linkcode handled} after it,
 * {@linkcode heartbeat} once the peer asked to be watched for silence,
 * {@linkcode stop} at the end.
 *
 * @example
 * ```ts
 * const watch = new PeerWatch({
 *   partialLineMs: 300_000, heartbeatGraceMs: 60_000, now: () => performance.now(),
 *   stalled: (why) => console.log("cut:", why),
 * });
 * watch.arrived(); // a read came in: '{"message":"hel'
 * watch.handled(15); // 15 bytes of an unfinished line are held
 * watch.heartbeat(); // it logged in asking for "heartbeat": cut after 60 s of silence
 * watch.stop();
 * ```
 */
export class PeerWatch {
  readonly #options: PeerWatchOptions;
  /** When the last read came in. */
  #lastRead: number;
  /** When the unfinished line held now began; undefined when none is held. */
  #lineSince: number | undefined;
  #heartbeating = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires. */
  #timerAt = Infinity;
  #stopped = false;

  constructor(options: PeerWatchOptions) {
    this.#options = options;
    this.#lastRead = options.now();
  }

  /** True once the peer asked for heartbeats: it is cut if it falls silent. */
  get heartbeating(): boolean {
    return this.#heartbeating;
  }

  /** A read came in. */
  arrived(): void {
    this.#lastRead = this.#options.now();
  }

  /**
   * The peer asked for the `heartbeat` feature at login: from now on it is
   * cut once it sends nothing for `heartbeatGraceMs` (unless that is 0).
   */
  heartbeat(): void {
    if (this.#heartbeating || this.#options.heartbeatGraceMs <= 0) return;
    this.#heartbeating = true;
    this.#arm();
  }

  /** A read was handled; `buffered` bytes of an unfinished line are held now. */
  handled(buffered: number): void {
    if (buffered === 0) {
      this.#lineSince = undefined;
    } else if (this.#lineSince === undefined && this.#options.partialLineMs > 0) {
      this.#lineSince = this.#lastRead;
      this.#arm();
    }
  }

  /** Stops watching (the connection is ending). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The next moment something may have stalled; Infinity when nothing is watched. */
  #deadline(): number {
    const { partialLineMs, heartbeatGraceMs } = this.#options;
    const line = this.#lineSince === undefined ? Infinity : this.#lineSince + partialLineMs;
    const quiet = this.#heartbeating ? this.#lastRead + heartbeatGraceMs : Infinity;
    return Math.min(line, quiet);
  }

  /** Makes sure the timer fires by the next deadline (it is not moved for every read). */
  #arm(): void {
    const at = this.#deadline();
    if (this.#stopped || at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#check(), Math.max(at - this.#options.now(), 0));
  }

  #check(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#options.now();
    const { partialLineMs, heartbeatGraceMs } = this.#options;
    let why: Stalled | undefined;
    if (this.#lineSince !== undefined && now - this.#lineSince >= partialLineMs) {
      why = "unfinished line";
    } else if (this.#heartbeating && now - this.#lastRead >= heartbeatGraceMs) {
      why = "no heartbeat";
    }
    if (why === undefined) {
      this.#arm();
      return;
    }
    this.stop();
    this.#options.stalled(why);
  }
}
