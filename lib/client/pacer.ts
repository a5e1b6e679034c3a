// How fast the client sends: a token bucket (lib/token_bucket.ts) on our
// side of the wire, so a piped file does not run into the server's rate
// limit (ours refuses frames beyond 50 a second, bursts of 100, and cuts off
// a client that keeps on).
//
// Unlike the server's limit, pacing never turns itself off: a rate of 0
// would mean "unlimited" to the bucket, so the pacer refuses it.

import { TokenBucket } from "../token_bucket.ts";

/**
 * Messages a second the client sends on average: well under our server's
 * default (50). A person typing never notices; 300 piped lines take ~15 s.
 */
export const SEND_RATE_PER_SECOND = 20;
/** Messages the client sends at once after a quiet spell (our server allows 100). */
export const SEND_BURST = 40;

/**
 * The client's token bucket: `ratePerSecond` messages a second on average,
 * up to `burst` at once. Time is passed in, so tests need no clock.
 *
 * @example
 * ```ts
 * import { SendPacer } from "./pacer.ts";
 *
 * const pacer = new SendPacer(20, 40, Date.now());
 * if (pacer.take(Date.now())) console.log("send");
 * else console.log(`retry in ${pacer.wait(Date.now())} ms`);
 * ```
 */
export class SendPacer extends TokenBucket {
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
    super(ratePerSecond, burst, nowMs);
  }
}
