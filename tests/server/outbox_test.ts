// Unit tests for one connection's outgoing data (lib/server/outbox.ts), over
// in-memory writers: fast, a few bytes per call, blocked, and broken.

import assert from "node:assert/strict";
import { Outbox } from "../../lib/server/outbox.ts";
import { MemoryStore } from "../../lib/server/store.ts";
import { BrokenWriter, MemoryWriter, settle } from "./_writers.ts";

const encoder = new TextEncoder();
const ME = 7;
const OTHER = 8;

/** A stored line of exactly `size` bytes (at least 12), naming its seq. */
function line(seq: number, size = 0): string {
  const head = `{"seq":${seq}`;
  const pad = Math.max(0, size - head.length - 9);
  return `${head},"p":"${"x".repeat(pad)}"}\n`;
}

/** Stores one message by `author` and returns its line. */
function post(store: MemoryStore, author: number, size = 0): string {
  let text = "";
  store.append((seq) => encoder.encode(text = line(seq, size)), author);
  return text;
}

function reply(text: string): Uint8Array {
  return encoder.encode(`${text}\n`);
}

Deno.test("writes queued replies before the streamed history", async () => {
  const store = new MemoryStore();
  const history = [post(store, OTHER), post(store, OTHER), post(store, OTHER)].join("");
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.reply(reply('{"status":"ok"}'));
  outbox.startStream(1, store.lastSeq + 1);
  outbox.close();
  await pump;
  assert.equal(writer.text, `{"status":"ok"}\n${history}`);
});

Deno.test("sends nothing from the history before startStream", async () => {
  const store = new MemoryStore();
  post(store, OTHER);
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.reply(reply('{"status":"error","reason":"login required"}'));
  assert.equal(outbox.notify(), true);
  await settle();
  post(store, OTHER);
  outbox.notify();
  outbox.close();
  await pump;
  assert.equal(writer.text, '{"status":"error","reason":"login required"}\n');
});

Deno.test("streams from the given seq only", async () => {
  const store = new MemoryStore();
  const lines = [post(store, OTHER), post(store, OTHER), post(store, OTHER), post(store, OTHER)];
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.startStream(3, 5);
  outbox.close();
  await pump;
  assert.equal(writer.text, lines[2] + lines[3]);
});

Deno.test("delivers replay, live messages and replies exactly once and in order through a writer that takes 5 bytes per call", async () => {
  const store = new MemoryStore();
  const expected: string[] = [];
  for (let i = 0; i < 20; i++) expected.push(post(store, OTHER, 40));
  const writer = new MemoryWriter({ maxPerWrite: 5 });
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20, batchBytes: 256 });
  const pump = outbox.run();
  outbox.startStream(1, store.lastSeq + 1);
  for (let round = 0; round < 30; round++) {
    expected.push(post(store, OTHER, 20 + round));
    outbox.notify();
    if (round % 3 === 0) await settle();
  }
  outbox.close();
  await pump;
  assert.equal(writer.text, expected.join(""));
  assert.ok(writer.writes.every((w) => w.length <= 5));
});

