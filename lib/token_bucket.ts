// A token bucket: so many events a second on average, with a burst
// allowance. Time is passed in, so tests need no clock.
//
// Two callers share it. The server's rate limits (lib/server/address_quota.ts)
// only ask yes or no per frame or per message's bytes, and turn a limit off
// with a rate of 0.
// The client's pacing (lib/client/pacer.ts) also asks how long until the
// next event may go (to set a timer rather than poll), and starts again from
// an empty bucket after the server said "too fast".

/**
 * Allows `ratePerSecond` events a second on average and bursts of up to
 * `burst`. A rate of 0 turns the limit off.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 *
 * const bucket = new TokenBucket(50, 100, performance.now());
 * if (!bucket.take(performance.now())) console.log("rate limit exceeded");
 * ```
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;

  /**
   * @param ratePerSecond Tokens added per second; 0 means unlimited.
   * @param burst The most tokens held at once (and the starting amount).
   * @param nowMs The current time in milliseconds (any monotonic clock).
   */
  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    if (ratePerSecond < 0 || burst < 0) {
      throw new RangeError(
        `Cannot make a token bucket: rate ${ratePerSecond} and burst ${burst} must not be negative`,
      );
    }
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = nowMs;
  }

  /** The average rate, tokens a second (0: unlimited). */
  get rate(): number {
    return this.#rate;
  }

  /**
   * Takes `count` tokens (one by default); false, taking none, when fewer
   * are left (the event is over the limit).
   */
  take(nowMs: number, count = 1): boolean {
    if (this.#rate === 0) return true;
    this.#refill(nowMs);
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }

  /** Milliseconds until {@linkcode take} succeeds (0 when it would now). */
  wait(nowMs: number): number {
    if (this.#rate === 0) return 0;
    this.#refill(nowMs);
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) * 1000 / this.#rate);
  }

  /** Drops every token: the next event waits one interval, the burst builds up again. */
  empty(nowMs: number): void {
    this.#refill(nowMs);
    this.#tokens = 0;
  }

  #refill(nowMs: number): void {
    if (nowMs <= this.#last) return;
    this.#tokens = Math.min(this.#burst, this.#tokens + (nowMs - this.#last) * this.#rate / 1000);
    this.#last = nowMs;
  }
}
