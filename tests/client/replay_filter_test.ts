// The replay filter on its own, fed events instead of a connection: repeats
// skipped, a server's numbers restarting, the replay of a server without
// `seq`, and which of our own messages a replay shows to have arrived.

import assert from "node:assert/strict";
import { ReplayFilter, SEEN_LIMIT } from "../../lib/client/replay_filter.ts";
import type { ChatMessage } from "../../lib/protocol.ts";

/** An own message as the outgoing queue holds it. */
interface Own {
  text: string;
  inDoubt: boolean;
}

let minute = 0;
/** A message from `from`, with a time of its own so two of them differ. */
function msg(from: string, message: string, seq?: number): ChatMessage {
  const time = `2017-01-12T20:${String(minute++ % 60).padStart(2, "0")}:00Z`;
  return seq === undefined ? { from, message, time } : { from, message, time, seq };
}

/**
 * A filter after one connection on which `sent` were written; `acked` were
 * confirmed, the rest were in flight when it dropped (in doubt, as the queue
 * marks them with a server that acks). Then a second connection is up and
 * logged in.
 */
function afterDrop(sent: string[], acked: number[], lastSeq?: number) {
  const filter = new ReplayFilter<Own>();
  filter.connected();
  filter.loggedIn(true);
  if (lastSeq !== undefined) filter.accept(msg("alice", "before", lastSeq), "bob");
  const own = sent.map((text) => ({ text, inDoubt: false }));
  for (const item of own) filter.sent(item);
  for (const i of acked) filter.confirmed(own[i]);
  for (const [i, item] of own.entries()) if (!acked.includes(i)) item.inDoubt = true;
  filter.connectionLost();
  filter.connected();
  filter.loggedIn(false);
  return { filter, own };
}

Deno.test("a repeat is left out, and numbers going back are worth a notice only for new messages", () => {
  const filter = new ReplayFilter<Own>();
  filter.connected();
  const hi = msg("alice", "hi", 5);
  assert.deepEqual(filter.accept(hi, "bob"), { show: true, restarted: false });
  assert.equal(filter.lastSeq, 5);
  assert.equal(filter.numbered, true);
  assert.deepEqual(filter.accept(hi, "bob"), { show: false, restarted: false });
  assert.deepEqual(filter.accept(msg("carol", "new", 1), "bob"), { show: true, restarted: true });
  assert.equal(filter.lastSeq, 1);
});

Deno.test("after a reconnect to a server without seq, the replay's prefix already shown is skipped", () => {
  const filter = new ReplayFilter<Own>();
  filter.connected();
  assert.equal(filter.loggedIn(true), false);
  const old = [msg("alice", "one"), msg("alice", "two")];
  for (const m of old) assert.equal(filter.accept(m, "bob").show, true);
  filter.connectionLost();
  filter.connected();
  assert.equal(filter.loggedIn(false), true, "the skipping is worth a notice");
  assert.equal(filter.accept(old[0], "bob").show, false);
  assert.equal(filter.accept(msg("BOB", "mine, shown when typed"), "bob").show, false);
  assert.equal(filter.accept(old[1], "bob").show, false);
  assert.equal(filter.accept(msg("alice", "three"), "bob").show, true);
  assert.equal(filter.accept(old[0], "bob").show, true, "past the prefix, everything is shown");
});

Deno.test("a server that numbers its messages gets no skipping: `since` does the work", () => {
  const filter = new ReplayFilter<Own>();
  filter.connected();
  filter.accept(msg("alice", "one", 1), "bob");
  filter.connectionLost();
  filter.connected();
  assert.equal(filter.loggedIn(false), false);
});

Deno.test("our message in doubt that the replay shows has arrived; it is not shown again", () => {
  const { filter, own } = afterDrop(["hello"], [], 10);
  assert.deepEqual(filter.accept(msg("bob", "hello", 11), "bob"), {
    show: false,
    restarted: false,
    arrived: own[0],
  });
});

Deno.test("a copy older than the last seq seen before the drop cannot be the message in doubt", () => {
  const { filter } = afterDrop(["hello"], [], 10);
  // A server that ignores `since` repeats older messages: ours is left out, nothing arrived.
  assert.deepEqual(filter.accept(msg("bob", "hello", 9), "bob"), {
    show: false,
    restarted: false,
  });
});

