// Property-based fuzzing of the server's input side with fast-check, shared by
// tests/fault/fuzz_test.ts (CI-sized) and bench/soak.ts (many more runs).
//
// Each generated case is a byte stream one client writes, cut into random
// chunks. A small model of PROTOCOL.md §1, §3, §5, §6 and §8, written here
// independently of lib/ (a copy of the server's own decoder would agree with
// any bug in it), says what every line in the stream must produce: nothing
// (a blank line), exactly one {"status":"error"} answer, or a relay to the
// other clients (plus an ack when it carries an id). After the case a
// sentinel frame checks that the same connection still works, and a second
// client checks that exactly the expected messages were relayed, in order.

import fc from "fast-check";
import { concatBytes } from "../../lib/bytes.ts";
import { DEFAULT_LIMITS } from "../../lib/server/limits.ts";
import { type Frame, LineClient, type Target } from "./line_client.ts";
import { sleep } from "../../lib/deadline.ts";

const MAX_LINE = DEFAULT_LIMITS.maxLineBytes;
const MAX_MESSAGE = DEFAULT_LIMITS.maxMessageBytes;
const MAX_ID_CHARS = 64;
const encoder = new TextEncoder();
const LF = 0x0a;

/** What one line of a client's stream must produce. */
export type Expected = { kind: "error" } | { kind: "relay"; text: string; id?: string };

/** Counts of what a fuzz run sent and saw. */
export interface FuzzFigures {
  runs: number;
  lines: number;
  errors: number;
  relays: number;
  bytes: number;
}

/** The server under fuzz: where it listens, and its history's last seq (replays start after it). */
export interface FuzzTarget extends Target {
  store: { readonly lastSeq: number };
}

/** The fuzz runs' parameters. */
export interface FuzzOptions {
  numRuns: number;
  seed: number;
}

// ---------------------------------------------------------------- the model

/** True when `bytes` is only ASCII white space (such a line is skipped, §1). */
function blank(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0b || b === 0x0c);
}

/** UTF-8 length as a sender's encoder counts it (a lone surrogate becomes U+FFFD, 3 bytes). */
function utf8Bytes(text: string): number {
  return encoder.encode(text).length;
}

/**
 * What a logged-in server must do with one parsed JSON value (§5, §6, §8):
 * any command is an error (the only command is login, and it is logged in
 * already); a message must be a non-empty string of at most 16 KiB, and
 * valid Unicode (no lone surrogate); an id, when present and not null, a
 * string of at most 64 characters, valid Unicode too.
 */
export function classifyLoggedIn(value: unknown): Expected {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { kind: "error" };
  const frame = value as Record<string, unknown>;
  if (Object.hasOwn(frame, "command")) return { kind: "error" };
  if (!Object.hasOwn(frame, "message")) return { kind: "error" };
  const { message, id } = frame;
  if (id !== undefined && id !== null) {
    if (typeof id !== "string" || [...id].length > MAX_ID_CHARS || !id.isWellFormed()) {
      return { kind: "error" };
    }
  }
  if (
    typeof message !== "string" || message === "" || !message.isWellFormed() ||
    utf8Bytes(message) > MAX_MESSAGE
  ) {
    return { kind: "error" };
  }
  return typeof id === "string"
    ? { kind: "relay", text: message, id }
    : { kind: "relay", text: message };
}

/**
 * Splits a stream that ends in "\n" into lines as §1 says (one trailing "\r"
 * dropped, blank lines skipped, a line over the limit refused) and says what
 * each must produce. Before login every line is an error (§3): the cases
 * make sure none of them is a login that could succeed.
 */
export function expectedForStream(stream: Uint8Array, loggedIn: boolean): Expected[] {
  const out: Expected[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let start = 0;
  while (start < stream.length) {
    let end = stream.indexOf(LF, start);
    if (end === -1) end = stream.length;
    let line = stream.subarray(start, end);
    start = end + 1;
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
    if (line.length > MAX_LINE) {
      out.push({ kind: "error" });
      continue;
    }
    if (blank(line)) continue;
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(line));
    } catch {
      out.push({ kind: "error" });
      continue;
    }
    out.push(loggedIn ? classifyLoggedIn(value) : { kind: "error" });
  }
  return out;
}

// ------------------------------------------------------------ the arbitraries

