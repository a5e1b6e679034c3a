// Unit tests for the in-memory history (lib/server/store.ts).

import assert from "node:assert/strict";
import { concatBytes } from "../../lib/bytes.ts";
import {
  ARENA_CHUNK_BYTES,
  MemoryStore,
  type ReadResult,
  restartProofFirstSeq,
} from "../../lib/server/store.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The wire line a test stores for `seq`: its text names the seq, so order is visible. */
function wire(seq: number, text = `m${seq}`): Uint8Array {
  return encoder.encode(`{"message":"${text}","seq":${seq}}\n`);
}

function concat(pieces: Uint8Array[]): Uint8Array {
  return concatBytes(pieces, pieces.reduce((n, p) => n + p.length, 0));
}

/** Reads everything from `fromSeq` in one go, as text. */
function readAll(store: MemoryStore, fromSeq: number, skipAuthor = -1): string {
  const result = store.read(fromSeq, Number.MAX_SAFE_INTEGER, skipAuthor);
  assert.equal(result.bytes, result.pieces.reduce((n, p) => n + p.length, 0));
  return decoder.decode(concat(result.pieces));
}

/** Appends messages `texts`, each by its author, and returns what each stored line was. */
function fill(store: MemoryStore, messages: { author: number; text?: string }[]): string[] {
  const lines: string[] = [];
  for (const { author, text } of messages) {
    store.append((seq) => {
      const bytes = wire(seq, text);
      lines.push(decoder.decode(bytes));
      return bytes;
    }, author);
  }
  return lines;
}

Deno.test("starts empty", () => {
  const store = new MemoryStore();
  assert.equal(store.lastSeq, 0);
  assert.equal(store.firstSeq, 1);
  assert.equal(store.bytesFrom(1), 0);
  assert.deepEqual(store.read(1, 1024, -1), { pieces: [], bytes: 0, next: 1 });
});

Deno.test("numbers messages from 1, one more per message, and tells encode the seq", () => {
  const store = new MemoryStore();
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    const seq = store.append((seq) => {
      seen.push(seq);
      return wire(seq);
    }, 1);
    assert.equal(seq, i + 1);
    assert.equal(store.lastSeq, i + 1);
  }
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
});

Deno.test("reads back the exact wire bytes of every message from a seq, in order", () => {
  const store = new MemoryStore();
  const lines = fill(store, [{ author: 1 }, { author: 2, text: "héllo ✓ 😀" }, { author: 1 }, {
    author: 3,
  }]);
  assert.equal(readAll(store, 1), lines.join(""));
  assert.equal(readAll(store, 2), lines.slice(1).join(""));
  assert.equal(readAll(store, 4), lines[3]);
  assert.equal(readAll(store, 5), "");
  assert.equal(readAll(store, 0), lines.join(""), "seq 0 reads from the start");
});

Deno.test("says where to read next", () => {
  const store = new MemoryStore();
  fill(store, [{ author: 1 }, { author: 1 }, { author: 1 }]);
  assert.equal(store.read(1, Number.MAX_SAFE_INTEGER, -1).next, 4);
  assert.equal(store.read(3, Number.MAX_SAFE_INTEGER, -1).next, 4);
  assert.equal(store.read(9, Number.MAX_SAFE_INTEGER, -1).next, 9);
});

Deno.test("keeps a message's bytes even if encode's buffer is reused afterwards", () => {
  const store = new MemoryStore();
  const buffer = wire(1);
  store.append(() => buffer, 1);
  const before = decoder.decode(buffer);
  buffer.fill(0x21);
  assert.equal(readAll(store, 1), before);
});

Deno.test("leaves out the messages of the skipped author", () => {
  const store = new MemoryStore();
  const lines = fill(store, [
    { author: 7 },
    { author: 8 },
    { author: 7 },
    { author: 7 },
    { author: 9 },
    { author: 7 },
  ]);
  assert.equal(readAll(store, 1, 7), lines[1] + lines[4]);
  assert.equal(readAll(store, 1, 8), lines[0] + lines[2] + lines[3] + lines[4] + lines[5]);
  assert.equal(readAll(store, 1, 42), lines.join(""));
});

