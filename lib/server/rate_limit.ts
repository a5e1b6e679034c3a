// A token bucket per connection: how many frames a client may send per
// second, with a burst allowance. Time is passed in, so tests need no clock.

/**
 * Allows `ratePerSecond` frames a second on average and bursts of up to
 * `burst`. A rate of 0 turns the limit off.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(50, 100, performance.now());
 * if (!bucket.take(performance.now())) reply("rate limit exceeded");
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

  /** Takes one token; false when none is left (the frame is over the limit). */
  take(nowMs: number): boolean {
    if (this.#rate === 0) return true;
    if (nowMs > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (nowMs - this.#last) * this.#rate / 1000);
      this.#last = nowMs;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