Deno.test("never splits or repeats a reply queued while a write is partly done", async () => {
  const store = new MemoryStore();
  const writer = new MemoryWriter({ maxPerWrite: 3 });
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  const sent: string[] = [];
  for (let i = 0; i < 30; i++) {
    const text = `{"status":"ok","id":"${i}"}`;
    sent.push(`${text}\n`);
    outbox.reply(reply(text));
    if (i % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  outbox.close();
  await pump;
  assert.equal(writer.text, sent.join(""));
});

Deno.test("coalesces many stored messages into a few large writes", async () => {
  const store = new MemoryStore();
  const lines: string[] = [];
  for (let i = 0; i < 2000; i++) lines.push(post(store, OTHER));
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.reply(reply('{"status":"ok"}'));
  outbox.startStream(1, store.lastSeq + 1);
  await settle();
  assert.equal(writer.text, `{"status":"ok"}\n${lines.join("")}`);
  assert.ok(writer.writes.length <= 2, `${writer.writes.length} writes for 2000 messages`);
  // Live messages stored while the pump sleeps go out together too.
  const live: string[] = [];
  for (let i = 0; i < 500; i++) {
    live.push(post(store, OTHER));
    outbox.notify();
  }
  const before = writer.writes.length;
  outbox.close();
  await pump;
  assert.equal(writer.writes.length - before, 1);
  assert.equal(writer.text, `{"status":"ok"}\n${lines.join("")}${live.join("")}`);
});

Deno.test("keeps each coalesced write near batchBytes", async () => {
  const store = new MemoryStore();
  const lines: string[] = [];
  for (let i = 0; i < 1000; i++) lines.push(post(store, OTHER, 100));
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20, batchBytes: 4096 });
  const pump = outbox.run();
  outbox.startStream(1, store.lastSeq + 1);
  outbox.close();
  await pump;
  assert.equal(writer.text, lines.join(""));
  // 100 000 bytes in writes of about 4 KiB: neither one per message nor one in all.
  assert.ok(
    writer.writes.length >= 20 && writer.writes.length <= 30,
    `${writer.writes.length} writes`,
  );
  assert.ok(writer.writes.every((w) => w.length <= 4096 + 100));
});

Deno.test("skips the connection's own messages", async () => {
  const store = new MemoryStore();
  const theirs = [post(store, OTHER)];
  post(store, ME);
  post(store, ME);
  theirs.push(post(store, OTHER));
  post(store, ME);
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.startStream(1, 1);
  await settle();
  theirs.push(post(store, OTHER));
  outbox.notify();
  post(store, ME);
  outbox.close();
  await pump;
  assert.equal(writer.text, theirs.join(""));
});

Deno.test("fails with send queue full when live bytes since login exceed the limit", async () => {
  const store = new MemoryStore();
  const writer = new MemoryWriter({ blocked: true });
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1000 });
  const pump = outbox.run();
  outbox.startStream(1, 1);
  const first = post(store, OTHER, 100);
  outbox.notify();
  await settle();
  assert.equal(writer.blocked, 1, "the first message is being written, and stuck");
  // Exactly at the limit is still fine.
  for (let i = 0; i < 10; i++) {
    post(store, OTHER, 100);
    assert.equal(outbox.notify(), true, `message ${i + 1}`);
  }
  assert.equal(outbox.queuedBytes, 1000);
  assert.equal(outbox.failure, undefined);
  post(store, OTHER, 1);
  assert.equal(outbox.notify(), false);
  assert.equal(outbox.failure, "send queue full");
  assert.equal(outbox.reply(reply('{"status":"ok"}')), false, "a failed outbox takes no replies");
  writer.release();
  await pump;
  assert.equal(writer.text, first);
});

Deno.test("a burst over the limit does not fail a reader that is not stuck in a write", async () => {
  // A server that stalled (CPU, GC) reads a burst from every sender before
  // any pump runs: a reader that had read everything is not a slow reader.
  const store = new MemoryStore();
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1000 });
  const pump = outbox.run();
  outbox.startStream(1, 1);
  await settle();
  const burst: string[] = [];
  for (let i = 0; i < 50; i++) {
    burst.push(post(store, OTHER, 100));
    assert.equal(outbox.notify(), true, `message ${i + 1}`);
  }
  assert.equal(outbox.queuedBytes, 5000);
  await settle();
  assert.equal(outbox.failure, undefined);
  assert.equal(outbox.queuedBytes, 0, "all of it was written at the pump's next turn");
  outbox.close();
  await pump;
  assert.equal(writer.text, burst.join(""));
});

