// The text of a benchmark message, and the names a run uses.
//
// Every message carries a fixed-format token, `bench.RUNID:SENDER:SEQ:MICROS:`,
// padded with "x" to the requested size. The run id makes the token unique
// to one run, so a replay of older traffic (ours or another run's) is never
// counted; the sender index, sequence number and send time (microseconds on
// the generator's own clock) are all a receiver needs for loss, duplicate,
// order and latency accounting. The token is plain ASCII with no character
// JSON escapes, so it appears verbatim in any frame that carries the text and
// a receiver finds it with indexOf, without parsing JSON per delivery.
// `bench.RUNID:sK:` is the barrier token client K sends before the run starts.

/** Characters of a run id. */
export const RUN_ID_LENGTH = 8;
/** Digits the send time takes (microseconds since 1970 have 16 digits until 2286). */
export const TIME_DIGITS = 16;

const COLON = 0x3a;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_S = 0x73;

/** What the token of one message says. */
export interface Token {
  sender: number;
  seq: number;
  /** Send time in microseconds on the generator's clock. */
  sentUs: number;
}

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
 * messageText("bench.k3j2h1x9:", 2, 17, 1732712345678123, 48);
 * // "bench.k3j2h1x9:2:17:1732712345678123:xxxxxxxxxx"
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

/**
 * Reads the token that follows a marker ending at `at` in `text`: a
 * {@linkcode Token}, a barrier index as `{ sync }`, or undefined when the
 * characters there are not a well-formed token.
 *
 * @example
 * ```ts
 * readToken("bench.k3j2h1x9:2:17:1732712345678123:xx", 15); // { sender: 2, seq: 17, sentUs: 1732712345678123 }
 * readToken("bench.k3j2h1x9:s1:", 15); // { sync: 1 }
 * ```
 */
export function readToken(text: string, at: number): Token | { sync: number } | undefined {
  if (text.charCodeAt(at) === LOWER_S) {
    const sync = readNumber(text, at + 1);
    return sync === undefined ? undefined : { sync: sync.value };
  }
  const sender = readNumber(text, at);
  if (sender === undefined) return undefined;
  const seq = readNumber(text, sender.next);
  if (seq === undefined) return undefined;
  const sent = readNumber(text, seq.next);
  if (sent === undefined) return undefined;
  return { sender: sender.value, seq: seq.value, sentUs: sent.value };
}

/** Decimal digits at `at` ended by ":"; `next` is the index after the colon. */
function readNumber(text: string, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let i = at;
  for (; i < text.length && i - at < TIME_DIGITS; i++) {
    const c = text.charCodeAt(i);
    if (c === COLON) break;
    if (c < ZERO || c > NINE) return undefined;
    value = value * 10 + (c - ZERO);
  }
  if (i === at || text.charCodeAt(i) !== COLON) return undefined;
  return { value, next: i + 1 };
}
