// Bounded newline framing: bytes in, text lines out.
//
// This is our replacement for std's TextLineStream, which buffers a line of
// any length and so lets one peer exhaust the server's memory. Here a line
// longer than the cap is reported once and its bytes are dropped as they
// arrive; it is never held whole. Everything else about framing in
// PROTOCOL.md §1 lives here too: a trailing "\r" is dropped, blank lines are
// skipped, and invalid UTF-8 fails only the line that carries it.
//
// Memory: whole lines in a read are delivered straight from the caller's
// buffer, without a copy. Only the unfinished line at the end of a read is
// copied, into one buffer that grows by doubling (capped at the line limit),
// so what it takes stays within about twice its length however it arrives:
// a peer that sends a line as thousands of one-byte TLS records pins no more
// than one that sends it whole (a small copy kept per read, as here before,
// pinned about 75 times the bytes sent).

/** Why a line was not delivered. The text is what goes on the wire. */
export type LineError = "line too long" | "invalid UTF-8";

/** Receives what a {@linkcode LineSplitter} finds in the byte stream. */
export interface LineSink {
  /** A complete, non-blank line without its "\n" (and without a trailing "\r"). */
  line(text: string): void;
  /** A line that was discarded; reported once per line. */
  error(reason: LineError): void;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * The smallest buffer for an unfinished line. Small enough not to matter per
 * connection, large enough that a frame split across two reads rarely grows it.
 */
export const MIN_HOLD_BYTES = 256;

/**
 * Splits a byte stream into lines of at most `maxLineBytes` bytes each
 * (not counting the "\n" or a trailing "\r").
 *
 * Feed it chunks as they are read; it calls the sink synchronously, in order.
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * const splitter = new LineSplitter(1024, {
 *   line: (text) => lines.push(text),
 *   error: (reason) => console.error(reason),
 * });
 * splitter.push(new TextEncoder().encode('{"a":1}\r\n\n{"b"'));
 * splitter.push(new TextEncoder().encode(":2}\n"));
 * // lines is now ['{"a":1}', '{"b":2}']
 * ```
 */
export class LineSplitter {
  readonly #max: number;
  readonly #sink: LineSink;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  /** The current, unfinished line: its first #heldBytes bytes; released after each line. */
  #held: Uint8Array | undefined;
  #heldBytes = 0;
  /** True while dropping the rest of a line that went over the cap. */
  #discarding = false;

  /**
   * @param maxLineBytes The longest line delivered, in bytes. Longer lines are
   * reported as "line too long" and discarded.
   * @param sink Where lines and errors go.
   */
  constructor(maxLineBytes: number, sink: LineSink) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(
        `Cannot split lines: maxLineBytes must be a positive integer, got ${maxLineBytes}`,
      );
    }
    this.#max = maxLineBytes;
    this.#sink = sink;
  }

  /** Bytes of the unfinished line held right now (never more than the cap + 1). */
  get bufferedBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Bytes of memory the unfinished line takes: its buffer, at most about
   * twice {@linkcode bufferedBytes} (and never more than the cap + 1, nor
   * less than {@linkcode MIN_HOLD_BYTES} while a line is held).
   */
  get retainedBytes(): number {
    return this.#held?.length ?? 0;
  }

  /** Consumes one chunk of the stream. The chunk may be reused by the caller afterwards. */
  push(chunk: Uint8Array): void {
    let start = 0;
    while (start < chunk.length) {
      const end = chunk.indexOf(LF, start);
      if (end === -1) {
        this.#hold(chunk.subarray(start));
        return;
      }
      if (this.#discarding) {
        this.#discarding = false;
      } else if (this.#heldBytes === 0) {
        this.#emit(chunk.subarray(start, end));
      } else {
        this.#hold(chunk.subarray(start, end));
        if (!this.#discarding) this.#emitHeld();
        this.#discarding = false;
      }
      start = end + 1;
    }
  }

  /**
   * Ends the stream. An unterminated last line is delivered as if it ended
   * with "\n" (a peer that closes right after its last frame loses nothing).
   */
  end(): void {
    if (this.#discarding) {
      this.#discarding = false;
      return;
    }
    if (this.#heldBytes > 0) this.#emitHeld();
  }

  #hold(piece: Uint8Array): void {
    if (this.#discarding || piece.length === 0) return;
    const needed = this.#heldBytes + piece.length;
    // One byte of slack so a line of exactly the cap can still end in "\r".
    if (needed > this.#max + 1) {
      this.#release();
      this.#discarding = true;
      this.#sink.error("line too long");
      return;
    }
    let held = this.#held;
    if (held === undefined || needed > held.length) {
      // Doubling keeps the copies linear in the line's length; the cap keeps
      // the buffer within the one byte of slack above.
      const size = Math.min(
        Math.max(needed, 2 * (held?.length ?? 0), MIN_HOLD_BYTES),
        this.#max + 1,
      );
      const grown = new Uint8Array(size);
      if (held !== undefined) grown.set(held.subarray(0, this.#heldBytes));
      this.#held = held = grown;
    }
    // A copy: the caller reuses its read buffer.
    held.set(piece, this.#heldBytes);
    this.#heldBytes = needed;
  }

  /** Delivers the held line and releases its buffer (an idle connection holds nothing). */
  #emitHeld(): void {
    const line = this.#held!.subarray(0, this.#heldBytes);
    this.#release();
    this.#emit(line);
  }

  #release(): void {
    this.#held = undefined;
    this.#heldBytes = 0;
  }

  #emit(bytes: Uint8Array): void {
    let length = bytes.length;
    if (length > 0 && bytes[length - 1] === CR) length--;
    if (length > this.#max) {
      this.#sink.error("line too long");
      return;
    }
    if (isBlank(bytes, length)) return;
    let text: string;
    try {
      text = this.#decoder.decode(bytes.subarray(0, length));
    } catch {
      this.#sink.error("invalid UTF-8");
      return;
    }
    this.#sink.line(text);
  }
}

/** True when the first `length` bytes are only ASCII white space. */
function isBlank(bytes: Uint8Array, length: number): boolean {
  for (let i = 0; i < length; i++) {
    const b = bytes[i];
    if (b !== 0x20 && b !== 0x09 && b !== CR && b !== 0x0b && b !== 0x0c) return false;
  }
  return true;
}
