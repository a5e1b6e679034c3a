// The client's clock and timers, injected (style rule 4) so the session's
// tests run on a fake clock that only moves when the test says so.

/** A pending timer of {@linkcode Timers}. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/** Clock and timers, injected so tests can control them. */
export interface Timers {
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock and timers. */
export const REAL_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};

/**
 * Waits `ms` on `timers`; `wake()` ends the wait at once (the timer is
 * cleared). `done` resolves either way.
 *
 * @example
 * ```ts
 * const sleep = wakeableSleep(REAL_TIMERS, 60_000);
 * sleep.wake();
 * await sleep.done; // at once
 * ```
 */
export function wakeableSleep(timers: Timers, ms: number): { done: Promise<void>; wake(): void } {
  let wake!: () => void;
  const done = new Promise<void>((resolve) => {
    const handle = timers.setTimeout(resolve, ms);
    wake = () => {
      timers.clearTimeout(handle);
      resolve();
    };
  });
  return { done, wake };
}
