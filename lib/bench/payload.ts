// The text of a benchmark message, and the names a run uses.
//
// Every message carries a fixed-format token, `bench.RUNID:SENDER:SEQ:MICROS:`,
// padded with "x" to the requested size. The run id makes the token unique
// to one run, so a replay of older traffic (ours or another run's) is never
// counted; the sender index, sequence number and send time (microseconds
// since the run started, on the generator's own clock: eight digits for the
// first 100 s, fewer for a receiver to read than the time since 1970) are
// all a receiver needs for loss, duplicate, order and latency accounting. The token is plain ASCII with no character
// JSON escapes, so it appears verbatim in any frame that carries the text and
// a receiver finds it with indexOf, without parsing JSON per delivery.
// `bench.RUNID:sK:` is the barrier token client K sends before the run starts.

/** Characters of a run id. */
export const RUN_ID_LENGTH = 8;
/** The most digits a token's number may take (the send time: microseconds since the run started). */
export const TIME_DIGITS = 16;

/** Digits read at a time: eight fit a small integer (a run's first 100 s of send times). */
const HALF_DIGITS = 8;
const COLON = 0x3a;
const ZERO = 0x30;
const LOWER_S = 0x73;

/**
 * A new random run id: {@linkcode RUN_ID_LENGTH} characters of [0-9a-z].
 *
 * @example
 * ```ts
 * runId(); // "k3j2h1x9"
 * ```
 */
export function runId(
  random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b),
): string {
  const bytes = random(new Uint8Array(RUN_ID_LENGTH));
  let id = "";
  for (const byte of bytes) id += (byte % 36).toString(36);
  return id;
}

/** The marker every token of run `id` starts with. */
export function markerOf(id: string): string {
  return `bench.${id}:`;
}

/** The nickname of client `index` in run `id` (unique per run, at most 32 characters). */
export function nicknameOf(id: string, index: number): string {
  return `b${id}-${index}`;
}

/**
 * The shortest message the token needs for `senders` senders of `messages`
 * messages each; a smaller `--size` cannot carry it.
 */
export function minimumSize(senders: number, messages: number): number {
  const sender = String(Math.max(senders - 1, 0)).length;
  const seq = String(Math.max(messages - 1, 0)).length;
  return markerOf("x".repeat(RUN_ID_LENGTH)).length + sender + 1 + seq + 1 + TIME_DIGITS + 1;
}

/**
 * The text of message `seq` of `sender`, exactly `size` bytes when `size`
 * is at least the token's length.
 *
 * @example
 * ```ts
 * messageText("bench.k3j2h1x9:", 2, 17, 2345678, 48);
 * // "bench.k3j2h1x9:2:17:2345678:xxxxxxxxxxxxxxxxxxxx"
 * ```
 */
export function messageText(
  marker: string,
  sender: number,
  seq: number,
  sentUs: number,
  size: number,
): string {
  const token = `${marker}${sender}:${seq}:${sentUs}:`;
  return token.length >= size ? token : token + "x".repeat(size - token.length);
}

/** The barrier token client `index` sends (see the file comment). */
export function syncText(marker: string, index: number): string {
  return `${marker}s${index}:`;
}

/** What {@linkcode TokenReader.read} found after a marker. */
export type TokenKind = "message" | "sync" | undefined;

/**
 * Reads the token that follows a marker, in place: the fields of the last
 * read are overwritten by the next, so a receiver allocates nothing per
 * delivery (it reads one token for every message every client receives:
 * this is the generator's hot path).
 *
 * @example
 * ```ts
 * const reader = new TokenReader();
 * reader.read("bench.k3j2h1x9:2:17:1732712345678123:xx", 15); // "message"
 * [reader.sender, reader.seq, reader.sentUs]; // [2, 17, 1732712345678123]
 * reader.read("bench.k3j2h1x9:s1:", 15); // "sync", with reader.sender 1
 * reader.read("bench.k3j2h1x9:1:x:", 15); // undefined: not a well-formed token
 * ```
 */
export class TokenReader {
  /** The sender's index (of a barrier token: the client that sent it). */
  sender = 0;
  /** The message's sequence number (0 for a barrier token). */
  seq = 0;
  /** The send time, microseconds since the run started (0 for a barrier token). */
  sentUs = 0;
  /** The index after the last colon of the last token read. */
  end = 0;
  /** The number the last `#field` read. */
  #value = 0;
  /** Digits the last `#digits` read. */
  #count = 0;

  /**
   * Reads the token whose marker ends at `at` in `text`: "message" or
   * "sync" with the fields set, or undefined when the characters there are
   * not a well-formed token.
   */
  read(text: string, at: number): TokenKind {
    if (text.charCodeAt(at) === LOWER_S) {
      if (!this.#field(text, at + 1)) return undefined;
      this.sender = this.#value;
      this.seq = 0;
      this.sentUs = 0;
      return "sync";
    }
    if (!this.#field(text, at)) return undefined;
    const sender = this.#value;
    if (!this.#field(text, this.end)) return undefined;
    const seq = this.#value;
    if (!this.#field(text, this.end)) return undefined;
    this.sender = sender;
    this.seq = seq;
    this.sentUs = this.#value;
    return "message";
  }

  /**
   * One to {@linkcode TIME_DIGITS} decimal digits at `at` ended by ":", into
   * `#value`, with `end` the index after the colon; false when they are not
   * there.
   */
  #field(text: string, at: number): boolean {
    const high = this.#digits(text, at);
    if (this.#count === 0) return false;
    let value = high;
    if (this.#count === HALF_DIGITS) {
      const low = this.#digits(text, this.end);
      value = high * 10 ** this.#count + low;
    }
    if (text.charCodeAt(this.end) !== COLON) return false;
    this.#value = value;
    this.end++;
    return true;
  }

  /**
   * Up to {@linkcode HALF_DIGITS} decimal digits at `at`, in small-integer
   * arithmetic (a longer number is read in two halves: doubles in the
   * digit loop cost the generator measurably); `end` is then the index
   * after them and `#count` how many there were.
   */
  #digits(text: string, at: number): number {
    let value = 0;
    let i = at;
    const stop = at + HALF_DIGITS;
    for (; i < stop; i++) {
      const digit = text.charCodeAt(i) - ZERO; // NaN past the end.
      if (!(digit >= 0 && digit <= 9)) break;
      value = value * 10 + digit;
    }
    this.#count = i - at;
    this.end = i;
    return value;
  }
}
