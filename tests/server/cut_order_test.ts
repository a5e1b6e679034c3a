// An operator's order between servers (lib/server/cut_order.ts): written
// and read back, and anything else refused.

import assert from "node:assert/strict";
import { type CutOrder, decodeOrder, encodeOrder } from "../../lib/server/cut_order.ts";

Deno.test("an order reads back as it was written", () => {
  const orders: CutOrder[] = [
    { how: "kick", by: "alice", reason: "", minutes: 0 },
    { how: "ban", by: "Ωmega", reason: 'spam\n"quoted"', minutes: 60 },
  ];
  for (const order of orders) assert.deepEqual(decodeOrder(encodeOrder(order)), order);
});

Deno.test("anything but an order of ours is refused", () => {
  for (
    const text of [
      "",
      "not json",
      "null",
      "[]",
      '{"how":"mute","by":"a","reason":"","minutes":0}',
      '{"how":"kick","by":7,"reason":"","minutes":0}',
      '{"how":"ban","by":"a","reason":"","minutes":-1}',
      '{"how":"ban","by":"a","reason":"","minutes":"5"}',
      '{"how":"ban","by":"a","minutes":5}',
    ]
  ) {
    assert.equal(decodeOrder(text), undefined, text);
  }
});
