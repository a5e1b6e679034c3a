// Unit tests for the bounded line framing of PROTOCOL.md §1 (lib/lines.ts).

import assert from "node:assert/strict";
import { type LineError, LineSplitter, MIN_HOLD_BYTES } from "../lib/lines.ts";

type Event = { line: string } | { error: LineError };

const encoder = new TextEncoder();

/** A splitter that records everything it reports, in order. */
function recorder(maxLineBytes: number): { splitter: LineSplitter; events: Event[] } {
  const events: Event[] = [];
  const splitter = new LineSplitter(maxLineBytes, {
    line: (line) => events.push({ line }),
    error: (error) => events.push({ error }),
  });
  return { splitter, events };
}

/** Feeds `chunks` in order (then end(), unless told not to) and returns the events. */
function split(maxLineBytes: number, chunks: Uint8Array[], end = true): Event[] {
  const { splitter, events } = recorder(maxLineBytes);
  for (const chunk of chunks) splitter.push(chunk);
  if (end) splitter.end();
  return events;
}

function bytes(...parts: (string | number[])[]): Uint8Array {
  const pieces = parts.map((p) => typeof p === "string" ? encoder.encode(p) : Uint8Array.from(p));
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of pieces) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function byteByByte(data: Uint8Array): Uint8Array[] {
  return Array.from(data, (b) => Uint8Array.of(b));
}

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What PROTOCOL.md §1 says a receiver makes of a whole stream, computed the
 * obvious way (split everything at "\n"), to compare the streaming splitter with.
 */
function reference(maxLineBytes: number, data: Uint8Array, end: boolean): Event[] {
  const events: Event[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let start = 0;
  while (start <= data.length) {
    let stop = data.indexOf(0x0a, start);
    if (stop === -1) {
      // An unfinished line is reported as soon as it cannot fit any more.
      if (!end && data.length - start > maxLineBytes + 1) events.push({ error: "line too long" });
      if (!end || start === data.length) break;
      stop = data.length;
    }
    let line = data.subarray(start, stop);
    start = stop + 1;
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
    if (line.length > maxLineBytes) {
      events.push({ error: "line too long" });
      continue;
    }
    if (line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0b || b === 0x0c)) {
      continue;
    }
    try {
      events.push({ line: decoder.decode(line) });
    } catch {
      events.push({ error: "invalid UTF-8" });
    }
  }
  return events;
}

const FRAMES =
  '{"command":"login","nickname":"bob"}\r\n{"message":"hé ✓ 😀"}\n\n  \n{"message":"x"}\n';
const FRAME_EVENTS: Event[] = [
  { line: '{"command":"login","nickname":"bob"}' },
  { line: '{"message":"hé ✓ 😀"}' },
  { line: '{"message":"x"}' },
];

Deno.test("splits a stream into its lines and drops their terminators", () => {
  assert.deepEqual(split(1024, [encoder.encode(FRAMES)]), FRAME_EVENTS);
});

Deno.test("delivers the same lines whichever byte boundary a read splits the stream at", () => {
  const data = encoder.encode(FRAMES);
  for (let cut = 0; cut <= data.length; cut++) {
    const events = split(1024, [data.subarray(0, cut), data.subarray(cut)]);
    assert.deepEqual(events, FRAME_EVENTS, `split at byte ${cut}`);
  }
});

Deno.test("delivers the same lines when the stream arrives one byte at a time", () => {
  assert.deepEqual(split(1024, byteByByte(encoder.encode(FRAMES))), FRAME_EVENTS);
});

Deno.test("delivers each line as soon as its newline arrives, before end()", () => {
  const { splitter, events } = recorder(64);
  splitter.push(encoder.encode("one\ntw"));
  assert.deepEqual(events, [{ line: "one" }]);
  splitter.push(encoder.encode("o\n"));
  assert.deepEqual(events, [{ line: "one" }, { line: "two" }]);
  splitter.end();
  assert.deepEqual(events, [{ line: "one" }, { line: "two" }]);
});