Deno.test("reports nothing left, and the end as next, when only skipped messages remain", () => {
  const store = new MemoryStore();
  fill(store, [{ author: 1 }, { author: 7 }, { author: 7 }]);
  const result = store.read(2, 1024, 7);
  assert.deepEqual(result, { pieces: [], bytes: 0, next: 4 });
});

Deno.test("batches reads by maxBytes, overshooting by at most one message", () => {
  const store = new MemoryStore();
  const lines = fill(
    store,
    Array.from({ length: 50 }, (_, i) => ({ author: 1, text: "x".repeat(i % 7) })),
  );
  for (const maxBytes of [1, 20, 45, 100, 100_000]) {
    let from = 1;
    let text = "";
    let batches = 0;
    while (from <= store.lastSeq) {
      const result: ReadResult = store.read(from, maxBytes, -1);
      const count = result.next - from;
      assert.ok(count >= 1, "a read makes progress");
      const got = decoder.decode(concat(result.pieces));
      assert.equal(got, lines.slice(from - 1, result.next - 1).join(""));
      assert.equal(result.bytes, encoder.encode(got).length);
      // Without its last message, a batch is under maxBytes ("about maxBytes").
      const last = encoder.encode(lines[result.next - 2]).length;
      assert.ok(
        result.bytes - last < maxBytes,
        `batch of ${result.bytes} for maxBytes ${maxBytes}`,
      );
      text += got;
      from = result.next;
      batches++;
    }
    assert.equal(text, lines.join(""));
    if (maxBytes === 1) assert.equal(batches, 50, "maxBytes 1 reads one message at a time");
    if (maxBytes === 100_000) assert.equal(batches, 1);
  }
});

Deno.test("reads at least one message even when it is larger than maxBytes", () => {
  const store = new MemoryStore();
  const lines = fill(store, [{ author: 1, text: "y".repeat(500) }, { author: 1 }]);
  const result = store.read(1, 10, -1);
  assert.equal(decoder.decode(concat(result.pieces)), lines[0]);
  assert.equal(result.next, 2);
  assert.equal(store.read(1, 0, -1).next, 2);
});

Deno.test("gives consecutive messages as one slice", () => {
  const store = new MemoryStore();
  const lines = fill(store, Array.from({ length: 100 }, () => ({ author: 1 })));
  const result = store.read(1, Number.MAX_SAFE_INTEGER, -1);
  assert.equal(result.pieces.length, 1);
  assert.equal(decoder.decode(result.pieces[0]), lines.join(""));
});

Deno.test("counts the bytes from a seq to the newest message", () => {
  const store = new MemoryStore();
  const lines = fill(store, [{ author: 1, text: "a" }, { author: 2, text: "ééé" }, {
    author: 1,
    text: "😀",
  }]);
  const sizes = lines.map((line) => encoder.encode(line).length);
  assert.equal(store.bytesFrom(1), sizes[0] + sizes[1] + sizes[2]);
  assert.equal(store.bytesFrom(0), sizes[0] + sizes[1] + sizes[2]);
  assert.equal(store.bytesFrom(2), sizes[1] + sizes[2]);
  assert.equal(store.bytesFrom(3), sizes[2]);
  assert.equal(store.bytesFrom(4), 0);
  assert.equal(store.bytesFrom(100), 0);
});

