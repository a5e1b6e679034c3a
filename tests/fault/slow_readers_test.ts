// Slow readers against a real server process: 20 clients log in and never
// read while 8 others chat (50 messages of 4 KiB a second each). The idlers
// are cut off ("send queue full") once they are --send-queue-bytes behind;
// the chatters get every message, in order, and their delivery delay stays
// close to that of the same chat without idlers. The server's memory grows
// by no more than the send-queue cap, the socket's buffer and one write batch
// per idler.
//
// Two shared cores make a tight latency comparison noisy, so the bound here
// is generous (4×, or 100 ms); `deno task soak` measures the 2× claim with
// 100 idlers and reports the figures.

import assert from "node:assert/strict";
import { SOCKET_BUFFER_BYTES } from "../../lib/server/socket_writer.ts";
import { DEFAULT_BATCH_BYTES } from "../../lib/server/outbox.ts";
import { HAS_PROC } from "../../bench/fault/server_process.ts";
import { runSlowReaders } from "../../bench/fault/slow_readers.ts";

const SEND_QUEUE = 256 * 1024;

Deno.test({
  name:
    "clients that never read are cut off, the others get everything without delay, memory is bounded",
  ignore: !HAS_PROC,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "chat-fault-" });
    try {
      const run = (idlers: number) =>
        runSlowReaders(dir, {
          idlers,
          chatters: 8,
          perChatter: 200,
          ratePerSecond: 50,
          messageBytes: 4096,
          sendQueueBytes: SEND_QUEUE,
        });
      const base = await run(0);
      const loaded = await run(20);
      const report = JSON.stringify({ base, loaded });
      for (const figures of [base, loaded]) {
        assert.equal(figures.delivered, figures.expected, report);
        assert.equal(figures.disorder, 0, report);
      }
      assert.equal(base.cut, 0, report);
      assert.equal(loaded.cut, loaded.idlers, report);
      assert.ok(loaded.delay.p99 <= Math.max(4 * base.delay.p99, 100), `p99: ${report}`);
      const grew = (f: typeof base) => f.rssPeakKiB - f.rssStartKiB;
      // Per idler: its send queue, its socket's buffer, and the write that filled it.
      const perIdler = SEND_QUEUE + SOCKET_BUFFER_BYTES + DEFAULT_BATCH_BYTES;
      const allowance = (loaded.idlers * perIdler) / 1024 + 16 * 1024;
      assert.ok(grew(loaded) <= grew(base) + allowance, `memory: ${report}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
