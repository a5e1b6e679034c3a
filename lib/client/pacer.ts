// How fast the client sends: a token bucket on our side of the wire, so a
// piped file does not run into the server's rate limit (ours refuses frames
// beyond 50 a second, bursts of 100, and cuts off a client that keeps on).
//
// The server has its own bucket (lib/server/rate_limit.ts), which only says
// yes or no to a frame. The client needs two more answers: how long until
// the next message may go (to set a timer rather than poll), and a way to
// start again from an empty bucket after the server said "too fast".

/**
 * Messages a second the client sends on average: well under our server's
 * default (50). A person typing never notices; 300 piped lines take ~15 s.
 */
export const SEND_RATE_PER_SECOND = 20;
/** Messages the client sends at once after a quiet spell (our server allows 100). */
export const SEND_BURST = 40;

/**
 * A token bucket: `ratePerSecond` messages a second on average, up to
 * `burst` at once. Time is passed in, so tests need no clock.
 *
 * @example
 * ```ts
 * const pacer = new SendPacer(20, 40, Date.now());
 * if (pacer.take(Date.now())) send();
 * else setTimeout(retry, pacer.wait(Date.now()));
 * ```
 */
export class SendPacer {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;

  /**
   * @param ratePerSecond Messages added per second; must be positive.
   * @param burst The most messages held at once (and the starting amount); at least 1.
   * @param nowMs The current time in milliseconds.
   */
  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) {
      throw new RangeError(
        `Cannot pace sending: rate ${ratePerSecond} must be positive and burst ${burst} at least 1`,
      );
    }
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = nowMs;
  }

  /** The average rate, messages a second. */
  get rate(): number {
    return this.#rate;
  }

  /** Takes one message's token; false when the message must wait ({@linkcode wait}). */
  take(nowMs: number): boolean {
    this.#refill(nowMs);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until {@linkcode take} succeeds (0 when it would now). */
  wait(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) * 1000 / this.#rate);
  }

  /** Drops every token: the next message waits one interval, the burst builds up again. */
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