Deno.test("reassembles 2-, 3- and 4-byte UTF-8 characters split across reads", () => {
  for (const char of ["é", "ß", "€", "✓", "中", "😀", "𝄞"]) {
    const data = encoder.encode(`a${char}b\n`);
    assert.ok(data.length >= 4);
    for (let cut = 1; cut < data.length; cut++) {
      const events = split(16, [data.subarray(0, cut), data.subarray(cut)]);
      assert.deepEqual(events, [{ line: `a${char}b` }], `${char} split at byte ${cut}`);
    }
    assert.deepEqual(split(16, byteByByte(data)), [{ line: `a${char}b` }]);
  }
});

Deno.test("drops one trailing CR, and only one", () => {
  assert.deepEqual(split(64, [encoder.encode("a\r\nb\r\r\nc\rd\n")]), [
    { line: "a" },
    { line: "b\r" },
    { line: "c\rd" },
  ]);
});

Deno.test("drops a trailing CR that arrives in a read of its own", () => {
  assert.deepEqual(split(64, [encoder.encode("abc"), encoder.encode("\r"), encoder.encode("\n")]), [
    { line: "abc" },
  ]);
});

Deno.test("skips blank and all-white-space lines", () => {
  const data = encoder.encode("\n\r\n \n\t\t\n \r\n\u000b\u000c\nx\n   \n");
  assert.deepEqual(split(64, [data]), [{ line: "x" }]);
  assert.deepEqual(split(64, byteByByte(data)), [{ line: "x" }]);
});

Deno.test("keeps white space around other text", () => {
  assert.deepEqual(split(64, [encoder.encode("  {} \t\n")]), [{ line: "  {} \t" }]);
});

Deno.test("reports an oversize line exactly once and discards it", () => {
  assert.deepEqual(split(8, [encoder.encode("123456789\n")]), [{ error: "line too long" }]);
  assert.deepEqual(split(8, [encoder.encode(`${"x".repeat(1000)}\n`)]), [
    { error: "line too long" },
  ]);
});

Deno.test("reports an oversize line that arrives over many reads exactly once", () => {
  const { splitter, events } = recorder(10);
  for (let i = 0; i < 200; i++) splitter.push(encoder.encode("abcdefg"));
  splitter.push(encoder.encode("\n"));
  splitter.end();
  assert.deepEqual(events, [{ error: "line too long" }]);
});

Deno.test("reports an oversize line before its end arrives", () => {
  const { splitter, events } = recorder(10);
  splitter.push(encoder.encode("x".repeat(50)));
  assert.deepEqual(events, [{ error: "line too long" }]);
});

Deno.test("never buffers more than the cap plus one byte", () => {
  const cap = 16;
  for (const chunkSize of [1, 3, 7, 16, 17, 40]) {
    const { splitter, events } = recorder(cap);
    let most = 0;
    const piece = encoder.encode("y".repeat(chunkSize));
    for (let sent = 0; sent < 10_000; sent += chunkSize) {
      splitter.push(piece);
      most = Math.max(most, splitter.bufferedBytes);
    }
    assert.ok(most <= cap + 1, `held ${most} bytes with reads of ${chunkSize}`);
    splitter.push(encoder.encode("\nok\n"));
    assert.deepEqual(events, [{ error: "line too long" }, { line: "ok" }]);
    assert.equal(splitter.bufferedBytes, 0);
  }
});

Deno.test("buffers only the unfinished line", () => {
  const { splitter } = recorder(64);
  splitter.push(encoder.encode("done\nhalf"));
  assert.equal(splitter.bufferedBytes, 4);
  splitter.push(encoder.encode("\n"));
  assert.equal(splitter.bufferedBytes, 0);
});

Deno.test("delivers a good line right after an oversize one", () => {
  const data = encoder.encode(`${"z".repeat(30)}\n{"ok":1}\n`);
  const expected: Event[] = [{ error: "line too long" }, { line: '{"ok":1}' }];
  assert.deepEqual(split(10, [data]), expected);
  assert.deepEqual(split(10, byteByByte(data)), expected);
  for (let cut = 0; cut <= data.length; cut++) {
    assert.deepEqual(
      split(10, [data.subarray(0, cut), data.subarray(cut)]),
      expected,
      `cut ${cut}`,
    );
  }
});