Deno.test("fails when a live message arrives while a write is stuck", async () => {
  const store = new MemoryStore();
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 500 });
  const pump = outbox.run();
  outbox.startStream(1, 1);
  post(store, OTHER, 100);
  outbox.notify();
  await settle();
  writer.block();
  post(store, OTHER, 100);
  outbox.notify();
  await settle();
  assert.equal(writer.blocked, 1, "the second message is being written");
  let ok = true;
  for (let i = 0; i < 10 && ok; i++) {
    post(store, OTHER, 100);
    ok = outbox.notify();
  }
  assert.equal(ok, false);
  assert.equal(outbox.failure, "send queue full");
  writer.release();
  await pump;
});

Deno.test("does not count history from before login against the limit", async () => {
  const store = new MemoryStore();
  const history: string[] = [];
  for (let i = 0; i < 100; i++) history.push(post(store, OTHER, 100));
  const writer = new MemoryWriter({ blocked: true });
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1000, batchBytes: 512 });
  const pump = outbox.run();
  assert.equal(outbox.reply(reply('{"status":"ok"}')), true);
  outbox.startStream(1, store.lastSeq + 1);
  await settle();
  // 10 000 bytes of replay are waiting behind a blocked writer: not a slow reader yet.
  const live = [post(store, OTHER, 100)];
  assert.equal(outbox.notify(), true);
  assert.equal(outbox.failure, undefined);
  assert.ok(outbox.queuedBytes <= 1000, `${outbox.queuedBytes} bytes counted`);
  writer.release();
  await settle();
  live.push(post(store, OTHER, 100));
  assert.equal(outbox.notify(), true);
  outbox.close();
  await pump;
  assert.equal(writer.text, `{"status":"ok"}\n${history.join("")}${live.join("")}`);
});

Deno.test("counts queued replies against the limit", async () => {
  const store = new MemoryStore();
  const writer = new MemoryWriter({ blocked: true });
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 100 });
  const pump = outbox.run();
  assert.equal(outbox.reply(new Uint8Array(60)), true);
  assert.equal(outbox.reply(new Uint8Array(40)), true);
  await settle();
  assert.equal(outbox.reply(new Uint8Array(60)), true, "what is being written no longer counts");
  assert.equal(outbox.reply(new Uint8Array(41)), false);
  assert.equal(outbox.failure, "send queue full");
  writer.release();
  await pump;
});

Deno.test("does not count the connection's own messages against the limit", async () => {
  const store = new MemoryStore();
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1000 });
  const pump = outbox.run();
  outbox.reply(reply('{"status":"ok"}'));
  outbox.startStream(1, 1);
  await settle();
  // The connection posts 5000 bytes; they are never sent back to it.
  for (let i = 0; i < 50; i++) {
    outbox.authored(store.append((seq) => encoder.encode(line(seq, 100)), ME));
  }
  assert.ok(outbox.queuedBytes <= 1000, `${outbox.queuedBytes} bytes counted`);
  const theirs = post(store, OTHER, 100);
  assert.equal(outbox.notify(), true);
  assert.equal(outbox.failure, undefined);
  outbox.close();
  await pump;
  assert.equal(writer.text, `{"status":"ok"}\n${theirs}`);
});

Deno.test("close() lets everything queued be written, then run() resolves", async () => {
  const store = new MemoryStore();
  const lines = [post(store, OTHER), post(store, OTHER)];
  const writer = new MemoryWriter({ blocked: true });
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  let finished = false;
  const pump = outbox.run().then(() => finished = true);
  outbox.reply(reply('{"status":"ok"}'));
  outbox.startStream(1, 3);
  lines.push(post(store, OTHER));
  outbox.notify();
  outbox.close();
  await settle();
  assert.equal(finished, false, "run() waits for the blocked write");
  assert.equal(
    outbox.reply(reply('{"status":"late"}')),
    false,
    "a closing outbox takes no replies",
  );
  writer.release();
  await pump;
  assert.equal(writer.text, `{"status":"ok"}\n${lines.join("")}`);
  assert.equal(outbox.failure, undefined);
});

