// The server's history: every accepted message, already encoded, by `seq`.
//
// Storage sits behind the small HistoryStore interface (append, read from a
// seq) so a durable or shared store can replace the memory one without
// touching the hub or the connections. The memory store keeps the encoded
// wire bytes in large arena chunks: relay and replay write those very bytes,
// and a replay of consecutive messages is a handful of large slices rather
// than one small write per message.

/** The refusal while messages cannot be stored (PROTOCOL.md has no word for it; ours). */
export { STORAGE_UNAVAILABLE } from "../protocol.ts";

/** The bytes to write for a run of stored messages. */
export interface ReadResult {
  /** Slices of wire bytes, in seq order; consecutive messages share a slice. */
  pieces: Uint8Array[];
  /** Total bytes in `pieces`. */
  bytes: number;
  /** The first seq not included (read again from here). */
  next: number;
}

/** Where accepted messages are kept for replay (PROTOCOL.md §4, §8). */
export interface HistoryStore {
  /** The seq of the newest message; 0 when empty. */
  readonly lastSeq: number;
  /** The seq of the oldest message still held (lastSeq + 1 when empty). */
  readonly firstSeq: number;
  /**
   * The newest seq that may be sent: relay and replay stop here. lastSeq,
   * or for a store that writes to disk the newest message already durable,
   * so a seq a client has seen can never be lost and handed out again.
   */
  readonly visibleSeq: number;
  /**
   * Sets the one listener told each time visibleSeq moves on by itself
   * (after a durable store's write), for the hub to wake the receivers.
   */
  onVisible?(listener: () => void): void;
  /**
   * Stores a message and returns its seq. `encode` receives the seq and
   * returns the complete wire line; `author` tags the message so the
   * author's own connection can skip it (relay never goes to the sender).
   */
  append(encode: (seq: number) => Uint8Array, author: number): number;
  /**
   * Resolves to `seq` once message `seq` is as durable as this store makes
   * anything; rejects with Unavailable if it never will be.
   */
  whenDurable(seq: number): Promise<number>;
  /**
   * Reads messages from `fromSeq` on, up to about `maxBytes` (at least one
   * message when any is there) and never past visibleSeq (nor past `upTo`,
   * when given), leaving out those tagged `skipAuthor`.
   */
  read(fromSeq: number, maxBytes: number, skipAuthor: number, upTo?: number): ReadResult;
  /**
   * Bytes of wire data in messages `fromSeq`…visibleSeq (0 when none): what
   * a reader at `fromSeq` has waiting (a slow reader's limit counts them).
   */
  bytesFrom(fromSeq: number): number;
  /** Finishes pending writes and releases what the store holds (files, locks). */
  close?(): Promise<void>;
}

/** Size of one arena chunk; a message larger than this gets its own chunk. */
export const ARENA_CHUNK_BYTES = 4 * 1024 * 1024;

const INITIAL_CAPACITY = 1024;

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Keep only the newest this many messages (older ones leave memory and
   * the replay). Undefined or 0 keeps all of them, as the seed asks.
   */
  historyLimit?: number;
  /** The seq of the first message stored. @default {1} */
  firstSeq?: number;
}

/**
 * The first seq of a server that keeps its history in memory only, started
 * at `now`: the start time in microseconds since 1970 (about 1.8e15 in
 * 2027, safe integers until the year 2255).
 *
 * Such a server forgets everything when it restarts, and a client resuming
 * with `since` must not take the new life's numbers for the old one's.
 * Answering a `since` beyond the newest seq with a full replay (the hub
 * does that too) catches only a new life that is still shorter than the
 * old one: once it has stored `since` messages, the stale `since` points
 * inside the new numbering, and the client silently misses messages
 * 1…since and takes them for ones it has seen. Numbers that start at the
 * start time cannot overlap an earlier life's unless that life stored more
 * than one message per microsecond on average, far beyond what one server
 * accepts; a stale `since` is then always below the new life's first seq,
 * which replays the whole history. The full replay still covers a clock
 * set back between two lives. §8 asks only that seq grow by one per message.
 */
export function restartProofFirstSeq(now: Date): number {
  return now.getTime() * 1000;
}

/**
 * Keeps the history in memory: each message's wire bytes in a 4 MiB arena
 * chunk, plus 24 bytes of index (up to twice that while the index grows).
 *
 * The index is by position (the messages in the order stored), not by seq:
 * seqs that hold nothing (a hole in a shared history, see skipTo) take no
 * index entry. A run of consecutive seqs is one entry in a short list, so a
 * hole costs the same 16 bytes whatever its size, even a jump of 2^40.
 */