Deno.test("each replayed copy is taken by a confirmed message first, so no more arrive than were replayed", () => {
  const { filter, own } = afterDrop(["ok", "ok", "ok"], [0], 10);
  const first = filter.accept(msg("bob", "ok", 11), "bob");
  assert.deepEqual(
    first,
    { show: false, restarted: false, arrived: undefined },
    "the confirmed one",
  );
  const second = filter.accept(msg("bob", "ok", 12), "bob");
  assert.equal(second.arrived, own[1], "then the oldest in doubt");
  const third = filter.accept(msg("bob", "ok", 13), "bob");
  assert.equal(third.arrived, own[2]);
  const fourth = filter.accept(msg("bob", "ok", 14), "bob");
  assert.deepEqual(fourth, { show: true, restarted: false }, "no record left: a new one");
});

Deno.test("a message withdrawn (refused, or to be resent) never matches a replayed copy", () => {
  const filter = new ReplayFilter<Own>();
  filter.connected();
  const item = { text: "no", inDoubt: false };
  filter.sent(item);
  filter.withdrawn(item);
  filter.connectionLost();
  filter.connected();
  assert.equal(filter.accept(msg("bob", "no", 1), "bob").show, true);
});

Deno.test("once the replay is over, earlier connections' messages can no longer match", () => {
  const { filter } = afterDrop(["late"], [], 10);
  filter.replayOver();
  assert.deepEqual(filter.accept(msg("bob", "late", 11), "bob"), { show: true, restarted: false });
});

Deno.test("seqs skipped on a connection prove our first messages on it older", () => {
  const filter = new ReplayFilter<Own>();
  filter.connected();
  filter.accept(msg("alice", "a", 1), "bob");
  const ok = { text: "ok", inDoubt: false };
  filter.sent(ok);
  filter.confirmed(ok); // Stored as seq 2, never received by us...
  filter.accept(msg("alice", "b", 3), "bob"); // ...so the gap proves it older than 3.
  const again = { text: "ok", inDoubt: false };
  filter.sent(again);
  again.inDoubt = true;
  filter.connectionLost();
  filter.connected();
  filter.loggedIn(false);
  const replayed = filter.accept(msg("bob", "ok", 4), "bob");
  assert.equal(replayed.arrived, again, "not taken by the confirmed one proved older");
});

Deno.test("the memory of shown messages is bounded", () => {
  const filter = new ReplayFilter<Own>();
  filter.connected();
  const first = msg("alice", "first", 1);
  filter.accept(first, "bob");
  for (let i = 0; i < SEEN_LIMIT; i++) {
    filter.accept({ from: "alice", message: `m${i}`, time: "t", seq: i + 2 }, "bob");
  }
  assert.equal(filter.accept(first, "bob").show, true, "forgotten, so shown again");
});

Deno.test("when the server's numbers go back, `since` follows them and no new message is skipped", () => {
  const filter = new ReplayFilter<Own>();
  filter.connected();
  filter.loggedIn(true);
  const old = Array.from({ length: 10 }, (_, i) => msg("alice", `m${i + 1}`, i + 1));
  for (const m of old) assert.equal(filter.accept(m, "bob").show, true);
  assert.equal(filter.lastSeq, 10);
  // Restarted, it lost 9 and 10 (relayed, never written) and answers since 10 with a full replay.
  filter.connectionLost();
  filter.connected();
  filter.loggedIn(false);
  for (const m of old.slice(0, 8)) {
    assert.deepEqual(filter.accept(m, "bob"), { show: false, restarted: false }, m.message);
  }
  assert.equal(filter.lastSeq, 8, "the next since is where this server's numbers are");
  // Others talk meanwhile: their 9, 10 and 11 are new messages, and all are shown.
  filter.connectionLost();
  filter.connected();
  filter.loggedIn(false);
  const verdicts = ["n9", "n10", "n11"].map((text, i) =>
    filter.accept(msg("carol", text, 9 + i), "bob")
  );
  assert.deepEqual(verdicts, [
    { show: true, restarted: true },
    { show: true, restarted: false },
    { show: true, restarted: false },
  ]);
  // A memory-only server begins again at 1: new messages, shown; repeats still skipped.
  filter.connectionLost();
  filter.connected();
  filter.loggedIn(false);
  const fresh = msg("dave", "fresh start", 1);
  assert.deepEqual(filter.accept(fresh, "bob"), { show: true, restarted: true });
  assert.deepEqual(filter.accept(fresh, "bob"), { show: false, restarted: false });
  assert.deepEqual(filter.accept(msg("bob", "mine, shown when typed", 2), "bob"), {
    show: false,
    restarted: false,
  });
  assert.equal(filter.lastSeq, 2);
});
