// Bounded newline framing: bytes in, text lines out.
//
// This is our replacement for std's TextLineStream, which buffers a line of
// any length and so lets one peer exhaust the server's memory. Here a line
// longer than the cap is reported once and its bytes are dropped as they
// arrive; it is never held whole. Everything else about framing in
// PROTOCOL.md §1 lives here too: a trailing "\r" is dropped, blank lines are
// skipped, and invalid UTF-8 fails only the line that carries it.

import { concatBytes } from "./bytes.ts";

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
  /** Pieces of the current, unfinished line. */
  #parts: Uint8Array[] = [];
  #partBytes = 0;
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
    return this.#partBytes;
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
      } else if (this.#partBytes === 0) {
        this.#emit(chunk.subarray(start, end));
      } else {
        this.#hold(chunk.subarray(start, end));
        if (!this.#discarding) this.#emit(this.#takeParts());
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
    if (this.#partBytes > 0) this.#emit(this.#takeParts());
  }

  #hold(piece: Uint8Array): void {
    if (this.#discarding || piece.length === 0) return;
    // One byte of slack so a line of exactly the cap can still end in "\r".
    if (this.#partBytes + piece.length > this.#max + 1) {
      this.#parts = [];
      this.#partBytes = 0;
      this.#discarding = true;
      this.#sink.error("line too long");
      return;
    }
    // Copy: the caller reuses its read buffer.
    this.#parts.push(piece.slice());
    this.#partBytes += piece.length;
  }

  #takeParts(): Uint8Array {
    const parts = this.#parts;
    const total = this.#partBytes;
    this.#parts = [];
    this.#partBytes = 0;
    return concatBytes(parts, total);
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