export class MemoryStore implements HistoryStore {
  readonly #limit: number;
  #chunks: Uint8Array[] = [];
  /** The absolute number of #chunks[0] (chunks before it were dropped). */
  #chunkBase = 0;
  #chunkUsed = 0;
  #last = 0;
  #first = 1;
  /** The position the next message gets (every message stored so far counts). */
  #end = 0;
  /** The position of the oldest message held. */
  #firstPos = 0;
  /** The position stored at index 0 of the arrays below. */
  #base = 0;
  // Index by position - #base. Plain growable typed arrays: no object per message.
  #chunkOf = new Uint32Array(INITIAL_CAPACITY);
  #offset = new Uint32Array(INITIAL_CAPACITY);
  #length = new Uint32Array(INITIAL_CAPACITY);
  #author = new Int32Array(INITIAL_CAPACITY);
  /** Wire bytes of the messages at positions #base…(#base + i - 1), at index i (index 0 is 0). */
  #total = new Float64Array(INITIAL_CAPACITY + 1);
  /**
   * Runs of consecutive seqs, from #runHead on: run k starts at position
   * #runPos[k] with seq #runSeq[k], and goes on up to the next run's
   * position. A hole starts a new run; the runs before #runHead hold only
   * messages that were dropped.
   */
  #runSeq: number[] = [1];
  #runPos: number[] = [0];
  #runHead = 0;

