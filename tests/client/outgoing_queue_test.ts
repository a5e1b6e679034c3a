// The outgoing queue on its own, fed clock values instead of timers: ids,
// pacing, what an ack means, whether the server acks, the pauses after a
// refusal, a dropped connection, and what end of input does next.

import assert from "node:assert/strict";
import {
  MAX_QUEUED_MESSAGES,
  MIN_SEND_RATE_PER_SECOND,
  type NextStep,
  type OutgoingMessage,
  OutgoingQueue,
  RATE_LIMIT_PAUSE_MS,
  RATE_LIMIT_REASON,
  STORAGE_PAUSE_MS,
} from "../../lib/client/outgoing_queue.ts";
import { STORAGE_UNAVAILABLE } from "../../lib/protocol.ts";
import { SEND_BURST, SEND_RATE_PER_SECOND } from "../../lib/client/pacer.ts";

/** Sends everything `next` allows at `now`, as the session would; returns what went out and the last step. */
function drain(queue: OutgoingQueue, now: number): { sent: OutgoingMessage[]; last: NextStep } {
  const sent: OutgoingMessage[] = [];
  while (true) {
    const step = queue.next(now);
    if (step.kind !== "send") return { sent, last: step };
    queue.sent(step.item);
    sent.push(step.item);
  }
}

const ok = (item: OutgoingMessage) => ({
  type: "status" as const,
  status: "ok" as const,
  id: item.id,
});
const error = (item: OutgoingMessage, reason?: string) => ({
  type: "status" as const,
  status: "error" as const,
  id: item.id,
  reason,
});

/** A queue whose server has shown that it acks: a first message went out and was acked. */
function acking(): OutgoingQueue {
  const queue = new OutgoingQueue(Math.random, 0);
  queue.add("earlier", false);
  queue.ack(ok(drain(queue, 0).sent[0]));
  return queue;
}

Deno.test("messages go out in order with distinct ids, a burst at once, then at the sending rate", () => {
  const queue = new OutgoingQueue(() => 0.5, 0);
  for (let i = 1; i <= SEND_BURST + 5; i++) queue.add(`line ${i}`, false);
  const { sent, last } = drain(queue, 0);
  assert.equal(sent.length, SEND_BURST);
  assert.deepEqual(sent.slice(0, 2).map((m) => m.text), ["line 1", "line 2"]);
  assert.equal(new Set(sent.map((m) => m.id)).size, SEND_BURST);
  assert.match(sent[0].id, /^[0-9a-z]+-1$/);
  assert.deepEqual(last, { kind: "wait", ms: 1000 / SEND_RATE_PER_SECOND });
  assert.equal(drain(queue, 1000 / SEND_RATE_PER_SECOND).sent.length, 1);
  assert.equal(queue.queued, 4);
});

Deno.test("the queue says when it is full", () => {
  const queue = new OutgoingQueue(Math.random, 0);
  for (let i = 0; i < MAX_QUEUED_MESSAGES - 1; i++) queue.add("x", false);
  assert.equal(queue.hasRoom, true);
  queue.add("x", false);
  assert.equal(queue.hasRoom, false);
});

Deno.test("only an ack makes the server one that acks; only an ack counts unconfirmed", () => {
  const queue = new OutgoingQueue(Math.random, 0);
  queue.add("a", false);
  queue.add("b", false);
  const [a] = drain(queue, 0).sent;
  assert.equal(queue.serverAcks, false);
  assert.equal(queue.unconfirmed, 0);
  assert.deepEqual(queue.notConfirmed, [], "written to a server not known to ack: delivered");
  assert.deepEqual(queue.undelivered, []);
  assert.deepEqual(queue.ack(ok(a)), { kind: "confirmed", item: a });
  assert.equal(queue.serverAcks, true);
  assert.equal(queue.unconfirmed, 1, "b waits for its ack");
  assert.deepEqual(queue.notConfirmed, ["b"], "written to a server that acks: not confirmed");
  assert.deepEqual(queue.undelivered, [], "but not known to be lost");
});

