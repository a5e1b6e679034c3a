// Churn against a real server process: a thousand connect/login/disconnect
// cycles (the soak runs ten thousand) leave its open file descriptors exactly
// where they were and its memory flat.
//
// Memory is read as the process's resident set. V8 grows its heap lazily when
// it may (with the default limits the RSS of this very run climbs by tens of
// MB and comes back down much later), so the server runs here with its heap
// capped at 16 MiB: garbage is collected early, and what is left to grow is
// what the server really keeps. (The cap was 24 MiB while the server loaded
// the X.509 and Redis libraries at start, which took 10 MiB of it; it
// loads them only when it needs them now, and 24 MiB left room for 12-16 MiB
// of garbage before the heap levelled off.) A leak of a socket or TLS session per cycle
// (tens of KiB) would add tens of MB here, or kill the server outright.

import assert from "node:assert/strict";
import { runChurn } from "../../bench/fault/churn.ts";
import { HAS_PROC, ServerProcess } from "../../bench/fault/server_process.ts";

Deno.test({
  name:
    "a thousand connect/login/disconnect cycles leave the descriptors as they were and memory flat",
  ignore: !HAS_PROC,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "chat-fault-" });
    try {
      await using server = await ServerProcess.start({
        dir,
        // One address logs in ~140 times a second: over the per-address rate limit, on purpose.
        args: ["--max-per-ip", "1000", "--rate-limit", "0"],
        denoFlags: ["--v8-flags=--max-old-space-size=16"],
      });
      const figures = await runChurn(server, {
        cycles: 1000,
        concurrency: 8,
        warmup: 300,
        samples: 3,
      });
      const report = JSON.stringify(figures);
      assert.equal(figures.failures, 0, report);
      assert.equal(figures.disconnects, figures.connects, report);
      const [start, ...rest] = figures.samples;
      for (const sample of rest) {
        assert.ok(Math.abs(sample.fds - start.fds) <= 2, `descriptors: ${report}`);
      }
      const growthKiB = rest.at(-1)!.rssKiB - start.rssKiB;
      assert.ok(growthKiB < 12 * 1024, `memory grew ${growthKiB} KiB: ${report}`);
      assert.equal((await server.kill("SIGTERM")).code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