  constructor(options: MemoryStoreOptions = {}) {
    const limit = options.historyLimit ?? 0;
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(
        `Cannot make a store: historyLimit must be a non-negative integer, got ${limit}`,
      );
    }
    this.#limit = limit;
    const first = options.firstSeq ?? 1;
    if (!Number.isSafeInteger(first) || first < 1) {
      throw new RangeError(
        `Cannot make a store: firstSeq must be a positive integer, got ${first}`,
      );
    }
    this.skipTo(first, true);
  }

  get lastSeq(): number {
    return this.#last;
  }

  get firstSeq(): number {
    return this.#first;
  }

  get visibleSeq(): number {
    return this.#last;
  }

  append(encode: (seq: number) => Uint8Array, author: number): number {
    const seq = this.#last + 1;
    const bytes = encode(seq);
    const i = this.#end - this.#base;
    this.#reserve(i + 1);
    let chunk = this.#chunks[this.#chunks.length - 1];
    if (chunk === undefined || this.#chunkUsed + bytes.length > chunk.length) {
      chunk = new Uint8Array(Math.max(ARENA_CHUNK_BYTES, bytes.length));
      this.#chunks.push(chunk);
      this.#chunkUsed = 0;
    }
    chunk.set(bytes, this.#chunkUsed);
    this.#chunkOf[i] = this.#chunkBase + this.#chunks.length - 1;
    this.#offset[i] = this.#chunkUsed;
    this.#length[i] = bytes.length;
    this.#author[i] = author;
    this.#total[i + 1] = this.#total[i] + bytes.length;
    this.#chunkUsed += bytes.length;
    this.#end++;
    this.#last = seq;
    if (this.#limit > 0 && this.#end - this.#firstPos > this.#limit) {
      this.#trim(this.#end - this.#limit);
    }
    return seq;
  }

  /**
   * Moves on to `seq` as the next seq to store, when a shared history
   * (Redis) continues past a hole: seqs skipped over hold nothing, are
   * never sent, and cost nothing whatever their number. Readers waiting
   * before the hole lose nothing; but with `start` (an empty store loading
   * a history that begins at `seq`) the history starts at `seq`, and readers
   * then behind `firstSeq` have missed messages.
   */
  skipTo(seq: number, start = false): void {
    if (!Number.isSafeInteger(seq) || seq <= this.#last + 1) return;
    const last = this.#runSeq.length - 1;
    if (this.#runPos[last] === this.#end) {
      // No message since the run began: move its start instead of adding one.
      this.#runSeq[last] = seq;
    } else {
      this.#runSeq.push(seq);
      this.#runPos.push(this.#end);
    }
    if (start && this.#firstPos === this.#end) this.#first = seq;
    this.#last = seq - 1;
  }

  whenDurable(seq: number): Promise<number> {
    return Promise.resolve(seq);
  }

  /** HistoryStore.read; `upTo` stops it after that seq (a durable store's visibleSeq). */
  read(fromSeq: number, maxBytes: number, skipAuthor: number, upTo = this.#last): ReadResult {
    const pieces: Uint8Array[] = [];
    let bytes = 0;
    const from = Math.max(fromSeq, this.#first);
    let position = this.#positionOf(from);
    const end = upTo >= this.#last ? this.#end : this.#positionOf(upTo + 1);
    // The run of consecutive messages being gathered into one slice.
    let runChunk = -1, runStart = 0, runEnd = 0;
    while (position < end && (bytes === 0 || bytes < maxBytes)) {
      const i = position - this.#base;
      position++;
      if (this.#author[i] === skipAuthor) continue; // The author's own.
      const chunk = this.#chunkOf[i], offset = this.#offset[i], length = this.#length[i];
      if (chunk === runChunk && offset === runEnd) {
        runEnd += length;
      } else {
        if (runChunk !== -1) pieces.push(this.#slice(runChunk, runStart, runEnd));
        runChunk = chunk;
        runStart = offset;
        runEnd = offset + length;
      }
      bytes += length;
    }
    if (runChunk !== -1) pieces.push(this.#slice(runChunk, runStart, runEnd));
    const next = position < this.#end ? this.#seqAt(position) : Math.max(from, this.#last + 1);
    return { pieces, bytes, next };
  }

  /** HistoryStore.bytesFrom; `upTo` stops it after that seq (a durable store's visibleSeq). */
  bytesFrom(fromSeq: number, upTo = this.#last): number {
    if (fromSeq > upTo) return 0;
    const position = this.#positionOf(Math.max(fromSeq, this.#first));
    const end = upTo >= this.#last ? this.#end : this.#positionOf(upTo + 1);
    return this.#total[end - this.#base] - this.#total[position - this.#base];
  }

  /** The position of the first message with a seq at or after `seq` (#end when none). */
  #positionOf(seq: number): number {
    const k = this.#runOf(this.#runSeq, seq);
    const runEnd = k + 1 < this.#runSeq.length ? this.#runPos[k + 1] : this.#end;
    const position = Math.min(this.#runPos[k] + Math.max(seq - this.#runSeq[k], 0), runEnd);
    return Math.max(position, this.#firstPos);
  }

  /** The seq of the message at `position`. */
  #seqAt(position: number): number {
    const k = this.#runOf(this.#runPos, position);
    return this.#runSeq[k] + (position - this.#runPos[k]);
  }

  /** The last run from #runHead whose start in `starts` is at or before `value` (else #runHead). */
  #runOf(starts: number[], value: number): number {
    let low = this.#runHead, high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (starts[middle] <= value) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  #slice(chunk: number, start: number, end: number): Uint8Array {
    return this.#chunks[chunk - this.#chunkBase].subarray(start, end);
  }

  /** Forgets the messages before position `first`, and the arena chunks only they used. */
  #trim(first: number): void {
    // Readers past the newest message dropped have lost nothing, a hole after it included.
    this.#first = this.#seqAt(first - 1) + 1;
    this.#firstPos = first;
    const keepChunk = this.#chunkOf[first - this.#base];
    while (this.#chunkBase < keepChunk) {
      this.#chunks.shift();
      this.#chunkBase++;
    }
    while (this.#runHead + 1 < this.#runPos.length && this.#runPos[this.#runHead + 1] <= first) {
      this.#runHead++;
    }
    if (this.#runHead >= INITIAL_CAPACITY && this.#runHead * 2 >= this.#runPos.length) {
      this.#runSeq.splice(0, this.#runHead);
      this.#runPos.splice(0, this.#runHead);
      this.#runHead = 0;
    }
    // Move the index down once the forgotten part is as large as the kept one.
    const drop = first - this.#base;
    if (drop >= this.#end - first && drop >= INITIAL_CAPACITY) {
      const keep = this.#end - first;
      this.#chunkOf.copyWithin(0, drop, drop + keep);
      this.#offset.copyWithin(0, drop, drop + keep);
      this.#length.copyWithin(0, drop, drop + keep);
      this.#author.copyWithin(0, drop, drop + keep);
      const dropped = this.#total[drop];
      for (let i = 0; i <= keep; i++) this.#total[i] = this.#total[i + drop] - dropped;
      this.#base = first;
    }
  }

  /** Makes room for `size` index entries. */
  #reserve(size: number): void {
    if (size <= this.#chunkOf.length) return;
    const capacity = this.#chunkOf.length * 2;
    this.#chunkOf = grow(this.#chunkOf, new Uint32Array(capacity));
    this.#offset = grow(this.#offset, new Uint32Array(capacity));
    this.#length = grow(this.#length, new Uint32Array(capacity));
    this.#author = grow(this.#author, new Int32Array(capacity));
    this.#total = grow(this.#total, new Float64Array(capacity + 1));
  }
}

function grow<T extends Uint32Array | Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
