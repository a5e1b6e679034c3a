// Everything one connection has yet to receive, and the pump that writes it.
//
// A connection's outgoing data is three things: a short queue of its own
// replies (login result, acks, errors), a cursor into the shared history
// store, and a queue of extra frames that are not stored (presence events,
// direct messages), each positioned after the stored messages that came
// before it. Messages are never copied per receiver: the pump reads the stored
// wire bytes from the cursor as the socket drains, so a replay of a million
// messages streams without ever being queued, and live messages cost each
// receiver nothing until it is ready. Whatever is waiting is coalesced into
// large writes (one write per line per receiver is many times slower).
// Replies go ahead of both, except behind an extra frame that is itself an
// answer (the `who` that answers the command, see fence()): a connection's
// answers keep the order of its frames.
//
// The bound on a slow reader is on live traffic: the bytes stored since the
// connection logged in that it has not yet been sent, plus its queued
// replies and extra frames. Over `sendQueueBytes` the outbox fails, and the connection is cut;
// nobody else notices. Only while a write to it is stuck, though: a reader
// whose pump is waiting for data has read everything it was sent, however
// much arrives at once (a server that stalls, for CPU or GC, reads a burst
// from every sender before any pump runs, and cut every healthy reader).

import { concatBytes } from "../bytes.ts";
import type { HistoryStore } from "./store.ts";
import { sharedTurnBudget, type TurnBudget } from "./turn_budget.ts";

/**
 * The write side of a connection: connection.ts adapts its node:tls socket
 * to it, and tests use in-memory writers.
 */
export interface Writer {
  /** Writes some of `bytes`; resolves to how many were written. */
  write(bytes: Uint8Array): Promise<number>;
}

/** Limits of one outbox. */
export interface OutboxOptions {
  /**
   * Most bytes a connection may have waiting (live messages and replies)
   * before it is cut off as a slow reader.
   */
  sendQueueBytes: number;
  /**
   * Most bytes gathered for one write.
   * @default {65536}
   */
  batchBytes?: number;
  /**
   * Where the pump asks before each write, so that a fan-out to many
   * receivers is spread over event-loop turns; null writes at once.
   * @default {sharedTurnBudget}
   */
  turnBudget?: TurnBudget | null;
}

/**
 * The default size of one coalesced write: 64 KiB. A larger batch is more
 * plaintext held per receiver and more encrypted bytes queued per write for
 * no gain in speed (issue 15's phase A: at N=1000 the peak went from 281 to
 * 258–261 MiB with 64 KiB instead of 256 KiB before the turn budget).
 */
export const DEFAULT_BATCH_BYTES = 64 * 1024;

/**
 * Why an outbox stopped accepting data: too far behind, or live messages it
 * had not sent yet were dropped from the history (`--history-limit`).
 */
export type OutboxFailure = "send queue full" | "fell behind the history limit";

/**
 * Queues replies and streams stored messages to one connection.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "./store.ts";
 *
 * declare const conn: Writer; // the connection's socket
 * const store = new MemoryStore();
 * const outbox = new Outbox(conn, store, 7, { sendQueueBytes: 8 << 20 });
 * const pump = outbox.run();
 * outbox.reply(new TextEncoder().encode('{"status":"ok"}\n'));
 * outbox.startStream(1, store.lastSeq + 1);
 * outbox.close(); // after the queue is written, run() resolves
 * await pump;
 * ```
 */
export class Outbox {
  readonly #writer: Writer;
  readonly #store: HistoryStore;
  readonly #author: number;
  readonly #limit: number;
  readonly #batch: number;
  readonly #budget: TurnBudget | null;
  #replies: Uint8Array[] = [];
  #replyBytes = 0;
  /** Frames not in the store, in order, from #extraHead on; see {@linkcode extra}. */
  #extras: Extra[] = [];
  #extraHead = 0;
  #extraBytes = 0;
  /** Extra frames queued and taken since the start, and how many a reply must wait for. */
  #extrasQueued = 0;
  #extrasTaken = 0;
  #fence = 0;
  /** Next seq to send; 0 until the connection has logged in. */
  #cursor = 0;
  /** The first seq stored after login: from here on, waiting bytes count against the limit. */
  #liveFrom = Infinity;
  #wake: (() => void) | undefined;
  /** The pump is inside a write: the socket has not taken the last batch yet. */
  #writing = false;
  #closing = false;
  #failure: OutboxFailure | undefined;
  #idle: (() => void)[] = [];