Deno.test("delivers a line of exactly the cap, with or without a CR", () => {
  const line = "c".repeat(12);
  for (const ending of ["\n", "\r\n"]) {
    const data = encoder.encode(`${line}${ending}`);
    assert.deepEqual(split(12, [data]), [{ line }]);
    assert.deepEqual(split(12, byteByByte(data)), [{ line }]);
  }
});

Deno.test("rejects a line of the cap plus one byte, however it is split", () => {
  const data = encoder.encode(`${"c".repeat(13)}\r\n`);
  assert.deepEqual(split(12, [data]), [{ error: "line too long" }]);
  assert.deepEqual(split(12, byteByByte(data)), [{ error: "line too long" }]);
});

Deno.test("counts the cap in bytes, not characters", () => {
  // Four 3-byte characters: 4 characters, 12 bytes.
  assert.deepEqual(split(12, [encoder.encode("✓✓✓✓\n")]), [{ line: "✓✓✓✓" }]);
  assert.deepEqual(split(11, [encoder.encode("✓✓✓✓\n")]), [{ error: "line too long" }]);
});

Deno.test("fails only the line that carries invalid UTF-8", () => {
  const data = bytes(
    "good\n",
    [0x61, 0xff, 0x62],
    "\n",
    [0xc3],
    "\n",
    "é\n",
    [0xed, 0xa0, 0x80],
    "\nlast\n",
  );
  const expected: Event[] = [
    { line: "good" },
    { error: "invalid UTF-8" },
    { error: "invalid UTF-8" },
    { line: "é" },
    { error: "invalid UTF-8" },
    { line: "last" },
  ];
  assert.deepEqual(split(64, [data]), expected);
  assert.deepEqual(split(64, byteByByte(data)), expected);
});

Deno.test("end() delivers an unterminated last line", () => {
  const { splitter, events } = recorder(64);
  splitter.push(encoder.encode('{"a":1}\n{"b":2}'));
  assert.deepEqual(events, [{ line: '{"a":1}' }]);
  splitter.end();
  assert.deepEqual(events, [{ line: '{"a":1}' }, { line: '{"b":2}' }]);
  assert.equal(splitter.bufferedBytes, 0);
});

Deno.test("end() drops a trailing CR and skips a blank tail", () => {
  assert.deepEqual(split(64, [encoder.encode("tail\r")]), [{ line: "tail" }]);
  assert.deepEqual(split(64, [encoder.encode("x\n  ")]), [{ line: "x" }]);
  assert.deepEqual(split(64, []), []);
});

Deno.test("end() reports nothing more for an oversize line already reported", () => {
  assert.deepEqual(split(4, [encoder.encode("123456789")]), [{ error: "line too long" }]);
});

Deno.test("refuses a cap that is not a positive integer", () => {
  const sink = { line() {}, error() {} };
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => new LineSplitter(bad, sink), RangeError);
  }
});

Deno.test("does not keep a reference to a read buffer the caller reuses", () => {
  const { splitter, events } = recorder(64);
  const buffer = encoder.encode("abc");
  splitter.push(buffer);
  buffer.set(encoder.encode("XYZ"));
  splitter.push(encoder.encode("\n"));
  assert.deepEqual(events, [{ line: "abc" }]);
});

