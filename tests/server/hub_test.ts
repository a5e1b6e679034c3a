// Unit tests for the shared chat state (lib/server/hub.ts): members are real
// outboxes over in-memory writers, and the clock is fake.

import assert from "node:assert/strict";
import { Hub, type Member, type PostResult } from "../../lib/server/hub.ts";
import { Outbox } from "../../lib/server/outbox.ts";
import { MemoryStore } from "../../lib/server/store.ts";
import { formatWireTime, parseWireTime } from "../../lib/time.ts";
import { MemoryWriter, settle } from "./_writers.ts";

const FIXED = Date.UTC(2017, 0, 13, 4, 0, 0);

/** A member as a connection would be: an outbox pumping into a writer, and kicks recorded. */
interface TestMember extends Member {
  writer: MemoryWriter;
  kicks: string[];
  pump: Promise<void>;
}

/** A hub with a fake clock, and the members made for it (closed by `finish`). */
class Harness {
  readonly store = new MemoryStore();
  now = FIXED;
  readonly hub = new Hub({
    store: this.store,
    maxMessageBytes: 64,
    clock: () => new Date(this.now),
  });
  readonly #members: TestMember[] = [];
  #nextId = 1;

  member(
    options: { sendQueueBytes?: number; blocked?: boolean; batchBytes?: number } = {},
  ): TestMember {
    const writer = new MemoryWriter({ blocked: options.blocked });
    const id = this.#nextId++;
    const outbox = new Outbox(writer, this.store, id, {
      sendQueueBytes: options.sendQueueBytes ?? 1 << 20,
      batchBytes: options.batchBytes,
    });
    const kicks: string[] = [];
    const member: TestMember = {
      id,
      outbox,
      writer,
      kicks,
      pump: outbox.run(),
      kick: (reason) => kicks.push(reason),
      cut: (reason) => kicks.push(reason),
    };
    this.#members.push(member);
    return member;
  }

  /** A member logged in as `nickname`. */
  login(nickname: string, since?: number, options = {}): TestMember {
    const member = this.member(options);
    assert.deepEqual(this.hub.login(member, nickname, since), { ok: true });
    return member;
  }

  /** Leaves, closes every outbox and waits until each has written what it owed. */
  async finish(): Promise<void> {
    for (const member of this.#members) {
      this.hub.leave(member);
      member.writer.release();
      member.outbox.close();
    }
    await Promise.all(this.#members.map((m) => m.pump));
  }
}

type Frame = Record<string, unknown>;

/** The seq an accepted post is stored under; throws if the post was refused. */
function stored(result: PostResult): Promise<number> {
  if (!result.ok) throw new Error(`post refused: ${result.reason}`);
  return result.stored;
}

/** The `message` texts of the chat messages a member received, in order. */
function texts(member: TestMember): string[] {
  return (member.writer.frames as Frame[]).filter((f) => "from" in f).map((f) =>
    f.message as string
  );
}

Deno.test('a login queues {"status":"ok"} and then the replay', async () => {
  const h = new Harness();
  const alice = h.login("alice");
  h.hub.post(alice, "one");
  h.hub.post(alice, "two");
  const bob = h.login("bob");
  await h.finish();
  assert.deepEqual(bob.writer.frames, [
    { status: "ok" },
    { from: "alice", message: "one", time: formatWireTime(new Date(FIXED)), seq: 1 },
    { from: "alice", message: "two", time: formatWireTime(new Date(FIXED)), seq: 2 },
  ]);
  assert.equal(bob.nickname, "bob");
  assert.equal(h.hub.size, 0);
});

Deno.test("refuses a nickname in use, whatever its case, and queues nothing", async () => {
  const h = new Harness();
  h.login("Bob");
  for (const name of ["Bob", "bob", "BOB", "bOB"]) {
    const other = h.member();
    const result = h.hub.login(other, name);
    assert.equal(result.ok, false, name);
    if (!result.ok) assert.match(result.reason, /in use/);
    assert.equal(other.nickname, undefined);
    await settle();
    assert.equal(other.writer.text, "", "the connection sends its own error reply");
  }
  assert.equal(h.hub.size, 1);
  await h.finish();
});

Deno.test("treats nicknames that differ only by ß/SS or composition as the same", async () => {
  const h = new Harness();
  h.login("straße");
  assert.equal(h.hub.login(h.member(), "STRASSE").ok, false);
  h.login("Ame\u0301lie");
  assert.equal(h.hub.login(h.member(), "AM\u00c9LIE").ok, false);
  await h.finish();
});

Deno.test("stores the nickname in NFC form", async () => {
  const h = new Harness();
  const amelie = h.login("Ame\u0301lie");
  assert.equal(amelie.nickname, "Am\u00e9lie");
  h.hub.post(amelie, "hi");
  const bob = h.login("bob");
  await h.finish();
  assert.equal((bob.writer.frames as Frame[])[1].from, "Am\u00e9lie");
});

Deno.test("refuses invalid nicknames with the reason", async () => {
  const h = new Harness();
  const cases: [string, RegExp][] = [
    ["", /empty/],
    [" bob", /white space/],
    ["bob\u00a0", /white space/],
    ["b\u202eob", /format/],
    ["bo\u0000b", /control/],
    ["x".repeat(33), /at most 32/],
  ];
  for (const [name, reason] of cases) {
    const member = h.member();
    const result = h.hub.login(member, name);
    assert.equal(result.ok, false, JSON.stringify(name));
    if (!result.ok) assert.match(result.reason, reason, JSON.stringify(name));
    assert.equal(member.nickname, undefined);
  }
  assert.equal(h.hub.size, 0);
  await h.finish();
});

Deno.test("refuses a second login on a logged-in member, and keeps the first name", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  assert.deepEqual(h.hub.login(alice, "carol"), { ok: false, reason: "already logged in" });
  assert.deepEqual(h.hub.login(alice, "alice"), { ok: false, reason: "already logged in" });
  assert.equal(alice.nickname, "alice");
  h.login("carol");
  assert.equal(h.hub.size, 2);
  await h.finish();
  assert.deepEqual(alice.writer.frames, [{ status: "ok" }], "only one ok, one replay");
});

