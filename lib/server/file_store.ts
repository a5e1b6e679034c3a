// Durable history: `chat server --data-dir DIR`.
//
// An append-only log, DIR/messages.log, holds one line per stored message:
// the exact wire bytes, `seq` included. Replay is served from memory (a
// MemoryStore loaded from the log at start), so durability costs nothing on
// the read path. Writes use group commit: whatever was appended while the
// previous write and fsync ran goes out as one write and one fsync, and only
// then are those messages relayed and their `id` acks released: a seq a
// client has seen is on disk, so after a crash it still names the same
// message. A failed write is cut back off and retried; nothing appended is
// dropped on the way.
//
// At start the log is checked line by line. A torn last line (the server
// died mid-write) is cut off with a warning; damage anywhere else stops the
// server with one sentence naming the file and line, because skipping a line
// would be silent loss. DIR/lock is held for as long as the store is open,
// so two servers never write one log.

import { join } from "node:path";
import { concatBytes } from "../bytes.ts";
import { pause } from "../deadline.ts";
import { type ChatMessage, decodeServerFrame, encodeChatMessage } from "../protocol.ts";
import { errorReason, FatalError, Unavailable } from "../errors.ts";
import { loadLog, type LogFile } from "./append_log.ts";
import { type HistoryStore, MemoryStore, type ReadResult } from "./store.ts";

/** The log's file name inside the data folder. */
export const LOG_FILE = "messages.log";
/** The lock file's name inside the data folder. */
export const LOCK_FILE = "lock";
const encoder = new TextEncoder();

/** Pause before a failed write of the log is tried again. */
export const RETRY_MS = 1000;

/** The log file as the store writes it: a Deno.FsFile, or a test's wrapper around one. */
export type { LogFile };

/** Options of {@linkcode FileStore.open}. */
export interface FileStoreOptions {
  /** Keep only the newest this many messages for replay; 0 or undefined keeps all. */
  historyLimit?: number;
  /** Receives warnings, such as a torn last line that was cut off. */
  warn: (message: string) => void;
  /** Wraps the log once it is loaded: tests make its writes, fsyncs or truncates fail. */
  wrapLog?: (file: LogFile) => LogFile;
}

interface Waiter {
  seq: number;
  resolve: (seq: number) => void;
  reject: (error: Error) => void;
}

/**
 * A history store backed by an append-only log in a folder.
 *
 * @example
 * ```ts
 * const store = await FileStore.open("data", { warn: (text) => Deno.stderr.writeSync(new TextEncoder().encode(text + "\n")) });
 * const seq = store.append((seq) => new TextEncoder().encode(`{"seq":${seq}}\n`), 1);
 * await store.whenDurable(seq); // fsynced, and from now on sent to clients
 * await store.close();
 * ```
 */
export class FileStore implements HistoryStore {
  readonly #memory: MemoryStore;
  readonly #log: LogFile;
  readonly #lock: Deno.FsFile;
  readonly #path: string;
  readonly #warn: (message: string) => void;
  /** Encoded messages not yet written, in seq order: every seq after #durable up to #pendingSeq. */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #pendingSeq: number;
  #durable: number;
  #waiters: Waiter[] = [];
  #visible: (() => void) | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;
  /** The log's length up to the last batch written and fsynced. */
  #goodSize: number;
  /**
   * True from the start of a write until it and its fsync succeed: the log
   * may hold part of a batch past #goodSize, to be cut off before anything
   * else is written.
   */
  #dirty = false;
  /** True after a failed write, until a retry succeeds; new messages are refused meanwhile. */
  #failing = false;
  /** Wakes a failed flush from its pause before the retry (on close). */
  #wakeRetry: (() => void) | undefined;

