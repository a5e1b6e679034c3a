// What one address may take of the server, shared by all its connections:
// how many may be open at once (--max-per-ip), and how fast they may send
// together: frames a second (--rate-limit) and bytes of message text a
// second (--rate-limit-bytes), each a token bucket with a burst.
//
// A bucket per connection let a host refill its burst by reconnecting (one
// address stored ~44,000 messages a second against a nominal 50), and with
// 16 KiB messages the history grew by ~80 MB a second. Here the buckets
// belong to the address: they outlive its connections, and an address's
// entry is forgotten only once it has been without connections long enough
// for both buckets to be full again, so forgetting it gives nothing away.
// The byte budget is what bounds the history: at the defaults one address
// stores at most 64 KiB of text a second (3.75 MiB a minute) however it
// spreads its frames.

import { TokenBucket } from "../token_bucket.ts";

/** The limits of {@linkcode AddressQuotas}, as `ServerLimits` has them. */
export interface QuotaLimits {
  /** Open connections per address. */
  maxPerIp: number;
  /** Frames a second per address (bursts of twice that); 0 for no limit. */
  rateLimit: number;
  /** Bytes of message text a second per address (see {@linkcode byteBurst}); 0 for no limit. */
  rateLimitBytes: number;
  /** The longest message text: the byte burst is never smaller, so any message can pass. */
  maxMessageBytes: number;
}

/**
 * The burst of the byte budget: two seconds' worth, as for frames, and at
 * least one message of the longest length allowed.
 */
export function byteBurst(limits: QuotaLimits): number {
  return Math.max(limits.rateLimitBytes * 2, limits.maxMessageBytes);
}

/** One address's connections and buckets. */
export class AddressQuota {
  /** Its open connections. */
  connections = 0;
  readonly #frames: TokenBucket;
  readonly #bytes: TokenBucket;

  constructor(limits: QuotaLimits, nowMs: number) {
    this.#frames = new TokenBucket(limits.rateLimit, limits.rateLimit * 2, nowMs);
    this.#bytes = new TokenBucket(limits.rateLimitBytes, byteBurst(limits), nowMs);
  }

  /** Takes a frame's token; false when the address is over its frame rate. */
  takeFrame(nowMs: number): boolean {
    return this.#frames.take(nowMs);
  }

  /** Takes `bytes` of message text from the budget; false (taking none) when over it. */
  takeBytes(nowMs: number, bytes: number): boolean {
    return this.#bytes.take(nowMs, bytes);
  }
}

/**
 * Every address's quota. {@linkcode admit} a connection, {@linkcode release}
 * it when it closes; {@linkcode close} stops the sweep at shutdown.
 *
 * @example
 * ```ts
 * const quotas = new AddressQuotas(
 *   { maxPerIp: 100, rateLimit: 50, rateLimitBytes: 65536, maxMessageBytes: 16384 },
 *   () => performance.now(),
 * );
 * const quota = quotas.admit("192.0.2.7");
 * if (quota && quota.takeFrame(performance.now())) console.log("go ahead");
 * if (quota) quotas.release("192.0.2.7", quota);
 * quotas.close();
 * ```
 */
export class AddressQuotas {
  readonly #limits: QuotaLimits;
  readonly #now: () => number;
  readonly #byAddress = new Map<string, AddressQuota>();
  /** Addresses without connections: since when (ms), until their buckets are full again. */
  readonly #idle = new Map<string, number>();
  /** How long an empty bucket takes to fill: an idle address is kept that long. */
  readonly #refillMs: number;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(limits: QuotaLimits, now: () => number) {
    this.#limits = limits;
    this.#now = now;
    const frames = limits.rateLimit > 0 ? 2000 : 0;
    const bytes = limits.rateLimitBytes > 0 ? byteBurst(limits) * 1000 / limits.rateLimitBytes : 0;
    this.#refillMs = Math.ceil(Math.max(frames, bytes));
  }

  /** Addresses with a quota held (open connections, or buckets still filling). */
  get size(): number {
    return this.#byAddress.size;
  }

  /** One more connection from `address`; undefined when it has `maxPerIp` open already. */
  admit(address: string): AddressQuota | undefined {
    let quota = this.#byAddress.get(address);
    if (quota === undefined) {
      quota = new AddressQuota(this.#limits, this.#now());
      this.#byAddress.set(address, quota);
    }
    if (quota.connections >= this.#limits.maxPerIp) return undefined;
    quota.connections++;
    this.#idle.delete(address);
    return quota;
  }

  /** A connection admitted for `address` has closed. */
  release(address: string, quota: AddressQuota): void {
    if (--quota.connections > 0) return;
    if (this.#refillMs === 0) {
      this.#byAddress.delete(address);
      return;
    }
    this.#idle.set(address, this.#now());
    this.#sweeper ??= setInterval(() => this.#sweep(), this.#refillMs);
  }

  /** Stops the sweep (the server is shutting down). */
  close(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** Forgets the addresses idle for long enough that their buckets are full. */
  #sweep(): void {
    const now = this.#now();
    for (const [address, since] of this.#idle) {
      if (now - since < this.#refillMs) continue;
      this.#idle.delete(address);
      this.#byAddress.delete(address);
    }
    if (this.#idle.size === 0) this.close();
  }
}