Deno.test("a message echoes once, however often it is resent", () => {
  const queue = acking();
  queue.add("hi", false);
  const [first] = drain(queue, 0).sent;
  queue.connectionLost();
  assert.equal(queue.queued, 1);
  const step = queue.next(0);
  assert.equal(step.kind, "send");
  assert.equal(step.kind === "send" && step.item, first, "the same message, same id");
  assert.equal(queue.sent(first), false, "not echoed again");
});

Deno.test("a dropped connection leaves messages in doubt with a server that acks, delivered without", () => {
  const withAcks = acking();
  withAcks.add("a", false);
  drain(withAcks, 0);
  withAcks.connectionLost();
  const step = withAcks.next(0);
  assert(step.kind === "send");
  assert.equal(step.item.inDoubt, true);
  assert.equal(step.item.announce, true, "its delivery will be announced");
  assert.deepEqual(withAcks.notConfirmed, ["a"], "in doubt: it may have arrived");
  assert.deepEqual(withAcks.undelivered, []);
  assert.equal(withAcks.resendInDoubt(), 1);
  assert.equal(step.item.inDoubt, false);

  const without = new OutgoingQueue(Math.random, 0);
  without.add("a", false);
  drain(without, 0);
  without.connectionLost();
  assert.equal(without.empty, true);
  assert.deepEqual(without.undelivered, [], "written to a server that never acks: delivered");
});

Deno.test("a message the replay shows arrived leaves the queue", () => {
  const queue = acking();
  queue.add("a", false);
  const [a] = drain(queue, 0).sent;
  queue.connectionLost();
  queue.arrived(a);
  assert.equal(queue.empty, true);
});

Deno.test("a rate-limit refusal resends the message first after one pause, then slower and one at a time", () => {
  const queue = new OutgoingQueue(Math.random, 0);
  for (const text of ["a", "b"]) queue.add(text, false);
  const [a, b] = drain(queue, 0).sent;
  const outcome = queue.ack(error(a, `${RATE_LIMIT_REASON}: slow down`));
  assert.deepEqual(outcome, { kind: "retry", item: a, why: "rate limit" });
  assert.deepEqual(queue.undelivered, ["a"], "refused, so known not stored until resent");
  assert.deepEqual(queue.notConfirmed, ["b"]);
  assert.deepEqual(queue.rateLimited(), { ms: RATE_LIMIT_PAUSE_MS, firstRateLimit: true });
  assert.equal(queue.paused, true);
  assert.equal(queue.ack(error(b, RATE_LIMIT_REASON)).kind, "retry");
  assert.equal(queue.rateLimited(), undefined, "the refusals of one burst make one pause");
  queue.resume(RATE_LIMIT_PAUSE_MS);
  assert.equal(queue.paused, false);
  // Half the rate, no burst: the first message waits one interval.
  const interval = 1000 / (SEND_RATE_PER_SECOND / 2);
  assert.deepEqual(queue.next(RATE_LIMIT_PAUSE_MS), { kind: "wait", ms: interval });
  const { sent } = drain(queue, RATE_LIMIT_PAUSE_MS + interval);
  assert.deepEqual(sent.map((m) => m.text), ["a"], "a first, and one in flight at a time");
  assert.deepEqual(queue.next(RATE_LIMIT_PAUSE_MS + 10 * interval), { kind: "idle" });
  queue.ack(ok(a));
  assert.deepEqual(drain(queue, RATE_LIMIT_PAUSE_MS + 10 * interval).sent.map((m) => m.text), [
    "b",
  ]);
});

Deno.test("each rate-limit pause halves the sending rate, down to the minimum", () => {
  const queue = new OutgoingQueue(Math.random, 0);
  queue.add("waiting", false);
  const intervals: number[] = [];
  const notices: boolean[] = [];
  for (let i = 0, now = 0; i < 6; i++, now += 10_000) {
    notices.push(queue.rateLimited()!.firstRateLimit);
    queue.resume(now);
    const step = queue.next(now);
    assert(step.kind === "wait");
    intervals.push(step.ms);
  }
  assert.deepEqual(intervals, [100, 200, 400, 800, 1000, 1000]);
  assert.equal(1000 / MIN_SEND_RATE_PER_SECOND, 1000);
  assert.deepEqual(notices, [true, false, false, false, false, false], "said once");
});

