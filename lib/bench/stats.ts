// Delivery accounting for a benchmark run: which messages each client got,
// how late, and what went wrong (lost, duplicated, out of order). Pure: it is
// fed (receiver, sender, seq, latency) tuples and answers with totals.
//
// Memory is bounded by the run's shape, not its length of time: one bit per
// (receiver, sender, seq) for duplicate detection, allocated the first time
// a receiver hears from any sender, and a fixed-size latency histogram
// instead of one sample per delivery.

/** Values below this are kept exactly (microseconds). */
const EXACT_BELOW = 128;
/** Sub-buckets per power of two above EXACT_BELOW: a relative error under 1/64. */
const SUB_BUCKETS = 64;
/** The largest latency kept apart: 2^31 µs (about 36 minutes); beyond it is clamped. */
const MAX_TRACKED_US = 2 ** 31 - 1;

/** A {@linkcode LatencyHistogram} as plain data (structured-cloneable). */
export interface HistogramData {
  counts: Float64Array;
  count: number;
  max: number;
}

/**
 * A log-linear histogram of non-negative integers (latencies in µs): exact
 * below 128, then 64 buckets per power of two, so a percentile is within
 * 1.6 % of the true value. The maximum is exact.
 *
 * @example
 * ```ts
 * const h = new LatencyHistogram();
 * for (const us of [100, 200, 300]) h.record(us);
 * h.percentile(50); // 200 (within 1.6 %)
 * ```
 */
export class LatencyHistogram {
  readonly #counts = new Float64Array(bucketOf(MAX_TRACKED_US) + 1);
  #count = 0;
  #max = 0;

  /** Samples recorded. */
  get count(): number {
    return this.#count;
  }

  /** The largest sample (exact; 0 when empty). */
  get max(): number {
    return this.#max;
  }

  /** Adds one sample; negative values count as 0. */
  record(value: number): void {
    const v = value > 0 ? Math.min(Math.round(value), MAX_TRACKED_US) : 0;
    this.#counts[bucketOf(v)]++;
    this.#count++;
    if (v > this.#max) this.#max = v;
  }

  /** The histogram as plain data (a copy), for another thread or process. */
  toData(): HistogramData {
    return { counts: this.#counts.slice(), count: this.#count, max: this.#max };
  }

  /** A histogram of {@linkcode toData}'s output. */
  static fromData(data: HistogramData): LatencyHistogram {
    const histogram = new LatencyHistogram();
    if (data.counts.length !== histogram.#counts.length) {
      throw new RangeError(
        `Cannot read a histogram of ${data.counts.length} buckets: this one has ${histogram.#counts.length}`,
      );
    }
    histogram.#counts.set(data.counts);
    histogram.#count = data.count;
    histogram.#max = data.max;
    return histogram;
  }

  /** Adds every sample of `other`. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < this.#counts.length; i++) this.#counts[i] += other.#counts[i];
    this.#count += other.#count;
    this.#max = Math.max(this.#max, other.#max);
  }

  /**
   * The value below which `p` percent of the samples fall (the middle of its
   * bucket, never above the maximum); 0 when empty.
   */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i];
      if (seen >= rank) return Math.min(bucketMiddle(i), this.#max);
    }
    return this.#max;
  }
}

/** The bucket of a value in [0, MAX_TRACKED_US]. */
export function bucketOf(value: number): number {
  if (value < EXACT_BELOW) return value;
  const shift = 31 - Math.clz32(value) - 6; // Keeps the top 7 bits: 64..127.
  return SUB_BUCKETS * shift + (value >>> shift);
}

function bucketMiddle(index: number): number {
  if (index < EXACT_BELOW) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const low = (index - SUB_BUCKETS * shift) * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

/** How one delivery was counted. */
export type Delivery = "new" | "duplicate" | "echo" | "unknown";

/** The totals of a {@linkcode Ledger}. */
export interface LedgerTotals {
  /** Deliveries expected: each sender's messages to every client but itself. */
  expected: number;
  /** Distinct (receiver, message) pairs received. */
  unique: number;
  /** Expected deliveries that never arrived. */
  lost: number;
  /** Deliveries of a message a receiver already had. */
  duplicated: number;
  /** New deliveries whose seq was lower than one already seen from the same sender. */
  outOfOrder: number;
  /** Messages delivered back to their own sender (the protocol forbids it). */
  echoed: number;
  /** Tokens naming a sender or seq outside the run. */
  unknown: number;
}

/**
 * Counts deliveries of a run of `clients` clients where clients
 * `0 … senders-1` each send `messages` messages numbered from 0.
 *
 * @example
 * ```ts
 * const ledger = new Ledger(3, 1, 2);
 * ledger.record(1, 0, 0, 250); // "new"
 * ledger.record(1, 0, 0, 260); // "duplicate"
 * ledger.totals().lost; // 3: seq 1 to client 1, both to client 2
 * ```
 */
export class Ledger {
  readonly clients: number;
  readonly senders: number;
  readonly messages: number;
  readonly latency = new LatencyHistogram();
  /** Per receiver: one bit per (sender, seq), allocated on its first delivery. */
  readonly #seen: (Uint8Array | undefined)[];
  /** Per receiver: the highest seq seen from each sender (-1: none yet). */
  readonly #last: (Int32Array | undefined)[];
  #unique = 0;
  #duplicated = 0;
  #outOfOrder = 0;
  #echoed = 0;
  #unknown = 0;

  constructor(clients: number, senders: number, messages: number) {
    if (senders > clients) {
      throw new RangeError(`Cannot count deliveries: ${senders} senders among ${clients} clients`);
    }
    this.clients = clients;
    this.senders = senders;
    this.messages = messages;
    this.#seen = new Array(clients);
    this.#last = new Array(clients);
  }

  /** Deliveries expected in all. */
  get expected(): number {
    return this.senders * this.messages * (this.clients - 1);
  }

  /** Distinct deliveries so far. */
  get unique(): number {
    return this.#unique;
  }

  /** Counts one delivery of message `seq` of `sender` to `receiver`, `latencyUs` after it was sent. */
  record(receiver: number, sender: number, seq: number, latencyUs: number): Delivery {
    if (sender >= this.senders || seq >= this.messages || receiver >= this.clients) {
      this.#unknown++;
      return "unknown";
    }
    if (sender === receiver) {
      this.#echoed++;
      return "echo";
    }
    let seen = this.#seen[receiver];
    let last = this.#last[receiver];
    if (seen === undefined || last === undefined) {
      seen = this.#seen[receiver] = new Uint8Array(Math.ceil((this.senders * this.messages) / 8));
      last = this.#last[receiver] = new Int32Array(this.senders).fill(-1);
    }
    const bit = sender * this.messages + seq;
    const mask = 1 << (bit & 7);
    if (seen[bit >>> 3] & mask) {
      this.#duplicated++;
      return "duplicate";
    }
    seen[bit >>> 3] |= mask;
    this.#unique++;
    if (seq < last[sender]) this.#outOfOrder++;
    else last[sender] = seq;
    this.latency.record(latencyUs);
    return "new";
  }

  /** The counts so far. */
  totals(): LedgerTotals {
    return {
      expected: this.expected,
      unique: this.#unique,
      lost: this.expected - this.#unique,
      duplicated: this.#duplicated,
      outOfOrder: this.#outOfOrder,
      echoed: this.#echoed,
      unknown: this.#unknown,
    };
  }
}