Deno.test("a refused member can log in with another nickname", async () => {
  const h = new Harness();
  h.login("alice");
  const member = h.member();
  assert.equal(h.hub.login(member, "ALICE").ok, false);
  assert.deepEqual(h.hub.login(member, "alice2"), { ok: true });
  await h.finish();
  assert.deepEqual(member.writer.frames, [{ status: "ok" }]);
});

Deno.test("leave frees the nickname at once", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  h.hub.leave(alice);
  assert.equal(h.hub.size, 0);
  h.login("ALICE");
  h.hub.leave(alice);
  assert.equal(h.hub.size, 1, "a second leave does not free the new owner's name");
  h.hub.leave(h.member());
  assert.equal(h.hub.size, 1, "leaving without a login is harmless");
  await h.finish();
});

Deno.test("a member that left is no longer sent new messages", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  const bob = h.login("bob");
  h.hub.post(bob, "before");
  await settle();
  h.hub.leave(alice);
  h.hub.post(bob, "after");
  await settle();
  assert.deepEqual(texts(alice), ["before"]);
  await h.finish();
});

Deno.test("stamps a post with the member's nickname and the server's clock", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  const bob = h.login("bob");
  assert.equal(await stored(h.hub.post(alice, "hello")), 1);
  h.now = FIXED + 61_500;
  assert.equal(await stored(h.hub.post(alice, "later")), 2);
  await h.finish();
  const [, first, second] = bob.writer.frames as Frame[];
  assert.deepEqual(first, {
    from: "alice",
    message: "hello",
    time: formatWireTime(new Date(FIXED)),
    seq: 1,
  });
  assert.deepEqual(second, {
    from: "alice",
    message: "later",
    time: formatWireTime(new Date(FIXED + 61_500)),
    seq: 2,
  });
  // The stamps are the clock's instants, in the wire form.
  assert.equal(parseWireTime(first.time as string)?.date.getTime(), FIXED);
  assert.equal(parseWireTime(second.time as string)?.date.getTime(), FIXED + 61_000);
});

Deno.test("numbers posts consecutively, across members", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  const bob = h.login("bob");
  const seqs = [];
  for (let i = 0; i < 6; i++) seqs.push(stored(h.hub.post(i % 2 ? bob : alice, `m${i}`)));
  assert.deepEqual(await Promise.all(seqs), [1, 2, 3, 4, 5, 6]);
  assert.equal(h.store.lastSeq, 6);
  await h.finish();
});

