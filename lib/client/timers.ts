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
