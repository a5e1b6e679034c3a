// The token bucket shared by the server's rate limit and the client's pacing.

import assert from "node:assert/strict";
import { TokenBucket } from "../lib/token_bucket.ts";

Deno.test("allows a burst, then refuses until time refills the bucket", () => {
  const bucket = new TokenBucket(10, 20, 0);
  for (let i = 0; i < 20; i++) assert.equal(bucket.take(0), true, `frame ${i}`);
  assert.equal(bucket.take(0), false);
  assert.equal(bucket.take(99), false, "0.99 tokens after 99 ms at 10/s");
  assert.equal(bucket.take(100), true, "one token after 100 ms");
  assert.equal(bucket.take(100), false);
});

Deno.test("never holds more than the burst, however long it rests", () => {
  const bucket = new TokenBucket(10, 20, 0);
  let allowed = 0;
  while (bucket.take(3_600_000)) allowed++;
  assert.equal(allowed, 20);
});

Deno.test("sustains its rate on average", () => {
  const bucket = new TokenBucket(50, 100, 0);
  let allowed = 0;
  // One frame attempt every millisecond for 10 s.
  for (let t = 0; t < 10_000; t++) if (bucket.take(t)) allowed++;
  assert.ok(allowed >= 100 + 499 && allowed <= 100 + 500, `${allowed} allowed`);
});

Deno.test("a rate of 0 turns the limit off", () => {
  const bucket = new TokenBucket(0, 0, 0);
  for (let i = 0; i < 10_000; i++) assert.equal(bucket.take(0), true);
});

Deno.test("refuses negative settings", () => {
  assert.throws(() => new TokenBucket(-1, 2, 0), RangeError);
});

Deno.test("says how long until the next token, and starts over from empty when told", () => {
  const bucket = new TokenBucket(20, 2, 0);
  assert.equal(bucket.wait(0), 0);
  assert.equal(bucket.take(0) && bucket.take(0), true);
  assert.equal(bucket.wait(0), 50, "one token every 50 ms at 20/s");
  assert.equal(bucket.wait(30), 20);
  bucket.empty(1_000);
  assert.equal(bucket.wait(1_000), 50, "emptied: the full bucket was dropped");
  assert.equal(bucket.take(1_050), true);
  assert.equal(bucket.rate, 20);
});

Deno.test("an unlimited bucket never makes anyone wait, even after being emptied", () => {
  const bucket = new TokenBucket(0, 0, 0);
  bucket.empty(0);
  assert.equal(bucket.wait(0), 0);
  assert.equal(bucket.take(0), true);
});