Deno.test("reads across arena chunks without losing or reordering a byte", () => {
  const store = new MemoryStore();
  // Messages of about a fifth of a chunk: the arena fills and a new chunk starts.
  const size = Math.floor(ARENA_CHUNK_BYTES / 5);
  const lines = fill(
    store,
    Array.from(
      { length: 12 },
      (_, i) => ({ author: 1, text: String.fromCharCode(97 + i).repeat(size) }),
    ),
  );
  const total = lines.reduce((n, line) => n + line.length, 0);
  assert.ok(total > 2 * ARENA_CHUNK_BYTES, "the messages span at least three chunks");
  const result = store.read(1, Number.MAX_SAFE_INTEGER, -1);
  assert.ok(result.pieces.length >= 3, "one slice per chunk");
  assert.ok(result.pieces.length < 12, "consecutive messages in a chunk share a slice");
  assert.equal(decoder.decode(concat(result.pieces)), lines.join(""));
  assert.equal(store.bytesFrom(1), total);
  // Every start point, so every chunk boundary is crossed from both sides.
  for (let from = 1; from <= 12; from++) {
    assert.equal(readAll(store, from), lines.slice(from - 1).join(""), `from ${from}`);
    assert.equal(readAll(store, from, 1), "");
  }
});

Deno.test("stores a message larger than an arena chunk, and messages around it", () => {
  const store = new MemoryStore();
  const lines = fill(store, [
    { author: 1, text: "before" },
    { author: 2, text: "B".repeat(ARENA_CHUNK_BYTES + 1000) },
    { author: 1, text: "after" },
    { author: 2, text: "C".repeat(ARENA_CHUNK_BYTES * 2) },
  ]);
  assert.equal(readAll(store, 1), lines.join(""));
  assert.equal(readAll(store, 2, 1), lines[1] + lines[3]);
  assert.equal(readAll(store, 3), lines[2] + lines[3]);
  assert.equal(readAll(store, 3, 2), lines[2]);
  assert.equal(store.bytesFrom(2), lines[1].length + lines[2].length + lines[3].length);
  const one = store.read(2, 1, -1);
  assert.equal(decoder.decode(concat(one.pieces)), lines[1]);
  assert.equal(one.next, 3);
});

Deno.test("keeps every message when it grows past its initial capacity", () => {
  const store = new MemoryStore();
  const count = 5000;
  const lines = fill(store, Array.from({ length: count }, (_, i) => ({ author: i % 3 })));
  assert.equal(store.lastSeq, count);
  assert.equal(readAll(store, 1), lines.join(""));
  for (const from of [1, 1023, 1024, 1025, 2048, 2049, 4096, 4097, 5000]) {
    const expected = lines.slice(from - 1).join("");
    assert.equal(readAll(store, from), expected, `from ${from}`);
    assert.equal(store.bytesFrom(from), encoder.encode(expected).length, `bytes from ${from}`);
  }
  assert.equal(
    readAll(store, 4990, 0),
    lines.slice(4989).filter((_, i) => (4989 + i) % 3 !== 0).join(""),
  );
});

Deno.test("is durable at once", async () => {
  const store = new MemoryStore();
  const seq = store.append(wire, 1);
  assert.equal(await store.whenDurable(seq), seq);
});

Deno.test("with a history limit, keeps and replays only the newest messages", () => {
  const store = new MemoryStore({ historyLimit: 3 });
  for (let i = 1; i <= 10; i++) store.append((seq) => new TextEncoder().encode(`m${seq}\n`), 1);
  assert.equal(store.lastSeq, 10);
  assert.equal(store.firstSeq, 8);
  const all = store.read(1, 1 << 20, 0);
  assert.equal(new TextDecoder().decode(concat(all.pieces)), "m8\nm9\nm10\n");
  assert.equal(all.next, 11);
  assert.equal(store.bytesFrom(1), "m8\nm9\nm10\n".length);
  assert.equal(store.bytesFrom(10), 4);
});

Deno.test("with a history limit, memory stays bounded over many messages and chunks", () => {
  const store = new MemoryStore({ historyLimit: 1000 });
  const text = "x".repeat(2000);
  for (let i = 1; i <= 20_000; i++) {
    store.append((seq) => new TextEncoder().encode(`${seq} ${text}\n`), i % 3);
  }
  assert.equal(store.firstSeq, 19_001);
  const read = store.read(0, 1 << 30, -1);
  const lines = new TextDecoder().decode(concat(read.pieces)).trimEnd().split("\n");
  assert.equal(lines.length, 1000);
  assert.deepEqual(
    lines.map((l) => Number(l.split(" ")[0])),
    Array.from({ length: 1000 }, (_, i) => 19_001 + i),
  );
  // Own messages are still skipped after the index moved.
  const skipping = store.read(0, 1 << 30, 1);
  const kept = new TextDecoder().decode(concat(skipping.pieces)).trimEnd().split("\n");
  assert.ok(kept.every((l) => Number(l.split(" ")[0]) % 3 !== 1));
});

