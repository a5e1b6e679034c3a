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
}

/** Size of one arena chunk; a message larger than this gets its own chunk. */
export const ARENA_CHUNK_BYTES = 4 * 1024 * 1024;

const INITIAL_CAPACITY = 1024;

/**
 * Keeps the whole history in memory, as the seed asks: about 28 bytes of
 * index per message on top of its wire bytes.
 */
export class MemoryStore implements HistoryStore {
  #chunks: Uint8Array[] = [];
  #chunkUsed = 0;
  #count = 0;
  // Index by seq - 1. Plain growable typed arrays: no object per message.
  #chunkOf = new Uint32Array(INITIAL_CAPACITY);
  #offset = new Uint32Array(INITIAL_CAPACITY);
  #length = new Uint32Array(INITIAL_CAPACITY);
  #author = new Int32Array(INITIAL_CAPACITY);
  /** Wire bytes of messages 1…seq, at index seq (index 0 is 0). */
  #total = new Float64Array(INITIAL_CAPACITY + 1);

  get lastSeq(): number {
    return this.#count;
  }

  get firstSeq(): number {
    return 1;
  }

  append(encode: (seq: number) => Uint8Array, author: number): number {
    const seq = this.#count + 1;
    const bytes = encode(seq);
    this.#reserve(seq);
    let chunk = this.#chunks[this.#chunks.length - 1];
    if (chunk === undefined || this.#chunkUsed + bytes.length > chunk.length) {
      chunk = new Uint8Array(Math.max(ARENA_CHUNK_BYTES, bytes.length));
      this.#chunks.push(chunk);
      this.#chunkUsed = 0;
    }
    chunk.set(bytes, this.#chunkUsed);
    const i = seq - 1;
    this.#chunkOf[i] = this.#chunks.length - 1;
    this.#offset[i] = this.#chunkUsed;
    this.#length[i] = bytes.length;
    this.#author[i] = author;
    this.#total[seq] = this.#total[seq - 1] + bytes.length;
    this.#chunkUsed += bytes.length;
    this.#count = seq;
    return seq;
  }

  whenDurable(_seq: number): Promise<void> {
    return Promise.resolve();
  }

  read(fromSeq: number, maxBytes: number, skipAuthor: number): ReadResult {
    const pieces: Uint8Array[] = [];
    let bytes = 0;
    let seq = Math.max(fromSeq, 1);
    // The run of consecutive messages being gathered into one slice.
    let runChunk = -1, runStart = 0, runEnd = 0;
    while (seq <= this.#count && (bytes === 0 || bytes < maxBytes)) {
      const i = seq - 1;
      seq++;
      if (this.#author[i] === skipAuthor) continue;
      const chunk = this.#chunkOf[i], offset = this.#offset[i], length = this.#length[i];
      if (chunk === runChunk && offset === runEnd) {
        runEnd += length;
      } else {
        if (runChunk !== -1) pieces.push(this.#chunks[runChunk].subarray(runStart, runEnd));
        runChunk = chunk;
        runStart = offset;
        runEnd = offset + length;
      }
      bytes += length;
    }
    if (runChunk !== -1) pieces.push(this.#chunks[runChunk].subarray(runStart, runEnd));
    return { pieces, bytes, next: seq };
  }

  bytesFrom(fromSeq: number): number {
    if (fromSeq > this.#count) return 0;
    return this.#total[this.#count] - this.#total[Math.max(fromSeq, 1) - 1];
  }

  #reserve(seq: number): void {
    if (seq <= this.#chunkOf.length) return;
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