  /**
   * @param writer Where bytes go.
   * @param store The history to stream from.
   * @param author The connection's author tag: its own messages are skipped.
   */
  constructor(writer: Writer, store: HistoryStore, author: number, options: OutboxOptions) {
    this.#writer = writer;
    this.#store = store;
    this.#author = author;
    this.#limit = options.sendQueueBytes;
    this.#batch = options.batchBytes ?? DEFAULT_BATCH_BYTES;
    this.#budget = options.turnBudget === undefined ? sharedTurnBudget : options.turnBudget;
  }

  /** Why the outbox failed, if it did. */
  get failure(): OutboxFailure | undefined {
    return this.#failure;
  }

  /** Bytes waiting that count against the limit. */
  get queuedBytes(): number {
    const live = this.#cursor === 0
      ? 0
      : this.#store.bytesFrom(Math.max(this.#cursor, this.#liveFrom));
    return this.#replyBytes + this.#extraBytes + live;
  }

  /** True when nothing is waiting to be written. */
  get idle(): boolean {
    return this.#replyBytes === 0 && this.#extraHead === this.#extras.length &&
      (this.#cursor === 0 || this.#cursor > this.#store.visibleSeq);
  }

  /**
   * Queues one encoded reply: ahead of stored messages and extra frames,
   * except those before a {@linkcode fence}. Returns false when the outbox
   * has failed or is closing.
   */
  reply(bytes: Uint8Array): boolean {
    if (this.#closing || this.#failure) return false;
    if (this.#extrasTaken < this.#fence) {
      // Behind an answer that waits among the extras, as an extra itself
      // (`after` 0: right behind the frames queued before it).
      this.extra(bytes, 0);
      this.#fence = this.#extrasQueued;
      return this.#failure === undefined;
    }
    this.#replies.push(bytes);
    this.#replyBytes += bytes.length;
    if (!this.#check()) return false;
    this.#poke();
    return true;
  }

  /**
   * Queues one encoded frame that is not in the store (a presence event, a
   * direct message), to be written once every stored message up to `after`
   * has been (the store's visibleSeq when it happened: it comes after what
   * could be sent then). Frames queued so go out in the order queued. With
   * `wake` false the pump is not woken: the frame goes out with the next
   * write, or at the next {@linkcode notify} (presence events are gathered
   * so). Returns false when the outbox has failed (the connection is then
   * cut) or is closing.
   */
  extra(bytes: Uint8Array, after: number, wake = true): boolean {
    if (this.#closing || this.#failure) return false;
    this.#extras.push({ bytes, after });
    this.#extrasQueued++;
    this.#extraBytes += bytes.length;
    if (!this.#check()) return false;
    if (wake) this.#poke();
    return true;
  }

  /**
   * Replies queued from now on go out after every extra frame queued so
   * far: one of them is an answer (a `who` that answers the command), and
   * a connection's answers keep the order of its frames (answers.ts).
   */
  fence(): void {
    this.#fence = this.#extrasQueued;
  }

  /**
   * Starts streaming stored messages from `fromSeq`. Messages from
   * `liveFrom` on were stored after login and count against the limit.
   */
  startStream(fromSeq: number, liveFrom: number): void {
    this.#cursor = Math.max(fromSeq, 1);
    this.#liveFrom = liveFrom;
    this.#poke();
  }

  /** Tells the outbox that the store has grown. Returns false when the outbox has failed. */
  notify(): boolean {
    if (this.#closing || this.#cursor === 0) return this.#failure === undefined;
    if (!this.#check()) return false;
    this.#poke();
    return true;
  }

  /**
   * Tells the outbox that message `seq` was posted by this very connection.
   * It is never sent back, so it must not count as waiting. The pump would
   * skip it too, but only once it runs: a member posting in a burst, or while
   * a write to it is stuck, was counted as behind on its own words and cut
   * off as a slow reader.
   */
  authored(seq: number): void {
    if (this.#cursor === seq) this.#cursor = seq + 1;
  }

  /** Stops taking data; `run()` resolves once what is queued is written. */
  close(): void {
    this.#closing = true;
    this.#poke();
  }

  /** Resolves when nothing is waiting (or the outbox closed). */
  drained(): Promise<void> {
    if (this.idle || this.#failure) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Writes until closed. Rejects when a write fails (the peer is gone);
   * resolves after `close()` once everything queued is written, or at once
   * when the outbox failed.
   */
  async run(): Promise<void> {
    try {
      while (this.#failure === undefined) {
        // Wait for a turn with room before gathering, so what arrives
        // meanwhile joins this write, and a waiting pump holds no batch.
        const later = this.idle ? undefined : this.#budget?.take();
        if (later !== undefined) {
          await later;
          if (this.#failure !== undefined) break;
        }
        const bytes = this.#take();
        if (bytes === undefined) {
          if (this.#failure !== undefined) break;
          this.#settleIdle();
          if (this.#closing) return;
          await new Promise<void>((resolve) => this.#wake = resolve);
          this.#wake = undefined;
          continue;
        }
        let written = 0;
        this.#writing = true;
        while (written < bytes.length) {
          written += await this.#writer.write(written === 0 ? bytes : bytes.subarray(written));
        }
        this.#writing = false;
      }
    } finally {
      this.#closing = true;
      this.#settleIdle(true);
    }
  }

  /**
   * Gathers the next write: replies first, then stored messages, each extra
   * frame after the stored messages up to its position.
   */
  #take(): Uint8Array | undefined {
    const pieces = this.#replies;
    let bytes = this.#replyBytes;
    this.#replies = [];
    this.#replyBytes = 0;
    while (this.#cursor !== 0 && bytes < this.#batch) {
      const extra = this.#extras[this.#extraHead];
      if (extra !== undefined && extra.after < this.#cursor) {
        pieces.push(extra.bytes);
        bytes += extra.bytes.length;
        this.#extraBytes -= extra.bytes.length;
        this.#extraHead++;
        this.#extrasTaken++;
        continue;
      }
      const visible = this.#store.visibleSeq;
      const upTo = extra === undefined ? visible : Math.min(extra.after, visible);
      if (this.#cursor > upTo) break;
      if (this.#cursor < this.#store.firstSeq && !this.#check()) return undefined;
      const read = this.#store.read(this.#cursor, this.#batch - bytes, this.#author, upTo);
      this.#cursor = read.next;
      for (const piece of read.pieces) pieces.push(piece);
      bytes += read.bytes;
    }
    if (this.#extraHead === this.#extras.length) {
      if (this.#extraHead > 0) this.#extras = [];
      this.#extraHead = 0;
    } else if (this.#extraHead > 1024 && this.#extraHead * 2 > this.#extras.length) {
      this.#extras = this.#extras.slice(this.#extraHead);
      this.#extraHead = 0;
    }
    if (pieces.length === 1) return pieces[0];
    return pieces.length === 0 ? undefined : concatBytes(pieces, bytes);
  }

  #check(): boolean {
    if (this.#failure) return false;
    // Live messages it never sent have left the store: skipping them silently
    // would be loss. (A replay that starts before the oldest kept message is
    // what the history limit means, and is not this.)
    const dropped = this.#cursor !== 0 && this.#cursor >= this.#liveFrom &&
      this.#cursor < this.#store.firstSeq;
    // A pump that is not stuck in a write takes everything at its next turn.
    if (dropped || (this.#writing && this.queuedBytes > this.#limit)) {
      this.#failure = dropped ? "fell behind the history limit" : "send queue full";
      this.#replies = [];
      this.#replyBytes = 0;
      this.#extras = [];
      this.#extraHead = 0;
      this.#extraBytes = 0;
      this.#extrasTaken = this.#extrasQueued;
      this.#poke();
      return false;
    }
    return true;
  }

  #poke(): void {
    this.#wake?.();
  }

  #settleIdle(force = false): void {
    if (this.#idle.length === 0 || (!force && !this.idle)) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }
}

/** A frame of {@linkcode Outbox.extra}: written once the cursor is past `after`. */
interface Extra {
  bytes: Uint8Array;
  after: number;
}
