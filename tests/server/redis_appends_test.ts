// Reading what Redis holds without coercing it (lib/server/redis/appends.ts,
// lib/server/redis/client.ts): a field or reply written by hand, by an older
// server or by another program never turns into a NaN seq or member id.

import assert from "node:assert/strict";
import { AppendQueue } from "../../lib/server/redis/appends.ts";
import { integerReply } from "../../lib/server/redis/client.ts";

function queue(serverId: string): AppendQueue {
  return new AppendQueue({
    client: () => {
      throw new Error("no Redis in this test");
    },
    serverId,
    lastSeq: () => 0,
    historyLimit: 0,
    inDoubt: () => {},
  });
}

Deno.test("an origin tag names one of this server's appends only when both numbers are numbers", () => {
  const appends = queue("s1");
  assert.deepEqual(appends.ownEntry("s1/7/3"), { author: 7, number: 3 });
  for (const forged of ["s1/x/3", "s1/7/", "s1/7", "s1/{}/[]", "s1/1e3/2", "s1/7/3.5"]) {
    assert.equal(appends.ownEntry(forged), undefined, forged);
  }
  assert.equal(appends.ownEntry("s2/7/3"), undefined, "another server's");
  assert.equal(appends.ownEntry(undefined), undefined);
});

Deno.test("a reply is an integer only when it is one: never NaN, never 0 for null", () => {
  assert.equal(integerReply(42), 42);
  assert.equal(integerReply("-1"), -1);
  assert.equal(integerReply("17"), 17);
  for (const value of ["x", "", "1.5", "1e3", null, undefined, [], {}, 2 ** 60, NaN]) {
    assert.equal(integerReply(value), undefined, JSON.stringify(value));
  }
});
