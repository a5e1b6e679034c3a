// The server's history: every accepted message, already encoded, by `seq`.
//
// Storage sits behind the small HistoryStore interface (append, read from a
// seq) so a durable or shared store can replace the memory one without
// touching the hub or the connections. The memory store keeps the encoded
// wire bytes in large arena chunks: relay and replay write those very bytes,
// and a replay of consecutive messages is a handful of large slices rather
// than one small write per message.

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
   * Stores a message and returns its seq. `encode` receives the seq and
   * returns the complete wire line; `author` tags the message so the
   * author's own connection can skip it (relay never goes to the sender).
   */
  append(encode: (seq: number) => Uint8Array, author: number): number;
  /** Resolves once message `seq` is as durable as this store makes anything. */
  whenDurable(seq: number): Promise<void>;
  /**
   * Reads messages from `fromSeq` on, up to about `maxBytes` (at least one
   * message when any is there), leaving out those tagged `skipAuthor`.
   */
  read(fromSeq: number, maxBytes: number, skipAuthor: number): ReadResult;
  /** Bytes of wire data in messages `fromSeq`…lastSeq (0 when none). */
  bytesFrom(fromSeq: number): number;
  /** Finishes pending writes and releases what the store holds (files, locks). */
  close?(): Promise<void>;
}

/** The longest run of empty seqs skipTo fills in (24 bytes each) rather than starting over. */
export const MAX_HOLE = 1_000_000;

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
}

/**
 * Keeps the history in memory: each message's wire bytes in a 4 MiB arena
 * chunk, plus 24 bytes of index (up to twice that while the index grows).
 */
export class MemoryStore implements HistoryStore {
  readonly #limit: number;
  #chunks: Uint8Array[] = [];
  /** The absolute number of #chunks[0] (chunks before it were dropped). */
  #chunkBase = 0;
  #chunkUsed = 0;
  #last = 0;
  #first = 1;
  /** The seq stored at index 0 of the arrays below. */
  #base = 1;
  // Index by seq - #base. Plain growable typed arrays: no object per message.
  #chunkOf = new Uint32Array(INITIAL_CAPACITY);
  #offset = new Uint32Array(INITIAL_CAPACITY);
  #length = new Uint32Array(INITIAL_CAPACITY);
  #author = new Int32Array(INITIAL_CAPACITY);
  /** Wire bytes of messages #base…(#base + i - 1), at index i (index 0 is 0). */
  #total = new Float64Array(INITIAL_CAPACITY + 1);

  constructor(options: MemoryStoreOptions = {}) {
    const limit = options.historyLimit ?? 0;
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(
        `Cannot make a store: historyLimit must be a non-negative integer, got ${limit}`,
      );
    }
    this.#limit = limit;
  }

  get lastSeq(): number {
    return this.#last;
  }

  get firstSeq(): number {
    return this.#first;
  }

  append(encode: (seq: number) => Uint8Array, author: number): number {
    const seq = this.#last + 1;
    const bytes = encode(seq);
    const i = seq - this.#base;
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
    this.#last = seq;
    if (this.#limit > 0 && seq - this.#first + 1 > this.#limit) this.#trim(seq - this.#limit + 1);
    return seq;
  }

  /**
   * Moves on to `seq` as the next seq to store, when a shared history
   * (Redis) continues past a hole: seqs skipped over hold nothing and are
   * never sent. With `start` (loading a history that begins at `seq`), or
   * across a hole of more than MAX_HOLE, an empty store starts over at `seq`
   * instead: readers then behind `firstSeq` have missed messages.
   */
  skipTo(seq: number, start = false): void {
    if (!Number.isSafeInteger(seq) || seq <= this.#last + 1) return;
    const empty = this.#last < this.#first;
    if (empty && (start || seq - this.#last > MAX_HOLE)) {
      // Nothing held: start the index at `seq` instead of filling it.
      this.#base = this.#first = seq;
      this.#last = seq - 1;
      this.#total[0] = 0;
      return;
    }
    const chunk = this.#chunkBase + Math.max(this.#chunks.length - 1, 0);
    for (let next = this.#last + 1; next < seq; next++) {
      const i = next - this.#base;
      this.#reserve(i + 1);
      this.#chunkOf[i] = chunk;
      this.#offset[i] = this.#chunkUsed;
      this.#length[i] = 0;
      this.#author[i] = 0;
      this.#total[i + 1] = this.#total[i];
    }
    this.#last = seq - 1;
  }

  whenDurable(_seq: number): Promise<void> {
    return Promise.resolve();
  }

  read(fromSeq: number, maxBytes: number, skipAuthor: number): ReadResult {
    const pieces: Uint8Array[] = [];
    let bytes = 0;
    let seq = Math.max(fromSeq, this.#first);
    // The run of consecutive messages being gathered into one slice.
    let runChunk = -1, runStart = 0, runEnd = 0;
    while (seq <= this.#last && (bytes === 0 || bytes < maxBytes)) {
      const i = seq - this.#base;
      seq++;
      const length = this.#length[i];
      // Left out: the author's own, and the empty seqs of a hole (skipTo).
      if (this.#author[i] === skipAuthor || length === 0) continue;
      const chunk = this.#chunkOf[i], offset = this.#offset[i];
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
    return { pieces, bytes, next: seq };
  }

  bytesFrom(fromSeq: number): number {
    if (fromSeq > this.#last) return 0;
    const from = Math.max(fromSeq, this.#first);
    return this.#total[this.#last - this.#base + 1] - this.#total[from - this.#base];
  }

  #slice(chunk: number, start: number, end: number): Uint8Array {
    return this.#chunks[chunk - this.#chunkBase].subarray(start, end);
  }

  /** Forgets messages before `first`, and the arena chunks only they used. */
  #trim(first: number): void {
    this.#first = first;
    const keepChunk = this.#chunkOf[first - this.#base];
    while (this.#chunkBase < keepChunk) {
      this.#chunks.shift();
      this.#chunkBase++;
    }
    // Move the index down once the forgotten part is as large as the kept one.
    const drop = first - this.#base;
    if (drop >= this.#last - first + 1 && drop >= INITIAL_CAPACITY) {
      const keep = this.#last - first + 1;
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