/** Text of every kind: any code point, lone surrogates, controls, separators. */
const anyText = fc.string({
  unit: fc.oneof(
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    fc.constantFrom("\n", "\r", "\u2028", "\u0085", "\u202e", "\u200b", "\ufeff", '"', "\\"),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 40,
});

/** A message text right around the 16 KiB limit, in 1- to 4-byte characters. */
const edgeText = fc.tuple(fc.constantFrom("x", "é", "€", "😀"), fc.integer({ min: -3, max: 3 }))
  .map(([char, delta]) => char.repeat(Math.floor(MAX_MESSAGE / utf8Bytes(char)) + delta));

/** An id right around the 64-character limit (astral characters count once). */
const edgeId = fc.tuple(fc.constantFrom("i", "😀"), fc.integer({ min: 62, max: 66 }))
  .map(([char, n]) => char.repeat(n));

const messageText = fc.oneof({ weight: 6, arbitrary: anyText }, { weight: 1, arbitrary: edgeText });

const json = fc.jsonValue({ maxDepth: 3 });

/** Objects shaped like a message, with every field right, wrong or missing. */
const messageLike = fc.record({
  message: fc.oneof({ weight: 5, arbitrary: messageText }, { weight: 1, arbitrary: json }),
  id: fc.oneof(fc.constant(undefined), fc.constant(null), anyText, edgeId, json),
  from: fc.oneof(fc.constant(undefined), anyText),
  time: fc.oneof(fc.constant(undefined), anyText, json),
  seq: fc.oneof(fc.constant(undefined), json),
}, { requiredKeys: ["message"] });

/** Logins that cannot succeed (a wrong type, or a nickname against the rules). */
const badLogin = fc.record({
  command: fc.constant("login"),
  nickname: fc.oneof(
    json.filter((v) => typeof v !== "string"),
    fc.constantFrom(
      "",
      " bob",
      "bob ",
      "x".repeat(33),
      "bell\u0007",
      "evil\u202eeve",
      "zw\u200bsp",
    ),
  ),
  since: fc.oneof(fc.constant(undefined), json),
});

/** Objects shaped like a command other than a possible login. */
const commandLike = fc.oneof(
  badLogin,
  fc.record({
    command: fc.oneof(anyText.filter((c) => c !== "login"), json.filter((c) => c !== "login")),
    nickname: fc.oneof(fc.constant(undefined), anyText),
  }),
);

/** One JSON value as a client might send it. Never a login that could succeed. */
export const frameValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: messageLike },
  { weight: 2, arbitrary: commandLike },
  { weight: 2, arbitrary: json.filter((v) => !isPossibleLogin(v)) },
  { weight: 1, arbitrary: fc.dictionary(anyText, json) },
);

function isPossibleLogin(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const frame = value as Record<string, unknown>;
  return frame.command === "login" && typeof frame.nickname === "string";
}

/** A value encoded the way a client encodes it: JSON text (never a raw newline inside). */
const valueBytes = frameValue.map((value) => encoder.encode(JSON.stringify(value) ?? "null"));

/** Bytes that matter to framing, JSON and UTF-8. */
const sharpByte = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.constantFrom(
    0x0a,
    0x0d,
    0x20,
    0x22,
    0x5c,
    0x7b,
    0x7d,
    0x3a,
    0x2c,
    0x00,
    0x80,
    0xc3,
    0xed,
    0xf0,
    0xff,
  ),
);

type Mutation =
  | { op: "flip"; at: number; bit: number }
  | { op: "set"; at: number; byte: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "delete"; at: number; length: number }
  | { op: "truncate"; at: number }
  | { op: "duplicate"; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    op: fc.constant("flip" as const),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), byte: sharpByte }),
  fc.record({
    op: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.array(sharpByte, { minLength: 1, maxLength: 4 }).map((b) => Uint8Array.from(b)),
  }),
  fc.record({
    op: fc.constant("delete" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    op: fc.constant("duplicate" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 8 }),
  }),
);

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const at = bytes.length === 0 ? 0 : m.at % (bytes.length + 1);
  const before = bytes.subarray(0, at);
  switch (m.op) {
    case "flip":
    case "set": {
      if (at >= bytes.length) return bytes;
      const out = bytes.slice();
      out[at] = m.op === "flip" ? out[at] ^ (1 << m.bit) : m.byte;
      return out;
    }
    case "insert":
      return concatBytes([before, m.bytes, bytes.subarray(at)]);
    case "delete":
      return concatBytes([before, bytes.subarray(at + m.length)]);
    case "truncate":
      return bytes.slice(0, at);
    case "duplicate":
      return concatBytes([bytes.subarray(0, at + m.length), bytes.subarray(at)]);
  }
}

