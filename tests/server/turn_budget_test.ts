// The per-turn write budget (lib/server/turn_budget.ts): at most so many
// writes per event-loop turn, granted in order, nobody always last; and the
// outboxes that share one (lib/server/outbox.ts) still deliver everything,
// once, in order. Turns are stepped by hand here; the real setImmediate is
// what every other outbox and server test runs with.

import assert from "node:assert/strict";
import { Outbox } from "../../lib/server/outbox.ts";
import { MemoryStore } from "../../lib/server/store.ts";
import { TurnBudget } from "../../lib/server/turn_budget.ts";
import { MemoryWriter, settle } from "./_writers.ts";

/** A scheduler whose turns run only when the test says so. */
class Turns {
  #next: (() => void)[] = [];
  readonly schedule = (next: () => void): void => {
    this.#next.push(next);
  };
  get pending(): number {
    return this.#next.length;
  }
  /** Runs the next turn, then lets the promises it resolved run. */
  async step(): Promise<void> {
    const next = this.#next.shift();
    assert.ok(next, "no turn scheduled");
    next();
    await settle();
  }
}

/** Asks `count` writers in order; returns the order in which they were granted. */
function ask(budget: TurnBudget, names: string[], granted: string[]): void {
  for (const name of names) {
    const later = budget.take();
    if (later === undefined) granted.push(name);
    else later.then(() => granted.push(name));
  }
}

Deno.test("grants the budget at once and the rest in later turns, each exactly once", async () => {
  const turns = new Turns();
  const budget = new TurnBudget(3, turns.schedule);
  const granted: string[] = [];
  const names = Array.from({ length: 10 }, (_, i) => `w${i}`);
  ask(budget, names, granted);
  await settle();
  assert.deepEqual(granted, ["w0", "w1", "w2"]);
  assert.equal(budget.waiting, 7);
  const perTurn: number[] = [];
  while (turns.pending > 0) {
    const before = granted.length;
    await turns.step();
    perTurn.push(granted.length - before);
  }
  assert.deepEqual(perTurn, [3, 3, 1, 0]);
  assert.deepEqual([...granted].sort(), [...names].sort());
  assert.equal(budget.waiting, 0);
  // A new turn with nobody waiting grants at once again.
  assert.equal(budget.take(), undefined);
});

Deno.test("a writer asking again waits behind everyone already waiting", async () => {
  const turns = new Turns();
  const budget = new TurnBudget(1, turns.schedule);
  const granted: string[] = [];
  ask(budget, ["a", "b", "c"], granted);
  await turns.step(); // b or c is granted; the late arrivals were rotated
  assert.equal(granted.length, 2);
  ask(budget, [granted[0]], granted); // a writes again: it waits for the other one
  await turns.step();
  await turns.step();
  assert.equal(granted.length, 4);
  assert.deepEqual(granted.slice(1, 3).sort(), ["b", "c"]);
  assert.equal(granted[3], "a");
});

Deno.test("in repeated fan-outs in the same order, nobody is always served last", async () => {
  const turns = new Turns();
  const budget = new TurnBudget(4, turns.schedule);
  const names = Array.from({ length: 40 }, (_, i) => `r${i}`);
  const last = new Set<string>();
  const positions = new Map<string, number[]>();
  for (let round = 0; round < 12; round++) {
    const granted: string[] = [];
    ask(budget, names, granted);
    while (turns.pending > 0) await turns.step();
    assert.equal(granted.length, names.length);
    assert.equal(new Set(granted).size, names.length);
    last.add(granted.at(-1)!);
    granted.forEach((name, i) => positions.set(name, [...positions.get(name) ?? [], i]));
  }
  assert.ok(last.size >= 6, `the last one was always among ${[...last]}`);
  // Beyond the ones granted at once, every receiver's average place is mid-queue, give or take.
  for (const name of names.slice(4)) {
    const mean = positions.get(name)!.reduce((a, b) => a + b, 0) / 12;
    assert.ok(mean > 8 && mean < 32, `${name}: mean place ${mean}`);
  }
});

Deno.test("outboxes sharing a budget write at most that many per turn, and deliver everything in order", async () => {
  const turns = new Turns();
  const budget = new TurnBudget(2, turns.schedule);
  const store = new MemoryStore();
  const encoder = new TextEncoder();
  const receivers = Array.from({ length: 6 }, (_, i) => {
    const writer = new MemoryWriter();
    const outbox = new Outbox(writer, store, 100 + i, {
      sendQueueBytes: 1 << 20,
      turnBudget: budget,
    });
    const pump = outbox.run();
    outbox.startStream(1, 1);
    return { writer, outbox, pump };
  });
  const expected: string[] = [];
  const writes = () => receivers.reduce((sum, r) => sum + r.writer.writes.length, 0);
  let granted = 0;
  for (let message = 0; message < 5; message++) {
    store.append((seq) => encoder.encode(expected[seq - 1] = `{"seq":${seq}}\n`), 1);
    for (const r of receivers) r.outbox.notify();
    await settle();
    assert.ok(writes() - granted <= 2, `${writes() - granted} writes in one turn`);
    granted = writes();
    // A later message joins what still waits: no more writes than turns allow.
    if (message % 2 === 0) continue;
    while (turns.pending > 0) {
      await turns.step();
      assert.ok(writes() - granted <= 2, `${writes() - granted} writes in one turn`);
      granted = writes();
    }
  }
  while (turns.pending > 0) await turns.step();
  for (const r of receivers) {
    assert.equal(r.writer.text, expected.join(""));
    r.outbox.close();
    await r.pump;
  }
});