Deno.test("run() resolves at once after close() when nothing is queued", async () => {
  const outbox = new Outbox(new MemoryWriter(), new MemoryStore(), ME, { sendQueueBytes: 100 });
  const pump = outbox.run();
  await settle();
  outbox.close();
  await pump;
});

Deno.test("drained() resolves once everything waiting has been taken", async () => {
  const store = new MemoryStore();
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.startStream(1, 1);
  const lines = [post(store, OTHER), post(store, OTHER)];
  outbox.notify();
  assert.equal(outbox.idle, false);
  await outbox.drained();
  assert.equal(outbox.idle, true);
  outbox.close();
  await pump;
  assert.equal(writer.text, lines.join(""));
});

Deno.test("run() rejects when the writer throws", async () => {
  const store = new MemoryStore();
  const writer = new BrokenWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.reply(reply('{"status":"ok"}'));
  await assert.rejects(pump, (error) => error === writer.error);
  assert.equal(outbox.reply(reply('{"status":"ok"}')), false, "a dead outbox takes no replies");
});

Deno.test("run() rejects when the writer fails part way through a stream", async () => {
  const store = new MemoryStore();
  for (let i = 0; i < 100; i++) post(store, OTHER, 100);
  const writer = new BrokenWriter(2);
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20, batchBytes: 1000 });
  const pump = outbox.run();
  outbox.startStream(1, 101);
  await assert.rejects(pump, (error) => error === writer.error);
  assert.ok(writer.written >= 2000 && writer.written < 10_000);
});

Deno.test("fails rather than skip ahead when live messages it never sent leave a limited history", async () => {
  const store = new MemoryStore({ historyLimit: 3 });
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  outbox.startStream(1, 1);
  // Five messages arrive before it is woken: the first two are gone.
  for (let i = 0; i < 5; i++) post(store, OTHER);
  assert.equal(outbox.notify(), false);
  assert.equal(outbox.failure, "fell behind the history limit");
  await outbox.run();
  assert.equal(writer.text, "");
});

Deno.test("a replay that starts before a limited history is what the limit means, not a failure", async () => {
  const store = new MemoryStore({ historyLimit: 3 });
  const kept = [0, 1, 2, 3, 4].map(() => post(store, OTHER)).slice(2).join("");
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.startStream(1, store.lastSeq + 1);
  outbox.close();
  await pump;
  assert.equal(outbox.failure, undefined);
  assert.equal(writer.text, kept);
});

/** A memory store whose messages become visible only when told, like a durable one's after fsync. */
class GatedStore extends MemoryStore {
  visible = 0;
  override get visibleSeq(): number {
    return Math.min(this.visible, this.lastSeq);
  }
  override read(fromSeq: number, maxBytes: number, skipAuthor: number, upTo = Infinity) {
    return super.read(fromSeq, maxBytes, skipAuthor, Math.min(upTo, this.visibleSeq));
  }
  override bytesFrom(fromSeq: number): number {
    return super.bytesFrom(fromSeq, this.visibleSeq);
  }
}

Deno.test("writes each extra frame after the stored messages visible when it was queued, in order", async () => {
  const store = new MemoryStore();
  const m1 = post(store, OTHER), m2 = post(store, OTHER);
  const writer = new MemoryWriter({ blocked: true });
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.startStream(1, store.lastSeq + 1);
  assert.equal(outbox.extra(reply('{"event":"who"}'), store.visibleSeq), true);
  const m3 = post(store, OTHER);
  const mine = post(store, ME);
  outbox.authored(store.lastSeq);
  outbox.extra(reply('{"event":"join"}'), store.visibleSeq);
  outbox.extra(reply('{"event":"leave"}'), store.visibleSeq);
  const m5 = post(store, OTHER);
  outbox.notify();
  assert.equal(outbox.idle, false);
  writer.release();
  outbox.close();
  await pump;
  assert.ok(!writer.text.includes(mine), "its own message is skipped");
  assert.equal(
    writer.text,
    `${m1}${m2}{"event":"who"}\n${m3}{"event":"join"}\n{"event":"leave"}\n${m5}`,
  );
});

