// Waiting with a limit: every wait in this project has one, and the timer
// behind it is always cleared so nothing lingers after the wait is over.

/**
 * Resolves with `promise`'s value, or with `undefined` once `ms` have passed,
 * whichever comes first. A rejection of `promise` after the time is up is
 * ignored; one before it is passed on.
 *
 * @example
 * ```ts
 * declare const reader: AsyncIterator<string>;
 * const line = await withDeadline(reader.next(), 1000); // undefined after 1 s
 * ```
 */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<undefined>((resolve) =>
    timer = setTimeout(() => resolve(undefined), ms)
  );
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * Resolves after `ms`: a pause nothing needs to cut short (for one that a
 * shutdown must interrupt, see {@linkcode pause}).
 *
 * @example
 * ```ts
 * await sleep(20); // then look again
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A pause that can be cut short; see {@linkcode pause}. */
export interface Pause {
  /** Resolves after the time, or at once after wake(). */
  done: Promise<void>;
  /** Ends the pause now (and clears its timer). */
  wake(): void;
}

/**
 * Waits `ms`, unless woken first: for retry loops that a shutdown must be
 * able to interrupt.
 *
 * @example
 * ```ts
 * declare const shutdown: AbortSignal;
 * const wait = pause(1000);
 * shutdown.addEventListener("abort", wait.wake); // a shutdown ends the wait at once
 * await wait.done;
 * ```
 */
export function pause(ms: number): Pause {
  let wake = () => {};
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  return { done, wake };
}