Deno.test("skipTo: an empty store loading a history that starts later starts at its seq", () => {
  const store = new MemoryStore();
  store.skipTo(41, true);
  assert.equal(store.lastSeq, 40);
  assert.equal(store.firstSeq, 41);
  assert.equal(store.bytesFrom(1), 0);
  assert.equal(store.append((seq) => wire(seq), 1), 41);
  assert.equal(readAll(store, 1), decoder.decode(wire(41)));
  assert.equal(store.bytesFrom(1), wire(41).length);
});

Deno.test("skipTo: a hole in the seqs holds nothing and is read over", () => {
  const store = new MemoryStore();
  store.append((seq) => wire(seq), 1);
  store.append((seq) => wire(seq), 2);
  store.skipTo(10);
  store.skipTo(5); // Backwards: ignored.
  assert.equal(store.lastSeq, 9);
  assert.equal(store.append((seq) => wire(seq), 1), 10);
  assert.equal(readAll(store, 1), [1, 2, 10].map((seq) => decoder.decode(wire(seq))).join(""));
  assert.equal(readAll(store, 3), decoder.decode(wire(10)));
  assert.equal(readAll(store, 1, 1), decoder.decode(wire(2)));
  assert.equal(store.bytesFrom(3), wire(10).length);
  const read = store.read(3, 1, -1);
  assert.equal(read.next, 11);
});

Deno.test("skipTo: an empty store live skips the hole, so readers waiting at seq 1 lose nothing", () => {
  for (const hole of [3, 2 ** 40]) {
    const store = new MemoryStore();
    store.skipTo(hole);
    assert.equal(store.firstSeq, 1);
    assert.equal(store.lastSeq, hole - 1);
    assert.deepEqual(store.read(1, 100, -1), { pieces: [], bytes: 0, next: hole });
    store.append((seq) => wire(seq), 1);
    assert.equal(readAll(store, 1), decoder.decode(wire(hole)));
  }
});

Deno.test("skipTo: holes of any size cost the same few bytes, and reads cross them exactly", () => {
  const store = new MemoryStore();
  const rssBefore = Deno.memoryUsage().rss;
  const expected: number[] = [];
  // 1,000 jumps of 2^40 seqs each (2^50 in all), with two messages after each.
  for (let hole = 1; hole <= 1000; hole++) {
    store.skipTo(store.lastSeq + 2 ** 40);
    store.skipTo(store.lastSeq - 5); // Backwards: ignored.
    for (let i = 0; i < 2; i++) expected.push(store.append((seq) => wire(seq), hole % 2));
  }
  const grewMiB = (Deno.memoryUsage().rss - rssBefore) / 2 ** 20;
  // Filling the holes would take 24 bytes per seq: 27 PiB here.
  assert.ok(grewMiB < 32, `memory grew ${grewMiB.toFixed(1)} MiB for 1,000 holes`);
  assert.equal(expected[0], 2 ** 40);
  assert.equal(store.lastSeq, expected.at(-1));
  assert.ok(Number.isSafeInteger(store.lastSeq));
  const text = (seqs: number[]) => seqs.map((seq) => decoder.decode(wire(seq))).join("");
  assert.equal(readAll(store, 1), text(expected));
  // From inside a hole, from a message, from the second message of a run.
  assert.equal(readAll(store, expected[4] - 2 ** 39), text(expected.slice(4)));
  assert.equal(readAll(store, expected[4]), text(expected.slice(4)));
  assert.equal(readAll(store, expected[5]), text(expected.slice(5)));
  assert.equal(readAll(store, 1, 1), text(expected.filter((_, i) => Math.floor(i / 2) % 2 === 1)));
  assert.equal(store.bytesFrom(expected[10] - 1), text(expected.slice(10)).length);
  // Read in small batches: `next` lands on the next message's seq, across each hole.
  const batched: number[] = [];
  for (let from = 1, read: ReadResult; from <= store.lastSeq; from = read.next) {
    read = store.read(from, 1, -1);
    const lines = decoder.decode(concat(read.pieces)).trimEnd().split("\n");
    batched.push(...lines.map((line) => JSON.parse(line).seq));
    assert.equal(read.next, expected[batched.length] ?? store.lastSeq + 1);
  }
  assert.deepEqual(batched, expected);
});