  private constructor(
    memory: MemoryStore,
    log: LogFile,
    size: number,
    lock: Deno.FsFile,
    path: string,
    warn: (message: string) => void,
  ) {
    this.#memory = memory;
    this.#log = log;
    this.#lock = lock;
    this.#path = path;
    this.#warn = warn;
    this.#durable = memory.lastSeq;
    this.#pendingSeq = memory.lastSeq;
    this.#goodSize = size;
  }

  /**
   * Opens (creating when needed) the data folder `dir`: takes its lock,
   * loads and checks the log. Every failure is a FatalError.
   */
  static async open(dir: string, options: FileStoreOptions): Promise<FileStore> {
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (error) {
      throw new FatalError(`cannot use the data folder ${dir}: ${errorReason(error)}`);
    }
    const lockPath = join(dir, LOCK_FILE);
    let lock: Deno.FsFile;
    try {
      lock = await Deno.open(lockPath, { read: true, write: true, create: true });
    } catch (error) {
      throw new FatalError(`cannot open the lock file ${lockPath}: ${errorReason(error)}`);
    }
    if (!await lock.tryLock(true)) {
      lock.close();
      throw new FatalError(
        `cannot use the data folder ${dir}: another chat server is using it (${lockPath} is locked)`,
      );
    }
    const path = join(dir, LOG_FILE);
    try {
      const memory = new MemoryStore({ historyLimit: options.historyLimit });
      const { file, size } = await loadHistory(path, memory, options.warn);
      const log = options.wrapLog?.(file) ?? file;
      return new FileStore(memory, log, size, lock, path, options.warn);
    } catch (error) {
      lock.close();
      throw error;
    }
  }

  /** The log file's path. */
  get path(): string {
    return this.#path;
  }

  get lastSeq(): number {
    return this.#memory.lastSeq;
  }

  get firstSeq(): number {
    return this.#memory.firstSeq;
  }

  /**
   * The newest message on disk. Only these are relayed and replayed: a
   * message sent before its fsync could be lost in a crash, and the
   * restarted server would give its seq to another message, which a client
   * resuming with that `since` would never receive.
   */
  get visibleSeq(): number {
    return this.#durable;
  }

  onVisible(listener: () => void): void {
    this.#visible = listener;
  }

  append(encode: (seq: number) => Uint8Array, author: number): number {
    if (this.#closed) throw new Unavailable(`${this.#path} is closed`);
    if (this.#failing) throw new Unavailable(`${this.#path} cannot be written`);
    return this.#memory.append((seq) => {
      const bytes = encode(seq);
      this.#pending.push(bytes);
      this.#pendingBytes += bytes.length;
      this.#pendingSeq = seq;
      this.#flushing ??= this.#flush();
      return bytes;
    }, author);
  }