Deno.test("an extra frame waits for no message that is not yet visible, and overtakes none that is", async () => {
  const store = new GatedStore();
  store.visible = 1;
  const m1 = post(store, OTHER), m2 = post(store, OTHER), m3 = post(store, OTHER);
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.startStream(1, 1);
  outbox.extra(reply('{"event":"who"}'), store.visibleSeq);
  await settle();
  assert.equal(writer.text, `${m1}{"event":"who"}\n`, "sent before the fsync of 2 and 3");
  store.visible = 3;
  outbox.notify();
  outbox.close();
  await pump;
  assert.equal(writer.text, `${m1}{"event":"who"}\n${m2}${m3}`);
});

Deno.test("extra frames count against the send queue limit, and a failed outbox takes none", async () => {
  const store = new MemoryStore();
  const writer = new MemoryWriter({ blocked: true });
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1000 });
  const pump = outbox.run();
  outbox.startStream(1, 1);
  const event = encoder.encode(line(0, 100));
  assert.equal(outbox.extra(event, 0), true, "frame 1");
  await settle();
  assert.equal(writer.blocked, 1, "the first frame is being written, and stuck");
  for (let i = 1; i < 11; i++) assert.equal(outbox.extra(event, 0), true, `frame ${i + 1}`);
  assert.equal(outbox.queuedBytes, 1000);
  const stored = post(store, OTHER);
  assert.equal(outbox.notify(), false);
  assert.equal(outbox.failure, "send queue full");
  assert.equal(outbox.extra(event, 0), false);
  assert.equal(outbox.queuedBytes, stored.length, "the extra frames it held are dropped");
  writer.release();
  await pump;
  assert.equal(writer.text, line(0, 100), "only the frame already in the write went out");
});

Deno.test("a reply after a fence waits for the extra frames before it, and the replies after it for it", async () => {
  const store = new MemoryStore();
  const m1 = post(store, OTHER, 100);
  const writer = new MemoryWriter({ blocked: true });
  // A batch that holds one frame: each reply is taken in a write of its own.
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20, batchBytes: 16 });
  const pump = outbox.run();
  outbox.startStream(1, store.lastSeq + 1);
  outbox.reply(reply('{"status":"ok","id":"before"}'));
  outbox.extra(reply('{"event":"who"}'), store.visibleSeq);
  outbox.fence();
  outbox.reply(reply('{"status":"error","reason":"malformed JSON"}'));
  const m2 = post(store, OTHER, 100);
  outbox.notify();
  outbox.reply(reply('{"status":"ok","id":"after"}'));
  writer.release();
  outbox.close();
  await pump;
  assert.equal(
    writer.text,
    `{"status":"ok","id":"before"}\n${m1}{"event":"who"}\n` +
      `{"status":"error","reason":"malformed JSON"}\n{"status":"ok","id":"after"}\n${m2}`,
  );
});

Deno.test("once the frames before a fence are written, replies go ahead of stored messages again", async () => {
  const store = new MemoryStore();
  const writer = new MemoryWriter();
  const outbox = new Outbox(writer, store, ME, { sendQueueBytes: 1 << 20 });
  const pump = outbox.run();
  outbox.startStream(1, store.lastSeq + 1);
  outbox.extra(reply('{"event":"who"}'), store.visibleSeq);
  outbox.fence();
  await outbox.drained();
  writer.block();
  const m1 = post(store, OTHER);
  outbox.notify();
  outbox.reply(reply('{"status":"ok"}'));
  writer.release();
  outbox.close();
  await pump;
  assert.equal(writer.text, `{"event":"who"}\n{"status":"ok"}\n${m1}`);
});
