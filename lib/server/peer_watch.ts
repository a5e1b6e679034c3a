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
//   stays taken. Our client sends a blank line after 20 s without sending
//   anything (PROTOCOL.md §1: every receiver skips blank lines). A peer
//   that has sent such a heartbeat, and then sends nothing at all for
//   `heartbeatGraceMs`, is gone: it is cut and its nickname is free. A
//   silent peer that never heartbeats (a core client) is never cut for
//   silence, so a healthy one pays nothing. (A person at openssl s_client
//   who presses Enter on an empty line has sent a heartbeat, and is cut
//   after a minute without typing: the price of the rule.)

/** Why a watched connection is cut. */
export type Stalled = "unfinished line" | "no heartbeat";

/**
 * A blank line counts as a heartbeat when it comes alone (its read holds
 * nothing but white space) after at least this share of the grace without
 * a byte (10 s of the default 60 s): our client's come after 20 s of quiet,
 * while a blank line after a frame (a client that ends its frames with
 * "\n\n") says nothing about liveness.
 */
export const HEARTBEAT_QUIET_SHARE = 1 / 6;

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
 * {@linkcode arrived} as a read comes in, {@linkcode blankLine} for a blank
 * line in it, {@linkcode handled} after it, {@linkcode stop} at the end.
 *
 * @example
 * ```ts
 * const watch = new PeerWatch({
 *   partialLineMs: 300_000, heartbeatGraceMs: 60_000, now: () => performance.now(),
 *   stalled: (why) => console.log("cut:", why),
 * });
 * const read = new TextEncoder().encode('{"message":"hel');
 * watch.arrived();
 * watch.handled(read, 15); // 15 bytes of an unfinished line are held
 * watch.stop();
 * ```
 */
export class PeerWatch {
  readonly #options: PeerWatchOptions;
  /** When the last read came in, and how quiet the peer was before it. */
  #lastRead: number;
  #quietBefore = 0;
  /** When the unfinished line held now began; undefined when none is held. */
  #lineSince: number | undefined;
  #heartbeating = false;
  /** The read being handled held a blank line. */
  #blank = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires. */
  #timerAt = Infinity;
  #stopped = false;

  constructor(options: PeerWatchOptions) {
    this.#options = options;
    this.#lastRead = options.now();
  }

  /** True once the peer has sent a heartbeat: it is cut if it falls silent. */
  get heartbeating(): boolean {
    return this.#heartbeating;
  }

  /** A read came in. */
  arrived(): void {
    const now = this.#options.now();
    this.#quietBefore = now - this.#lastRead;
    this.#lastRead = now;
  }

  /** The read that just arrived held a blank line. */
  blankLine(): void {
    this.#blank = true;
  }

  /** The read `bytes` was handled; `buffered` bytes of an unfinished line are held now. */
  handled(bytes: Uint8Array, buffered: number): void {
    if (this.#blank) {
      this.#blank = false;
      const grace = this.#options.heartbeatGraceMs;
      const quiet = this.#quietBefore >= grace * HEARTBEAT_QUIET_SHARE;
      if (grace > 0 && !this.#heartbeating && quiet && isWhiteSpace(bytes)) {
        this.#heartbeating = true;
        this.#arm();
      }
    }
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

/** True when `bytes` are only ASCII white space (a blank line's). */
function isWhiteSpace(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x0a && b !== 0x0d && b !== 0x20 && b !== 0x09) return false;
  return true;
}