/** A valid frame with a few byte-level mutations. */
const mutatedBytes = fc.tuple(valueBytes, fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([bytes, mutations]) => mutations.reduce(mutate, bytes));

/** Random bytes, and random runs of JSON-ish tokens. */
const noiseBytes = fc.oneof(
  fc.uint8Array({ maxLength: 120 }),
  fc.array(
    fc.constantFrom(
      "{",
      "}",
      "[",
      "]",
      '"message"',
      '"command"',
      '"login"',
      '"id"',
      ":",
      ",",
      '"',
      "\\",
      "\\u",
      "null",
      "1e999",
      "-0",
      "\r",
      "\n",
      " ",
      "\u2028",
      '"\ud800"',
    ),
    { maxLength: 30 },
  ).map((tokens) => encoder.encode(tokens.join(""))),
);

/** A line at the 64 KiB limit, just under or just over it. */
const longLine = fc.integer({ min: -2, max: 2 }).map((delta) => {
  const head = encoder.encode('{"message":"');
  const tail = encoder.encode('"}');
  const fill = new Uint8Array(MAX_LINE + delta - head.length - tail.length).fill(0x79);
  return concatBytes([head, fill, tail]);
});

/** One piece of a stream (it may hold newlines of its own). */
const piece = fc.oneof(
  { weight: 5, arbitrary: valueBytes },
  { weight: 4, arbitrary: mutatedBytes },
  { weight: 2, arbitrary: noiseBytes },
  {
    weight: 1,
    arbitrary: fc.constantFrom("", " ", "\r", "\t \u000b").map((s) => encoder.encode(s)),
  },
);

/** A stream of pieces joined by "\n" or "\r\n", and where to cut it into writes. */
export const streamCase = fc.record({
  pieces: fc.array(
    fc.oneof({ weight: 30, arbitrary: piece }, { weight: 1, arbitrary: longLine }),
    { minLength: 1, maxLength: 8 },
  ),
  crlf: fc.boolean(),
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
});

/** Values that are not logins, for a client that has not logged in (at most 8: 10 failed logins close it). */
export const preLoginCase = fc.record({
  values: fc.array(frameValue.filter((v) => !isPossibleLogin(v)), { minLength: 1, maxLength: 8 }),
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
});

/** Valid messages, and where the writes are cut or the stream ends. */
export const cutStreamCase = fc.record({
  messages: fc.array(
    fc.record({
      text: messageText.filter((t) => t !== "" && utf8Bytes(t) <= MAX_MESSAGE),
      withId: fc.boolean(),
    }),
    { minLength: 1, maxLength: 12 },
  ),
  cuts: fc.array(fc.nat(), { maxLength: 10 }),
  /**
   * Where the stream stops before the client half-closes: anywhere, or right
   * before (or 1–2 bytes before) the "\n" of a frame. Undefined: never.
   */
  stop: fc.option(
    fc.oneof(
      fc.record({ at: fc.nat() }),
      fc.record({ frame: fc.nat(), back: fc.integer({ min: 0, max: 2 }) }),
    ),
    { nil: undefined },
  ),
});

// ---------------------------------------------------------------- the runner

/** Writes `bytes` in pieces cut at `cuts` (taken modulo the length), yielding between writes. */
async function writeInPieces(
  client: LineClient,
  bytes: Uint8Array,
  cuts: number[],
): Promise<void> {
  const points = [...new Set(cuts.map((c) => bytes.length === 0 ? 0 : c % bytes.length))]
    .filter((c) => c > 0).sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, bytes.length]) {
    let offset = from;
    while (offset < to) offset += await client.conn.write(bytes.subarray(offset, to));
    from = to;
    if (to < bytes.length) await sleep(0);
  }
}

/**
 * The fuzz harness around one in-process server: a receiver that sees every
 * relay, and a fresh sender per case.
 */
export class Fuzzer {
  readonly figures: FuzzFigures = { runs: 0, lines: 0, errors: 0, relays: 0, bytes: 0 };
  readonly #server: FuzzTarget;
  readonly #receiver: LineClient;
  readonly #marker: LineClient;
  #next = 0;

  private constructor(server: FuzzTarget, receiver: LineClient, marker: LineClient) {
    this.#server = server;
    this.#receiver = receiver;
    this.#marker = marker;
  }

  static async start(server: FuzzTarget): Promise<Fuzzer> {
    const receiver = await LineClient.login(server, "receiver");
    const marker = await LineClient.login(server, "marker");
    return new Fuzzer(server, receiver, marker);
  }