  whenDurable(seq: number): Promise<number> {
    if (seq <= this.#durable) return Promise.resolve(seq);
    return new Promise((resolve, reject) => this.#waiters.push({ seq, resolve, reject }));
  }

  read(fromSeq: number, maxBytes: number, skipAuthor: number, upTo = Infinity): ReadResult {
    return this.#memory.read(fromSeq, maxBytes, skipAuthor, Math.min(upTo, this.#durable));
  }

  bytesFrom(fromSeq: number): number {
    // Not yet on disk is not yet waiting: a slow fsync must not count against readers.
    return this.#memory.bytesFrom(fromSeq, this.#durable);
  }

  /** Writes what is pending, then closes the log and releases the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeRetry?.();
    await this.#flushing;
    this.#log.close();
    this.#lock.close();
  }

  /**
   * Group commit: one write and one fsync for everything appended meanwhile,
   * then the acks of that batch, and the wake-up that relays it.
   *
   * A failed write or fsync is cut back off the log (so it stays loadable)
   * and retried after {@linkcode RETRY_MS}, together with whatever was
   * appended while it ran: nothing appended is ever dropped, and nothing is
   * acked before its own bytes are on disk. New messages are refused while
   * the disk fails. Nothing is written after a failed write until the cut
   * succeeds, so part of a batch is never followed by another batch.
   */
  async #flush(): Promise<void> {
    // Let the rest of this turn's appends (one read's frames) join the batch.
    await Promise.resolve();
    while (this.#pending.length > 0) {
      const batch = concatBytes(this.#pending, this.#pendingBytes);
      const upTo = this.#pendingSeq;
      this.#pending = [];
      this.#pendingBytes = 0;
      try {
        if (this.#dirty) await this.#cutBack();
        this.#dirty = true;
        let written = 0;
        while (written < batch.length) written += await this.#log.write(batch.subarray(written));
        await this.#log.syncData();
        this.#dirty = false;
        this.#goodSize += batch.length;
        this.#durable = upTo;
        this.#failing = false;
        this.#settle(upTo);
        this.#visible?.();
      } catch (error) {
        if (!this.#failing) {
          this.#warn(
            `cannot write ${this.#path}: ${errorReason(error)}; refusing new messages and retrying`,
          );
        }
        this.#failing = true;
        // In front of what was appended while it ran: the retry writes them all, in order.
        this.#pending.unshift(batch);
        this.#pendingBytes += batch.length;
        // At once, so the log on disk stays loadable meanwhile; if this
        // fails, it is tried again before anything else is written.
        if (this.#dirty) await this.#cutBack().catch(() => {});
        if (this.#closed) {
          this.#settle(
            this.#pendingSeq,
            new Unavailable(`${this.#path} was not written before closing`),
          );
          break;
        }
        const wait = pause(RETRY_MS);
        this.#wakeRetry = wait.wake;
        await wait.done;
        this.#wakeRetry = undefined;
      }
    }
    this.#flushing = undefined;
  }

  /** Cuts the log back to its last good batch. */
  async #cutBack(): Promise<void> {
    await this.#log.truncate(this.#goodSize);
    await this.#log.seek(this.#goodSize, Deno.SeekMode.Start);
    this.#dirty = false;
  }

  #settle(upTo: number, error?: Error): void {
    let done = 0;
    while (done < this.#waiters.length && this.#waiters[done].seq <= upTo) {
      const waiter = this.#waiters[done++];
      if (error) waiter.reject(error);
      else waiter.resolve(waiter.seq);
    }
    if (done > 0) this.#waiters = this.#waiters.slice(done);
  }
}

/**
 * Reads and checks the log into `memory`, cuts off a torn last line, and
 * returns the log opened for appending.
 */
async function loadHistory(
  path: string,
  memory: MemoryStore,
  warn: (message: string) => void,
): Promise<{ file: Deno.FsFile; size: number }> {
  let mended = 0;
  const loaded = await loadLog(path, {
    what: "the history",
    warn,
    line: (text, bytes) => {
      const checked = checkLine(text, memory.lastSeq + 1);
      if (typeof checked === "string") return checked;
      if (!checked.from.isWellFormed() || !checked.message.isWellFormed()) {
        // Written before lone surrogates were refused: strict JSON parsers
        // refuse the line, so it is replayed re-encoded (U+FFFD in their
        // place). The file keeps what was written: nothing is rewritten at start.
        bytes = encoder.encode(encodeChatMessage({ ...checked, seq: memory.lastSeq + 1 }));
        mended++;
      }
      memory.append(() => bytes, 0);
    },
  });
  if (mended > 0) {
    warn(
      `${path}: ${mended} stored ${
        mended === 1 ? "message holds" : "messages hold"
      } a lone surrogate (written by an older server); replayed with U+FFFD in its place`,
    );
  }
  return loaded;
}

/** One stored line as a message with seq `expected`, or what is wrong with it. */
function checkLine(text: string, expected: number): ChatMessage | string {
  const frame = decodeServerFrame(text);
  if (frame.type !== "message") return "not a stored message";
  if (frame.seq !== expected) return `seq ${frame.seq ?? "missing"} where ${expected} was expected`;
  return frame;
}