Deno.test("refuses a post before login, and stores nothing", async () => {
  const h = new Harness();
  const bob = h.login("bob");
  const stranger = h.member();
  assert.deepEqual(h.hub.post(stranger, "hi"), { ok: false, reason: "login required" });
  assert.equal(h.store.lastSeq, 0);
  await h.finish();
  assert.deepEqual(bob.writer.frames, [{ status: "ok" }]);
  assert.equal(stranger.writer.text, "");
});

Deno.test("refuses an empty or oversize message, and relays nothing", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  const bob = h.login("bob");
  const empty = h.hub.post(alice, "");
  assert.equal(empty.ok, false);
  if (!empty.ok) assert.match(empty.reason, /empty/);
  // maxMessageBytes is 64: 22 three-byte characters are 66 bytes.
  const long = h.hub.post(alice, "✓".repeat(22));
  assert.equal(long.ok, false);
  if (!long.ok) assert.match(long.reason, /64 bytes/);
  assert.equal(h.hub.post(alice, "✓".repeat(21)).ok, true, "63 bytes is fine");
  assert.equal(h.store.lastSeq, 1);
  await h.finish();
  assert.deepEqual(texts(bob), ["✓".repeat(21)]);
});

Deno.test("relays a post to every other member but never to its sender", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  const bob = h.login("bob");
  const carol = h.login("carol");
  h.hub.post(alice, "from alice");
  await settle();
  h.hub.post(bob, "from bob");
  await h.finish();
  assert.deepEqual(texts(alice), ["from bob"]);
  assert.deepEqual(texts(bob), ["from alice"]);
  assert.deepEqual(texts(carol), ["from alice", "from bob"]);
  assert.deepEqual((alice.writer.frames as Frame[])[0], { status: "ok" });
});

Deno.test("replays a nickname's own messages from an earlier login", async () => {
  const h = new Harness();
  const first = h.login("alice");
  h.hub.post(first, "said before");
  h.hub.leave(first);
  const again = h.login("alice");
  await h.finish();
  assert.deepEqual(again.writer.frames, [
    { status: "ok" },
    { from: "alice", message: "said before", time: formatWireTime(new Date(FIXED)), seq: 1 },
  ]);
});

Deno.test("with since, replays only messages after that seq", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  for (let i = 1; i <= 5; i++) h.hub.post(alice, `m${i}`);
  const fromThree = h.login("bob", 3);
  const fromZero = h.login("carol", 0);
  const fromLast = h.login("dave", 5);
  h.hub.post(alice, "m6");
  await h.finish();
  assert.deepEqual(texts(fromThree), ["m4", "m5", "m6"]);
  assert.deepEqual((fromThree.writer.frames as Frame[]).slice(1).map((f) => f.seq), [4, 5, 6]);
  assert.deepEqual(texts(fromZero), ["m1", "m2", "m3", "m4", "m5", "m6"]);
  assert.deepEqual(texts(fromLast), ["m6"]);
});

Deno.test("with a since beyond the newest seq, replays the whole history, then every new message", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  h.hub.post(alice, "m1");
  // A client that remembers seq 500 from a server that has since restarted.
  const bob = h.login("bob", 500);
  h.hub.post(alice, "m2");
  h.hub.post(alice, "m3");
  await h.finish();
  assert.deepEqual(texts(bob), ["m1", "m2", "m3"]);
});

Deno.test("a login between two posts sees each message exactly once", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  h.hub.post(alice, "one");
  const bob = h.login("bob");
  h.hub.post(alice, "two");
  await settle();
  h.hub.post(alice, "three");
  await h.finish();
  assert.deepEqual(texts(bob), ["one", "two", "three"]);
});

Deno.test("a login during a long replay joins live traffic without a gap or a duplicate", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  const expected: string[] = [];
  for (let i = 0; i < 300; i++) {
    expected.push(`old ${i}`);
    h.hub.post(alice, `old ${i}`);
  }
  // Bob's replay goes out in small batches through a writer that stalls.
  const bob = h.login("bob", undefined, { blocked: true, batchBytes: 500 });
  for (let round = 0; round < 20; round++) {
    await settle();
    bob.writer.release();
    expected.push(`live ${round}`);
    h.hub.post(alice, `live ${round}`);
    await new Promise((resolve) => setTimeout(resolve, 0));
    bob.writer.block();
  }
  await h.finish();
  assert.deepEqual(texts(bob), expected);
  assert.deepEqual(bob.kicks, []);
});