  async close(): Promise<void> {
    await this.#receiver.close();
    await this.#marker.close();
  }

  /** A logged-in client writes `stream` (ending in "\n"), cut at `cuts`; checks every answer and relay. */
  async loggedIn(stream: Uint8Array, cuts: number[]): Promise<void> {
    const expected = expectedForStream(stream, true);
    const nick = `f${++this.#next}`;
    const sender = await LineClient.login(this.#server, nick, this.#server.store.lastSeq);
    try {
      await writeInPieces(sender, stream, cuts);
      await this.#finish(sender, nick, expected);
      this.#count(stream.length, expected);
    } finally {
      await sender.close();
    }
  }

  /** A client that has not logged in writes `stream`: every line is refused, nothing is stored. */
  async beforeLogin(stream: Uint8Array, cuts: number[]): Promise<void> {
    const expected = expectedForStream(stream, false);
    const nick = `p${++this.#next}`;
    const stored = this.#server.store.lastSeq;
    const sender = await LineClient.connect(this.#server);
    try {
      await writeInPieces(sender, stream, cuts);
      // The login that follows must still work (and replays nothing: since = what was stored).
      await sender.send({ command: "login", nickname: nick, since: stored });
      const answers = await this.#answersUntil(sender, (f) => f.status === "ok" && !("id" in f));
      this.#checkAnswers(answers, expected.length, []);
      if (this.#server.store.lastSeq !== stored) {
        throw new Error(`${this.#server.store.lastSeq - stored} messages stored before login`);
      }
      await this.#finish(sender, nick, []);
      this.#count(stream.length, expected);
    } finally {
      await sender.close();
    }
  }

  /**
   * A logged-in client writes valid messages cut into pieces; with `stop`
   * it half-closes there, possibly mid-frame. Everything complete is relayed
   * in order and acked (a last frame without its "\n" too); a frame cut off
   * is one error.
   */
  async cutStream(
    messages: { text: string; withId: boolean }[],
    cuts: number[],
    stop: { at: number } | { frame: number; back: number } | undefined,
  ): Promise<void> {
    const nick = `c${++this.#next}`;
    const lines = messages.map((m, i) =>
      encoder.encode(
        JSON.stringify(m.withId ? { message: m.text, id: `${nick}-${i}` } : { message: m.text }) +
          "\n",
      )
    );
    const stream = concatBytes(lines);
    const sender = await LineClient.login(this.#server, nick, this.#server.store.lastSeq);
    try {
      const ends = lines.map((_, i) => lines.slice(0, i + 1).reduce((n, l) => n + l.length, 0) - 1);
      const stopAt = stop === undefined
        ? undefined
        : "at" in stop
        ? stop.at % stream.length
        : Math.max(0, ends[stop.frame % ends.length] - stop.back);
      if (stopAt === undefined) {
        await writeInPieces(sender, stream, cuts);
        const expected = expectedForStream(stream, true);
        await this.#finish(sender, nick, expected);
        this.#count(stream.length, expected);
        return;
      }
      const sent = stream.subarray(0, stopAt);
      await writeInPieces(sender, sent, cuts);
      await sender.conn.closeWrite();
      // A peer that is done sending: its last frame counts even without "\n" (§1 via the server).
      const expected = expectedForStream(concatBytes([sent, encoder.encode("\n")]), true);
      const answers: Frame[] = [];
      while (true) {
        const frame = await sender.next(5000).catch((e: Error) => e);
        if (frame instanceof Error) {
          if (!/closed/.test(frame.message)) throw frame;
          break;
        }
        answers.push(frame);
      }
      this.#checkAnswers(
        answers,
        expected.filter((e) => e.kind === "error").length,
        ackIds(expected),
      );
      // Once the sender is gone, a marker message bounds what it may have relayed.
      const mark = `mark-${nick}`;
      await this.#marker.send({ message: mark });
      await this.#checkRelays(nick, expected, (f) => f.from === "marker" && f.message === mark);
      this.#count(sent.length, expected);
    } finally {
      await sender.close();
    }
  }

  /** Sends the sentinel, checks the answers and the relays up to it. */
  async #finish(sender: LineClient, nick: string, expected: Expected[]): Promise<void> {
    const sentinel = `sentinel-${nick}`;
    await sender.send({ message: sentinel, id: sentinel });
    const answers = await this.#answersUntil(sender, (f) => f.status === "ok" && f.id === sentinel);
    this.#checkAnswers(
      answers,
      expected.filter((e) => e.kind === "error").length,
      ackIds(expected),
    );
    const late = await sender.quiet(0);
    if (late.length > 0) throw new Error(`answers after the sentinel's ack: ${late.join(" ")}`);
    await this.#checkRelays(nick, expected, (f) => f.from === nick && f.message === sentinel);
  }

