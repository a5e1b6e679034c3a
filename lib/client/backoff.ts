// How long the client waits before reconnecting: 1 s doubling to 30 s, with
// jitter, so a server that dropped everyone is not hit by all of them again
// at the same moment.

/** First reconnect delay; it doubles per failed attempt. */
export const BACKOFF_INITIAL_MS = 1000;
/** Longest reconnect delay. */
export const BACKOFF_MAX_MS = 30_000;

/**
 * Reconnect delay for the `attempt`-th retry (0-based): 1 s doubling to 30 s,
 * with "equal jitter" (a random point in the upper half), so clients dropped
 * together do not come back together.
 *
 * @example
 * ```ts
 * backoffDelay(0, () => 0.999999); // 1000
 * backoffDelay(3, () => 0); // 4000
 * ```
 */
export function backoffDelay(attempt: number, random: () => number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.min(attempt, 30));
  return Math.round(base / 2 + random() * (base / 2));
}