Deno.test("kicks a slow member over its send queue limit while the others still receive", async () => {
  const h = new Harness();
  const alice = h.login("alice");
  const carol = h.login("carol");
  const slow = h.login("slow", undefined, { blocked: true, sendQueueBytes: 1000 });
  const sent = ["stuck in the write"];
  h.hub.post(alice, sent[0]);
  await settle();
  assert.equal(slow.writer.blocked, 1, "the first message is being written, and stuck");
  for (let i = 0; i < 30; i++) {
    sent.push(`message number ${i}`);
    assert.equal(h.hub.post(alice, `message number ${i}`).ok, true);
  }
  assert.equal(slow.kicks[0], "send queue full");
  assert.equal(slow.outbox.failure, "send queue full");
  assert.deepEqual(alice.kicks, []);
  assert.deepEqual(carol.kicks, []);
  // The connection leaves when kicked; the chat goes on.
  h.hub.leave(slow);
  sent.push("after the kick");
  h.hub.post(alice, "after the kick");
  assert.equal(h.hub.size, 2);
  await h.finish();
  assert.deepEqual(texts(carol), sent);
});

Deno.test("a member's own posts never count against its send queue", async () => {
  const h = new Harness();
  const alice = h.login("alice", undefined, { sendQueueBytes: 1000 });
  const bob = h.login("bob");
  await settle();
  // Alice posts 50 messages of about 100 bytes each: 5000 bytes, none of them for her.
  for (let i = 0; i < 50; i++) assert.equal(h.hub.post(alice, `${i}`.padEnd(40, ".")).ok, true);
  h.hub.post(bob, "hello alice");
  assert.deepEqual(alice.kicks, []);
  await h.finish();
  assert.deepEqual(texts(alice), ["hello alice"]);
  assert.equal(texts(bob).length, 50);
});

Deno.test("a member's own posts do not count while a write to it is stuck", async () => {
  const h = new Harness();
  const alice = h.login("alice", undefined, { sendQueueBytes: 1000 });
  const bob = h.login("bob");
  await settle();
  alice.writer.block();
  h.hub.post(bob, "hello alice");
  await settle();
  assert.equal(alice.writer.blocked, 1, "bob's message is being written");
  for (let i = 0; i < 50; i++) h.hub.post(alice, `${i}`.padEnd(40, "."));
  assert.deepEqual(alice.kicks, []);
  await h.finish();
  assert.deepEqual(texts(alice), ["hello alice"]);
});

Deno.test("a batch of posts wakes each member once, and every message still arrives in order", async () => {
  const h = new Harness();
  const sender = h.login("sender");
  const receiver = h.login("receiver");
  await settle();
  const writesBefore = receiver.writer.writes.length;
  h.hub.batch(() => {
    for (let i = 0; i < 50; i++) assert.equal(h.hub.post(sender, `m${i}`).ok, true);
    // Nothing is woken until the batch ends.
    assert.equal(receiver.writer.writes.length, writesBefore);
  });
  await settle();
  assert.deepEqual(texts(receiver), Array.from({ length: 50 }, (_, i) => `m${i}`));
  assert.equal(receiver.writer.writes.length, writesBefore + 1, "one coalesced write");
  assert.deepEqual(texts(sender), [], "the sender never gets its own messages");
  await h.finish();
});

Deno.test("stamps messages with the clock's current second even when the time is cached", async () => {
  const h = new Harness();
  const sender = h.login("sender");
  const receiver = h.login("receiver");
  h.hub.post(sender, "first");
  h.now += 999; // the same second: same text
  h.hub.post(sender, "second");
  h.now += 1; // the next second
  h.hub.post(sender, "third");
  await settle();
  const times = (receiver.writer.frames as Frame[]).filter((f) => "from" in f).map((f) => f.time);
  assert.deepEqual(times, [
    formatWireTime(new Date(FIXED)),
    formatWireTime(new Date(FIXED)),
    formatWireTime(new Date(FIXED + 1000)),
  ]);
  await h.finish();
});
