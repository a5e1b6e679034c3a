import assert from "node:assert/strict";
import { bucketOf, LatencyHistogram, Ledger } from "../../lib/bench/stats.ts";

Deno.test("histogram buckets are contiguous and ordered", () => {
  let previous = -1;
  for (let v = 0; v < 1 << 20; v += v < 1000 ? 1 : 97) {
    const bucket = bucketOf(v);
    assert.ok(bucket === previous || bucket === previous + 1 || v >= 1000, `value ${v}`);
    assert.ok(bucket >= previous, `value ${v}`);
    previous = bucket;
  }
  assert.equal(bucketOf(2 ** 31 - 1) > bucketOf(2 ** 30), true);
});

Deno.test("percentiles are within 1.6 % of the exact ones, the maximum exact", () => {
  const histogram = new LatencyHistogram();
  const values: number[] = [];
  let seed = 7;
  for (let i = 0; i < 100_000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const value = Math.floor((seed / 2 ** 31) ** 3 * 5_000_000); // Skewed, up to 5 s.
    values.push(value);
    histogram.record(value);
  }
  values.sort((a, b) => a - b);
  for (const p of [50, 90, 99, 99.9]) {
    const exact = values[Math.ceil((p / 100) * values.length) - 1];
    const got = histogram.percentile(p);
    assert.ok(Math.abs(got - exact) <= exact * 0.016 + 1, `p${p}: ${got} vs ${exact}`);
  }
  assert.equal(histogram.max, values.at(-1));
  assert.equal(histogram.count, 100_000);
});

Deno.test("small latencies are exact; an empty histogram says 0", () => {
  const histogram = new LatencyHistogram();
  assert.equal(histogram.percentile(99), 0);
  for (const v of [5, 7, 9]) histogram.record(v);
  assert.equal(histogram.percentile(50), 7);
  histogram.record(-3); // A clock step backwards counts as 0.
  assert.equal(histogram.percentile(1), 0);
});

Deno.test("merging histograms adds their samples", () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  a.record(10);
  b.record(1000);
  b.record(1000);
  a.merge(b);
  assert.equal(a.count, 3);
  assert.equal(a.max, 1000);
  assert.ok(Math.abs(a.percentile(50) - 1000) <= 16);
});

Deno.test("the ledger expects every sender's messages at every other client", () => {
  const ledger = new Ledger(4, 2, 10);
  assert.equal(ledger.expected, 2 * 10 * 3);
  assert.equal(ledger.totals().lost, 60);
});

Deno.test("the ledger tells new, duplicate, echo and unknown deliveries apart", () => {
  const ledger = new Ledger(3, 2, 5);
  assert.equal(ledger.record(2, 0, 0, 100), "new");
  assert.equal(ledger.record(2, 0, 0, 100), "duplicate");
  assert.equal(ledger.record(0, 0, 1, 100), "echo");
  assert.equal(ledger.record(2, 2, 0, 100), "unknown"); // Client 2 does not send.
  assert.equal(ledger.record(2, 0, 5, 100), "unknown"); // Past M.
  assert.equal(ledger.record(1, 0, 0, 100), "new");
  const totals = ledger.totals();
  assert.deepEqual(totals, {
    expected: 2 * 5 * 2,
    unique: 2,
    lost: 18,
    duplicated: 1,
    outOfOrder: 0,
    echoed: 1,
    unknown: 2,
  });
  assert.equal(ledger.latency.count, 2);
});

Deno.test("out of order counts a lower seq after a higher one, per sender and receiver", () => {
  const ledger = new Ledger(3, 2, 10);
  for (const seq of [0, 1, 3, 2, 4]) ledger.record(2, 0, seq, 1);
  for (const seq of [5, 6]) ledger.record(2, 1, seq, 1); // Another sender: its own order.
  ledger.record(1, 0, 9, 1);
  ledger.record(1, 0, 8, 1);
  ledger.record(1, 0, 7, 1);
  assert.equal(ledger.totals().outOfOrder, 3); // 2 after 3; 8 and 7 after 9.
});

Deno.test("a ledger cannot have more senders than clients", () => {
  assert.throws(() => new Ledger(2, 3, 1), RangeError);
});
