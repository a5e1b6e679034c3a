// What one benchmark client makes of the bytes it receives: the login
// answer, then tokens (lib/bench/payload.ts) found anywhere in the lines.
//
// This is the generator's hot path, run for every chunk of every client on
// the same cores as the server being measured, so it stays cheap: complete
// lines are decoded in one piece per chunk and searched with indexOf for the
// run's marker, and each token is read in place (no object per delivery);
// nothing is parsed as JSON after the login answer, and lines without the
// marker (replayed history, other people, ncat's announcements) cost one
// search.

import { decodeServerFrame } from "../protocol.ts";
import { markerOf, TokenReader } from "./payload.ts";

/**
 * The longest unfinished line held between chunks. A longer one is dropped
 * as it arrives (and counted in `longLines`), so a hostile or broken server
 * cannot grow the generator's memory.
 */
export const MAX_CARRY_BYTES = 1024 * 1024;

/** What receivers report; one object serves every client of a run. */
export interface ReceiverEvents {
  /** Client `client` got `{"status":"ok"}` to its login. */
  loggedIn(client: number): void;
  /** Client `client` got `{"status":"error"}` (or something else unusable) to its login. */
  refused(client: number, reason: string): void;
  /** Client `client` received message `seq` of `sender`, sent at `sentUs`, at `nowUs`. */
  token(client: number, sender: number, seq: number, sentUs: number, nowUs: number): void;
  /** Client `client` received the barrier token of client `from`. */
  sync(client: number, from: number): void;
}

const LF = 0x0a;
/** The compact form of a status error frame, as JSON.stringify writes it. */
const ERROR_FRAME = '"status":"error"';
/**
 * What is searched for to find {@linkcode ERROR_FRAME}: its first letter is
 * rare in message frames, where the quote that starts ERROR_FRAME is in
 * every field, and that makes the search of a chunk four times cheaper.
 */
const ERROR_PROBE = 'rror"';
const ERROR_PROBE_AT = ERROR_FRAME.indexOf(ERROR_PROBE);
const decoder = new TextDecoder();

/**
 * Scans one client's incoming bytes.
 *
 * @example
 * ```ts
 * declare const events: ReceiverEvents, bytes: Uint8Array, nowUs: number;
 * const receiver = new Receiver(3, "k3j2h1x9", true, events);
 * receiver.push(bytes, nowUs); // calls events.loggedIn(3), then events.token(3, …) per message
 * ```
 */
export class Receiver {
  readonly #client: number;
  readonly #marker: string;
  readonly #events: ReceiverEvents;
  readonly #token = new TokenReader();
  /** True until the login answer arrived (protocol mode only). */
  #awaitingLogin: boolean;
  /** Pieces of an unfinished line, kept from earlier chunks (joined once, when it ends). */
  #carry: Uint8Array[] = [];
  #carryBytes = 0;
  /** True while dropping the rest of a line longer than MAX_CARRY_BYTES. */
  #discarding = false;
  /** Bytes received in all. */
  bytes = 0;
  /** Error frames received after the login. */
  errors = 0;
  /** Lines dropped for being longer than {@linkcode MAX_CARRY_BYTES}. */
  longLines = 0;

  /**
   * @param client This client's index, passed back in every event.
   * @param runId The run's id (lib/bench/payload.ts).
   * @param login Whether a login answer comes first (protocol mode) or not (`--raw`).
   */
  constructor(client: number, runId: string, login: boolean, events: ReceiverEvents) {
    this.#client = client;
    this.#marker = markerOf(runId);
    this.#awaitingLogin = login;
    this.#events = events;
  }

  /** Consumes one chunk, received at `nowUs`. The chunk may be reused by the caller afterwards. */
  push(chunk: Uint8Array, nowUs: number): void {
    this.bytes += chunk.length;
    const end = chunk.lastIndexOf(LF);
    if (end === -1) {
      this.#hold(chunk);
      return;
    }
    let start = 0;
    if (this.#discarding) {
      start = chunk.indexOf(LF) + 1;
      this.#discarding = false;
    } else if (this.#carryBytes > 0) {
      // The held line ends at the first LF: it is finished on its own (one
      // short copy), so the rest of the chunk is decoded where it lies.
      start = chunk.indexOf(LF) + 1;
      this.#scan(decoder.decode(this.#takeCarry(chunk.subarray(0, start))), nowUs);
    }
    this.#hold(chunk.subarray(end + 1));
    if (end + 1 > start) this.#scan(decoder.decode(chunk.subarray(start, end + 1)), nowUs);
  }

  /** The held pieces and `last`, joined; nothing is held afterwards. */
  #takeCarry(last: Uint8Array): Uint8Array {
    const joined = new Uint8Array(this.#carryBytes + last.length);
    let offset = 0;
    for (const piece of this.#carry) {
      joined.set(piece, offset);
      offset += piece.length;
    }
    joined.set(last, offset);
    this.#carry = [];
    this.#carryBytes = 0;
    return joined;
  }

  #hold(piece: Uint8Array): void {
    if (piece.length === 0 || this.#discarding) return;
    if (this.#carryBytes + piece.length > MAX_CARRY_BYTES) {
      this.#carry = [];
      this.#carryBytes = 0;
      this.#discarding = true;
      this.longLines++;
      return;
    }
    this.#carry.push(piece.slice()); // A copy: the caller reuses its buffer.
    this.#carryBytes += piece.length;
  }

  /** Handles complete lines (`text` ends with "\n"). */
  #scan(text: string, nowUs: number): void {
    let from = 0;
    while (this.#awaitingLogin && from < text.length) {
      const end = text.indexOf("\n", from);
      this.#loginAnswer(text.slice(from, end).trim());
      from = end + 1;
    }
    if (from >= text.length) return;
    const marker = this.#marker;
    const events = this.#events;
    const token = this.#token;
    const client = this.#client;
    let at = text.indexOf(marker, from);
    while (at !== -1) {
      at += marker.length;
      const kind = token.read(text, at);
      if (kind === "message") {
        events.token(client, token.sender, token.seq, token.sentUs, nowUs);
        at = token.end;
      } else if (kind === "sync") {
        events.sync(client, token.sender);
        at = token.end;
      }
      at = text.indexOf(marker, at);
    }
    for (let e = text.indexOf(ERROR_PROBE, from); e !== -1; e = text.indexOf(ERROR_PROBE, e + 1)) {
      const frame = e - ERROR_PROBE_AT;
      if (frame >= from && text.startsWith(ERROR_FRAME, frame)) this.errors++;
    }
  }

  #loginAnswer(line: string): void {
    if (line.length === 0) return;
    const frame = decodeServerFrame(line);
    if (frame.type !== "status") return; // Tolerant: anything else before the answer is skipped.
    this.#awaitingLogin = false;
    if (frame.status === "ok") this.#events.loggedIn(this.#client);
    else this.#events.refused(this.#client, frame.reason ?? "login refused");
  }
}