  #count(bytes: number, expected: Expected[]): void {
    this.figures.runs++;
    this.figures.bytes += bytes;
    this.figures.lines += expected.length;
    this.figures.errors += expected.filter((e) => e.kind === "error").length;
    this.figures.relays += expected.filter((e) => e.kind === "relay").length;
  }

  async #answersUntil(client: LineClient, last: (frame: Frame) => boolean): Promise<Frame[]> {
    const answers: Frame[] = [];
    while (true) {
      const frame = await client.next(5000);
      if (last(frame)) return answers;
      answers.push(frame);
    }
  }

  /** Exactly `errors` error answers, and an ack for each of `acks` (ids, in any order). */
  #checkAnswers(answers: Frame[], errors: number, acks: string[]): void {
    const got = answers.filter((a) => a.status === "error");
    for (const error of got) {
      if (typeof error.reason !== "string" || error.reason === "") {
        throw new Error(`an error answer without a reason: ${JSON.stringify(error)}`);
      }
    }
    const acked = answers.filter((a) => a.status === "ok").map((a) => String(a.id));
    const other = answers.filter((a) => a.status !== "ok" && a.status !== "error");
    if (got.length !== errors || other.length > 0 || !sameMultiset(acked, acks)) {
      throw new Error(
        `expected ${errors} errors and acks ${JSON.stringify(acks)}, got ${
          JSON.stringify(answers)
        }`,
      );
    }
  }

  /** The receiver's messages up to `last` are exactly the expected relays from `nick`, in order. */
  async #checkRelays(
    nick: string,
    expected: Expected[],
    last: (f: Frame) => boolean,
  ): Promise<void> {
    const seen: Frame[] = [];
    while (true) {
      const frame = await this.#receiver.next(5000);
      if (last(frame)) break;
      // Frames of other nicknames are left over from an earlier case that failed (while shrinking).
      if (frame.from === nick) seen.push(frame);
    }
    const want = expected.flatMap((e) => e.kind === "relay" ? [e.text] : []);
    const texts = seen.map((f) => f.message);
    if (JSON.stringify(texts) !== JSON.stringify(want)) {
      throw new Error(
        `relayed ${JSON.stringify(seen).slice(0, 2000)}, expected ${
          JSON.stringify(want).slice(0, 2000)
        }`,
      );
    }
  }
}

function ackIds(expected: Expected[]): string[] {
  return expected.flatMap((e) => e.kind === "relay" && e.id !== undefined ? [e.id] : []);
}

function sameMultiset(a: string[], b: string[]): boolean {
  return JSON.stringify(a.toSorted()) === JSON.stringify(b.toSorted());
}

/** The stream of a {@linkcode streamCase}: pieces joined and ended by "\n" or "\r\n". */
export function joinPieces(pieces: Uint8Array[], crlf: boolean): Uint8Array {
  const end = encoder.encode(crlf ? "\r\n" : "\n");
  return concatBytes(pieces.flatMap((p) => [p, end]));
}

/** The stream of a {@linkcode preLoginCase}. */
export function joinValues(values: unknown[]): Uint8Array {
  return encoder.encode(values.map((v) => (JSON.stringify(v) ?? "null") + "\n").join(""));
}

/**
 * Runs the four properties against `server` and returns what was sent.
 * A failure throws fast-check's report (seed, path and the shrunk case).
 */
export async function runFuzz(server: FuzzTarget, options: FuzzOptions): Promise<FuzzFigures> {
  const fuzzer = await Fuzzer.start(server);
  try {
    const params = { numRuns: options.numRuns, seed: options.seed, endOnFailure: false };
    await fc.assert(
      fc.asyncProperty(streamCase, async ({ pieces, crlf, cuts }) => {
        await fuzzer.loggedIn(joinPieces(pieces, crlf), cuts);
      }),
      params,
    );
    await fc.assert(
      fc.asyncProperty(preLoginCase, async ({ values, cuts }) => {
        await fuzzer.beforeLogin(joinValues(values), cuts);
      }),
      params,
    );
    await fc.assert(
      fc.asyncProperty(cutStreamCase, async ({ messages, cuts, stop }) => {
        await fuzzer.cutStream(messages, cuts, stop);
      }),
      params,
    );
    return fuzzer.figures;
  } finally {
    await fuzzer.close();
  }
}