Deno.test("after recovering, the usual pace comes back once the queue is empty", () => {
  const queue = new OutgoingQueue(Math.random, 0);
  queue.add("a", false);
  const [a] = drain(queue, 0).sent;
  queue.ack(error(a, STORAGE_UNAVAILABLE));
  assert.deepEqual(queue.storageUnavailable(), { ms: STORAGE_PAUSE_MS, firstRateLimit: false });
  assert.equal(queue.storageUnavailable(), undefined);
  queue.resume(STORAGE_PAUSE_MS);
  assert.deepEqual(drain(queue, STORAGE_PAUSE_MS).sent, [a], "storage pauses keep the pace");
  queue.ack(ok(a));
  assert.deepEqual(queue.next(STORAGE_PAUSE_MS), { kind: "idle" }); // Caught up: pacing reset.
  for (let i = 0; i < 10; i++) queue.add(`m${i}`, false);
  assert.equal(drain(queue, STORAGE_PAUSE_MS + 5000).sent.length, 10, "bursts again");
});

Deno.test("a message refused for another reason is not delivered, listed in submission order; one unanswered is not confirmed", () => {
  const queue = new OutgoingQueue(Math.random, 0);
  for (const text of ["a", "b", "c"]) queue.add(text, false);
  const [a, b] = drain(queue, 0).sent;
  assert.deepEqual(queue.ack(error(b)), {
    kind: "refused",
    item: b,
    reason: "refused by the server",
  });
  assert.deepEqual(queue.ack(ok(a)).kind, "confirmed");
  assert.deepEqual(queue.undelivered, ["b"]);
  assert.deepEqual(queue.notConfirmed, ["c"]);
  queue.add("d", false);
  assert.deepEqual(queue.undelivered, ["b", "d"], "never written");
  assert.deepEqual(queue.ack(ok(a)), { kind: "unknown" }, "answered already");
});

Deno.test("refusals without ids go back to the queue once every message in flight is accounted for", () => {
  const queue = new OutgoingQueue(Math.random, 0);
  for (const text of ["a", "b", "c"]) queue.add(text, false);
  const [a, b, c] = drain(queue, 0).sent;
  queue.ack(ok(a)); // This server acks.
  queue.unnamedRefusal();
  assert.deepEqual(queue.settleUnnamedRefusals(), [], "one refusal, two in flight: wait");
  queue.unnamedRefusal();
  assert.deepEqual(queue.settleUnnamedRefusals(), [b, c]);
  assert.equal(queue.queued, 2);
  assert.deepEqual(queue.settleUnnamedRefusals(), [], "settled once");
});

Deno.test("end of input leaves, waits or drains depending on the queue and the connection", () => {
  const online = { loggedIn: true, everLoggedIn: true, holding: false };
  const queue = new OutgoingQueue(Math.random, 0);
  assert.equal(queue.finishStep(online), "leave", "nothing to send");
  assert.equal(queue.finishStep({ ...online, loggedIn: false }), "leave", "cut off, nothing left");
  assert.equal(
    queue.finishStep({ loggedIn: false, everLoggedIn: false, holding: false }),
    "wait",
    "the first login (and its replay) comes first",
  );
  queue.add("a", false);
  assert.equal(queue.finishStep({ ...online, holding: true }), "wait", "during the replay");
  assert.equal(queue.finishStep(online), "wait", "queued");
  queue.add("b", false);
  const [a] = drain(queue, 0).sent;
  assert.equal(queue.finishStep(online), "drain", "a server that may never ack");
  queue.ack({ status: "ok", id: "someone-else's" });
  assert.equal(queue.finishStep(online), "drain", "an ack of an id we never made proves nothing");
  queue.ack(ok(a));
  assert.equal(queue.finishStep(online), "wait", "a server that acks will ack b too");
});
