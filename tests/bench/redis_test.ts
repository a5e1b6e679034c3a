// `chat bench --addr a,b` against two real `chat server --redis` processes
// sharing one chat through a private redis-server: every message reaches
// every client whichever server it is on, and client i logs in on server
// i mod 2. Then `deno task bench --redis --quick` end to end, which starts
// its own redis-server and servers (1 without Redis, 1 and 3 with it).
// Needs redis-server on PATH (.ci/run installs it); skipped with a notice without it.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runBench } from "../../lib/bench/cli.ts";
import { startRedis, startSharedServers } from "../../bench/processes.ts";
import type { BenchReport } from "../../lib/bench/result.ts";
import { serverPermissions } from "../../bench/harness.ts";
import { missing } from "../_tools.ts";
import { benchTask, memoryContext } from "./_helpers.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
/** Both tests run a private redis-server; skipped with a notice without it. */
const REDIS_MISSING = missing("redis-server");

Deno.test({
  name: "--addr a,b: clients spread over two servers sharing one chat through Redis",
  ignore: REDIS_MISSING,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "chat-bench-redis-test-" });
    const redis = await startRedis();
    const logins: string[][] = [[], []];
    try {
      const shared = await startSharedServers(
        Deno.execPath(),
        serverPermissions(),
        MAIN,
        dir,
        redis.url,
        2,
        (server, line) => {
          const nick = line.match(/\blogin peer=\S+ nick=(\S+)/)?.[1];
          if (nick !== undefined) logins[server].push(nick);
        },
      );
      try {
        const context = memoryContext();
        const code = await runBench([
          "--addr",
          shared.servers.map((server) => `127.0.0.1:${server.port}`).join(","),
          "--ca",
          shared.certPath,
          "--clients",
          "6",
          "--senders",
          "2",
          "--messages",
          "100",
          "--workers",
          "2",
          "--json",
        ], context);
        assert.equal(code, 0, context.err.join(""));
        const result: BenchReport = JSON.parse(context.out.join("").trim());
        assert.equal(result.delivered, 2 * 100 * 5);
        assert.deepEqual([result.lost, result.duplicated, result.outOfOrder], [0, 0, 0]);
      } finally {
        await shared.stop();
      }
    } finally {
      await redis.child.stop();
      await Deno.remove(dir, { recursive: true });
    }
    // The servers' logs, read after they stopped: client i logged in on server i mod 2.
    const indices = logins.map((nicks) =>
      nicks.map((nick) => Number(nick.split("-").at(-1))).sort((a, b) => a - b)
    );
    assert.deepEqual(indices, [[0, 2, 4], [1, 3, 5]]);
  },
});

Deno.test({
  name: "deno task bench --redis --quick: 1 server without Redis, 1 and 3 with it",
  ignore: REDIS_MISSING,
  async fn() {
    const { code, stdout, log } = await benchTask(["--redis", "--quick", "--json"]);
    assert.equal(code, 0, log);
    const result = JSON.parse(stdout);
    assert.equal(result.ok, true);
    assert.deepEqual(
      result.rows.map((row: { metric: string }) => row.metric),
      ["deliveries/s", "latency p50 ms", "latency p99 ms"],
    );
    for (const row of result.rows) {
      assert.deepEqual(Object.keys(row.medians), [
        "1 server, no Redis",
        "1 server, Redis",
        "3 servers, Redis",
      ]);
      for (const value of Object.values(row.medians)) assert.ok((value as number) > 0, row.metric);
    }
    assert.match(result.table, /\| 1 server, no Redis \| 1 server, Redis \| 3 servers, Redis \|/);
  },
});
