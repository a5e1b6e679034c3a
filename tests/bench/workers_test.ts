// `chat bench --workers K`: the clients spread over K Web Workers, each
// with its own connections and ledger, the run coordinated from the main
// thread; and `--addr a,b`: the clients spread over several addresses. The
// result must be the same run as without them: every delivery counted once,
// across Workers, and every failure reported with its reason.

import assert from "node:assert/strict";
import { parseBenchArgs, runBench } from "../../lib/bench/cli.ts";
import { addressIndexOf } from "../../lib/bench/dial.ts";
import { hostedBy } from "../../lib/bench/load.ts";
import {
  assertLossesAndDuplicatesCounted,
  assertUsageErrors,
  memoryContext,
  report,
  startFake,
  startOurs,
  target,
} from "./_helpers.ts";

Deno.test("Worker i mod K hosts client i; client i dials address i mod n", () => {
  assert.deepEqual(hostedBy(0, 3, 8), [0, 3, 6]);
  assert.deepEqual(hostedBy(1, 3, 8), [1, 4, 7]);
  assert.deepEqual(hostedBy(2, 3, 8), [2, 5]);
  assert.deepEqual([0, 1, 2, 3, 4].map((client) => addressIndexOf(client, 3)), [0, 1, 2, 0, 1]);
});

Deno.test("--addr takes several addresses; --workers is bounded by the clients", () => {
  const config = parseBenchArgs(["--addr", "127.0.0.1:7001,localhost:7002,[::1]:7003"]);
  assert.ok(config !== "help");
  assert.deepEqual(config.addresses.map((address) => [address.host, address.port]), [
    ["127.0.0.1", 7001],
    ["localhost", 7002],
    ["::1", 7003],
  ]);
  assert.equal(config.label, "127.0.0.1:7001,localhost:7002,[::1]:7003");
  assert.equal(config.load.workers, 1);
  const spread = parseBenchArgs(["--clients", "4", "--workers", "4"]);
  assert.ok(spread !== "help");
  assert.equal(spread.load.workers, 4);
  assertUsageErrors(
    parseBenchArgs,
    [
      [["--addr", "127.0.0.1:7001,,127.0.0.1:7002"], /--addr: address must not be empty/],
      [["--addr", "a:1,b:x"], /--addr: port must be a number .* \(in "a:1,b:x"\)/],
      [["--workers", "0"], /--workers must be an integer from 1 to 10/],
      [["--clients", "3", "--workers", "4"], /--workers must be an integer from 1 to 3/],
    ] as const,
  );
});

Deno.test("--workers 3 against our server: every message once, in order, one report", async () => {
  await using server = await startOurs();
  const context = memoryContext();
  const code = await runBench([
    ...target(server),
    "--clients",
    "7",
    "--senders",
    "3",
    "--messages",
    "300",
    "--workers",
    "3",
    "--json",
  ], context);
  assert.equal(code, 0, context.err.join(""));
  const result = report(context);
  assert.equal(result.ok, true);
  assert.equal(result.expected, 3 * 300 * 6);
  assert.equal(result.delivered, result.expected);
  assert.deepEqual(
    [result.lost, result.duplicated, result.outOfOrder, result.echoed, result.unknown],
    [0, 0, 0, 0, 0],
  );
  assert.ok(result.bytes > 3 * 300 * 6 * 100);
  assert.ok(
    0 < result.latencyMs.p50 && result.latencyMs.p50 <= result.latencyMs.p99 &&
      result.latencyMs.p99 <= result.latencyMs.max,
  );
  // Tokens carry send times since the run's epoch, one for every Worker: a wrong one shows here.
  assert.ok(result.latencyMs.max < 60_000, `${result.latencyMs.max} ms`);
  // The same keys as a run in one thread: the JSON does not change with --workers.
  const single = memoryContext();
  assert.equal(
    await runBench([
      ...target(server),
      "--clients",
      "3",
      "--messages",
      "10",
      "--json",
    ], single),
    0,
  );
  assert.deepEqual(Object.keys(result), Object.keys(report(single)));
});

Deno.test("--workers 2 at a steady rate, over two addresses of one server", async () => {
  await using server = await startOurs();
  const context = memoryContext();
  const addr = `127.0.0.1:${server.port},localhost:${server.port}`;
  const code = await runBench([
    "--addr",
    addr,
    "--ca",
    server.caFile,
    "--clients",
    "5",
    "--senders",
    "2",
    "--messages",
    "20",
    "--rate",
    "200",
    "--workers",
    "2",
  ], context);
  assert.equal(code, 0, context.err.join(""));
  assert.match(
    context.out.join(""),
    new RegExp(
      `^160/160 deliveries in .* lost 0, duplicated 0, out of order 0 \\(5 clients, 2 senders × 20 messages of 100 B, 200 messages/s per sender, protocol, Deno\\.connectTls, ${
        addr.replaceAll(".", "\\.")
      }\\)\\n$`,
    ),
  );
});

Deno.test("--workers 2: losses and duplicates are counted across Workers", async () => {
  await assertLossesAndDuplicatesCounted(["--workers", "2"]);
});

Deno.test("--workers 2: a login refused in a Worker fails the run with the server's reason", async () => {
  await using server = await startFake({ answer: '{"status":"error","reason":"go away"}\n' });
  const context = memoryContext();
  const code = await runBench(
    [
      ...target(server),
      "--clients",
      "4",
      "--workers",
      "2",
    ],
    context,
  );
  assert.equal(code, 1);
  assert.match(context.err.join(""), /login of b[0-9a-z]{8}-\d refused: go away/);
});