Deno.test("agrees with a whole-stream reference on random streams split at random", () => {
  const random = prng(1337);
  // Text, terminators, white space, multibyte characters and invalid bytes.
  const alphabet: number[][] = [
    [0x61],
    [0x62],
    [0x0a],
    [0x0a],
    [0x0d],
    [0x0d, 0x0a],
    [0x20],
    [0x09],
    [0xc3, 0xa9],
    [0xe2, 0x9c, 0x93],
    [0xf0, 0x9f, 0x98, 0x80],
    [0xff],
    [0xe2, 0x9c],
  ];
  for (let round = 0; round < 3000; round++) {
    const cap = 1 + Math.floor(random() * 12);
    const symbols: number[] = [];
    const length = Math.floor(random() * 40);
    for (let i = 0; i < length; i++) {
      symbols.push(...alphabet[Math.floor(random() * alphabet.length)]);
    }
    const data = Uint8Array.from(symbols);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < data.length;) {
      const size = 1 + Math.floor(random() * 8);
      chunks.push(data.subarray(at, at + size));
      at += size;
    }
    const end = random() < 0.5;
    const { splitter, events } = recorder(cap);
    for (const chunk of chunks) {
      splitter.push(chunk);
      assert.ok(splitter.bufferedBytes <= cap + 1);
    }
    if (end) splitter.end();
    assert.deepEqual(events, reference(cap, data, end), `round ${round}: ${data} cap ${cap}`);
  }
});

// Memory (issue 16): what an unfinished line takes, however small its reads.

/** Bytes of this isolate's heap and off-heap buffers in use right now. */
function memoryInUse(): number {
  const usage = Deno.memoryUsage();
  return usage.heapUsed + usage.external;
}

Deno.test("holds a line sent one byte per read in about its own length of memory", () => {
  const { splitter, events } = recorder(1 << 20);
  const record = Uint8Array.of(0x61);
  const before = memoryInUse();
  for (let i = 0; i < 64_000; i++) splitter.push(record);
  // Garbage included (the buffers outgrown on the way): a copy per read took ~13 MB.
  const grew = memoryInUse() - before;
  assert.ok(grew < 2_000_000, `64,000 one-byte reads took ${grew} bytes`);
  assert.equal(splitter.bufferedBytes, 64_000);
  assert.ok(splitter.retainedBytes <= 2 * 64_000, `retained ${splitter.retainedBytes}`);
  splitter.push(encoder.encode("\n"));
  assert.deepEqual(events, [{ line: "a".repeat(64_000) }]);
});

Deno.test("retains at most about twice the unfinished line's length, whatever the read sizes", () => {
  const random = prng(16);
  const cap = 100_000;
  const { splitter, events } = recorder(cap);
  let sent = 0;
  while (sent < 90_000) {
    const size = 1 + Math.floor(random() * (random() < 0.9 ? 16 : 4000));
    splitter.push(new Uint8Array(size).fill(0x62));
    sent += size;
    assert.equal(splitter.bufferedBytes, sent);
    const bound = Math.min(Math.max(2 * sent, MIN_HOLD_BYTES), cap + 1);
    assert.ok(splitter.retainedBytes <= bound, `${splitter.retainedBytes} held for ${sent}`);
  }
  splitter.push(encoder.encode("\n"));
  assert.deepEqual(events, [{ line: "b".repeat(sent) }]);
});

Deno.test("releases an unfinished line's memory once the line ends, is cut or overflows", () => {
  const { splitter, events } = recorder(1000);
  assert.equal(splitter.retainedBytes, 0);
  splitter.push(encoder.encode("done\npart"));
  assert.ok(splitter.retainedBytes > 0);
  splitter.push(encoder.encode("ial\n"));
  assert.equal(splitter.retainedBytes, 0);
  splitter.push(encoder.encode("x".repeat(600)));
  splitter.push(encoder.encode("y".repeat(600)));
  assert.equal(splitter.retainedBytes, 0, "an overflowing line is dropped, not held");
  splitter.push(encoder.encode("\ntail"));
  splitter.end();
  assert.equal(splitter.retainedBytes, 0);
  assert.deepEqual(events, [
    { line: "done" },
    { line: "partial" },
    { error: "line too long" },
    { line: "tail" },
  ]);
});

Deno.test("never retains more than the cap plus one byte", () => {
  const cap = 1000;
  const { splitter } = recorder(cap);
  for (let i = 0; i < cap; i++) {
    splitter.push(Uint8Array.of(0x63));
    assert.ok(splitter.retainedBytes <= cap + 1, `${splitter.retainedBytes}`);
  }
  splitter.push(Uint8Array.of(0x0d));
  assert.equal(splitter.retainedBytes, cap + 1);
});
