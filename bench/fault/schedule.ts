// How a fault scenario (and a test) paces its work: a poll with a deadline,
// a bounded number of tasks at once, and a seeded random source (so a
// failing random schedule can be replayed with the same seed). A plain
// pause is lib/deadline.ts's sleep.

import { sleep } from "../../lib/deadline.ts";

/** How often {@linkcode eventually} checks its condition. */
export const POLL_MS = 20;
/** How long {@linkcode eventually} waits when not told. */
export const EVENTUALLY_MS = 5_000;

/**
 * Polls `check` every {@linkcode POLL_MS} until it holds or `timeoutMs`
 * passes; returns whether it held. The tests' one way to wait for something
 * that has no event of its own.
 *
 * @example
 * ```ts
 * let done = false;
 * setTimeout(() => done = true, 50);
 * await eventually(() => done, 1000); // true
 * ```
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = EVENTUALLY_MS,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!await check()) {
    if (performance.now() > deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/** Runs `work(i)` for i = 0…count-1 with at most `concurrency` at a time. */
export async function pool(
  count: number,
  concurrency: number,
  work: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** A small seeded generator (mulberry32), so a failing random schedule can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