Deno.test("skipTo with a history limit: the oldest seq moves past a hole only as its messages go", () => {
  const store = new MemoryStore({ historyLimit: 3 });
  store.append((seq) => wire(seq), 1); // 1
  store.append((seq) => wire(seq), 1); // 2
  store.skipTo(2 ** 45);
  for (let i = 0; i < 2; i++) store.append((seq) => wire(seq), 1); // 2^45, 2^45 + 1
  // Message 1 was dropped: readers after it lose nothing.
  assert.equal(store.firstSeq, 2);
  store.append((seq) => wire(seq), 1);
  // Message 2 went too: a reader anywhere in the hole has lost nothing.
  assert.equal(store.firstSeq, 3);
  assert.equal(readAll(store, 3), [0, 1, 2].map((i) => decoder.decode(wire(2 ** 45 + i))).join(""));
  assert.equal(readAll(store, 1), readAll(store, 3));
  assert.equal(store.bytesFrom(2 ** 45 + 1), wire(2 ** 45 + 1).length + wire(2 ** 45 + 2).length);
  // Many holes under a small limit: the list of runs is trimmed along with the messages.
  for (let i = 0; i < 5000; i++) {
    store.skipTo(store.lastSeq + 3);
    store.append((seq) => wire(seq), 1);
  }
  const last = store.lastSeq;
  assert.equal(
    readAll(store, 1),
    [last - 6, last - 3, last].map((s) => decoder.decode(wire(s))).join(""),
  );
  assert.equal(store.firstSeq, last - 8);
});

Deno.test("firstSeq: numbers from the given seq on, and a since from before it replays everything", () => {
  const start = restartProofFirstSeq(new Date("2027-01-01T00:00:00Z"));
  assert.equal(start, 1_798_761_600_000_000);
  assert.ok(Number.isSafeInteger(start));
  const store = new MemoryStore({ firstSeq: start });
  assert.deepEqual([store.firstSeq, store.lastSeq, store.visibleSeq], [
    start,
    start - 1,
    start - 1,
  ]);
  fill(store, [{ author: 1 }, { author: 1 }]);
  assert.equal(store.lastSeq, start + 1);
  assert.equal(readAll(store, 1), decoder.decode(concat([wire(start), wire(start + 1)])));
  assert.throws(() => new MemoryStore({ firstSeq: 0 }), RangeError);
});

Deno.test("a start one millisecond later leaves an earlier life room for a thousand messages (a million a second)", () => {
  const earlier = restartProofFirstSeq(new Date(1_800_000_000_000));
  const later = restartProofFirstSeq(new Date(1_800_000_000_001));
  assert.equal(later - earlier, 1000, "one millisecond later leaves room for 1000 messages");
});

Deno.test("read and bytesFrom stop after upTo; read says to read on from the first seq it left", () => {
  const store = new MemoryStore();
  fill(store, [{ author: 1 }, { author: 1 }, { author: 1 }]);
  const result = store.read(1, Number.MAX_SAFE_INTEGER, -1, 2);
  assert.equal(decoder.decode(concat(result.pieces)), decoder.decode(concat([wire(1), wire(2)])));
  assert.equal(result.next, 3);
  assert.deepEqual(store.read(3, 1 << 20, -1, 2).pieces, []);
  assert.equal(store.bytesFrom(1, 2), wire(1).length + wire(2).length);
  assert.equal(store.bytesFrom(3, 2), 0);
});
