import assert from "node:assert/strict";
import { parseBenchArgs, runBench } from "../../lib/bench/cli.ts";
import { chooseDialers } from "../../lib/bench/dial.ts";
import {
  assertLossesAndDuplicatesCounted,
  assertUsageErrors,
  memoryContext,
  opensslIdentity,
  report,
  startFake,
  startOurs,
  target,
} from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";
import { ourServer } from "../client/_helpers.ts";

/** Deno.test for the tests that make a certificate with openssl: skipped without it. */
const test = testNeeding("openssl");

Deno.test("defaults, and the flags that are refused", () => {
  const config = parseBenchArgs([]);
  assert.ok(config !== "help");
  assert.equal(config.label, "localhost:1337");
  assert.deepEqual(
    [config.load.clients, config.load.senders, config.load.messages, config.load.size],
    [10, 1, 1000, 100],
  );
  assert.equal(config.load.rate, undefined);
  assert.equal(config.load.idleTimeoutMs, 10_000);
  assert.equal(parseBenchArgs(["-h"]), "help");
  assertUsageErrors(
    parseBenchArgs,
    [
      [["--ca", "x.pem", "--insecure"], /exclude each other/],
      [["--clients", "1"], /--clients must be an integer from 2/],
      [["--clients", "3", "--senders", "4"], /--senders must be an integer from 0 to 3/],
      [["--size", "20"], /--size must be at least 38 bytes/],
      [["--rate", "0"], /--rate must be an integer from 1/],
      [["--addr", "host:x"], /--addr: port must be a number/],
      [["--bogus"], /bogus/],
    ] as const,
  );
});

Deno.test("against our server: every message arrives once, in order; JSON result", async () => {
  await using server = await startOurs();
  const context = memoryContext();
  const code = await runBench([
    ...target(server),
    "--clients",
    "6",
    "--senders",
    "3",
    "--messages",
    "300",
    "--json",
  ], context);
  const result = report(context);
  assert.equal(code, 0, context.err.join(""));
  assert.equal(result.ok, true);
  assert.equal(result.expected, 3 * 300 * 5);
  assert.equal(result.delivered, result.expected);
  assert.deepEqual([result.lost, result.duplicated, result.outOfOrder, result.echoed], [
    0,
    0,
    0,
    0,
  ]);
  assert.equal(result.tls, "Deno.connectTls");
  assert.equal(result.coalescedWrites, true);
  assert.ok(result.deliveriesPerSecond > 0);
  assert.ok(
    result.latencyMs.p50 <= result.latencyMs.p99 && result.latencyMs.p99 <= result.latencyMs.max,
  );
  assert.ok(0 < result.latencyMs.p50 && result.latencyMs.max < 60_000, `${result.latencyMs.max}`);
});

Deno.test("a second run against the same server skips the first run's replay", async () => {
  await using server = await startOurs();
  const args = [...target(server), "--clients", "3"];
  assert.equal(await runBench([...args, "--messages", "500"], memoryContext()), 0);
  const context = memoryContext();
  assert.equal(await runBench([...args, "--messages", "20"], context), 0, context.err.join(""));
  assert.match(
    context.out.join(""),
    /^40\/40 deliveries in .* lost 0, duplicated 0, out of order 0 \(3 clients, 1 sender × 20 messages of 100 B, as fast as possible, frames coalesced/,
  );
});

Deno.test("at a steady rate, the run takes about messages / rate", async () => {
  await using server = await startOurs();
  const context = memoryContext();
  const started = performance.now();
  const code = await runBench([
    ...target(server),
    "--clients",
    "3",
    "--senders",
    "2",
    "--messages",
    "20",
    "--rate",
    "100",
    "--json",
  ], context);
  assert.equal(code, 0, context.err.join(""));
  const result = report(context);
  assert.equal(result.rate, 100);
  assert.equal(result.coalescedWrites, false);
  assert.ok(result.seconds >= 0.18, `${result.seconds} s`);
  assert.ok(performance.now() - started < 5000);
});

Deno.test("--raw against a line-broadcast server like ncat --chat", async () => {
  await using server = await startFake();
  const context = memoryContext();
  const code = await runBench([
    "--raw",
    ...target(server),
    "--clients",
    "4",
    "--senders",
    "2",
    "--messages",
    "100",
    "--json",
  ], context);
  assert.equal(code, 0, context.err.join(""));
  const result = report(context);
  assert.equal(result.mode, "raw");
  assert.equal(result.delivered, 2 * 100 * 3);
  assert.equal(result.lost, 0);
});

Deno.test("lost and duplicated messages are counted and fail the run", async () => {
  await assertLossesAndDuplicatesCounted();
});

Deno.test("a refused login fails the run with the server's reason", async () => {
  await using server = await startFake({ answer: '{"status":"error","reason":"go away"}\n' });
  const context = memoryContext();
  const code = await runBench(
    [...target(server), "--clients", "2"],
    context,
  );
  assert.equal(code, 1);
  assert.match(context.err.join(""), /login of b[0-9a-z]{8}-\d refused: go away/);
});

Deno.test("a server that never answers the login times out", async () => {
  await using server = await startFake({ relay: false, answer: "" });
  const context = memoryContext();
  const started = performance.now();
  const code = await runBench(
    [...target(server), "--timeout", "1", "--json"],
    context,
  );
  assert.equal(code, 1);
  assert.ok(performance.now() - started < 4000);
  assert.match(report(context).failure ?? "", /timed out/);
});

test("--ca with a CA:TRUE certificate falls back to node:tls; --insecure uses it", async () => {
  await using server = await startFake({}, await opensslIdentity());
  const args = [
    "--raw",
    "--addr",
    `127.0.0.1:${server.port}`,
    "--clients",
    "3",
    "--messages",
    "50",
  ];
  const context = memoryContext();
  assert.equal(
    await runBench([...args, "--ca", server.caFile, "--json"], context),
    0,
    context.err.join(""),
  );
  assert.equal(report(context).tls, "node:tls");
  assert.match(context.err.join(""), /using node:tls \(Deno\.connectTls refused the certificate/);

  const insecure = memoryContext();
  assert.equal(
    await runBench([...args, "--insecure", "--json"], insecure),
    0,
    insecure.err.join(""),
  );
  assert.equal(report(insecure).tls, "node:tls");
  assert.equal(report(insecure).lost, 0);
});

test("--insecure uses Deno's client, trusting the certificate shown, where it accepts it", async () => {
  // Our server's certificate is CA:FALSE and names 127.0.0.1: Deno's client takes it.
  await using ours = await startOurs();
  const addr = ["--addr", `127.0.0.1:${ours.port}`, "--clients", "3", "--messages", "50"];
  const context = memoryContext();
  assert.equal(await runBench([...addr, "--insecure", "--json"], context), 0, context.err.join(""));
  assert.equal(report(context).tls, "Deno.connectTls");
  assert.equal(report(context).lost, 0);
  assert.match(
    context.err.join(""),
    /using Deno\.connectTls \(--insecure: trusting the certificate the server showed\)/,
  );
  // Two servers with two certificates: the second is not the one shown first, so node:tls.
  await using other = await startFake({}, await opensslIdentity(false));
  const addresses = [ours.port, other.port].map((port) => ({ host: "127.0.0.1", port }));
  const chosen = await chooseDialers(addresses, { kind: "insecure" });
  assert.deepEqual([chosen.client, chosen.note, chosen.spec.trust], [
    "node:tls",
    "--insecure",
    { kind: "insecure" },
  ]);
});

Deno.test("on a terminal a progress line is drawn, then cleared for the result", async () => {
  await using server = await startOurs();
  const context = memoryContext(true);
  const code = await runBench(
    [
      ...target(server),
      "--clients",
      "3",
      "--messages",
      "20",
      "--rate",
      "50",
    ],
    context,
  );
  assert.equal(code, 0);
  const out = context.out.join("").replaceAll("\r\x1b[2K", "<clear>");
  assert.match(out, /<clear>sending +3\/3 logged in {2}sent \d+\/20 {2}delivered \d+\/40/);
  assert.match(out, /<clear>40\/40 deliveries in/);
});

Deno.test("an unreachable server is one sentence and exit 1", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const context = memoryContext();
  assert.equal(await runBench(["--addr", `127.0.0.1:${port}`], context), 1);
  assert.match(context.err.join(""), /^chat bench: cannot connect to 127\.0\.0\.1:\d+: .*refused/i);
});

Deno.test("the README tour's bench command, against a server with default limits, loses nothing", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const line = readme.match(/^\$ \.\/chat bench (.*)$/m)?.[1];
  assert.ok(line, "README.md's tour shows a `$ ./chat bench` line");
  // Its flags as written, pointed at this server (the tour's --ca is the server's certs/cert.pem).
  const flags = line.split(/\s+/);
  const ca = flags.indexOf("--ca");
  assert.ok(ca >= 0, line);
  flags.splice(ca, 2);
  await using server = await ourServer();
  const context = memoryContext();
  const code = await runBench(
    [...flags, "--addr", `127.0.0.1:${server.server.port}`, "--ca", `${server.dir}/certs/cert.pem`],
    context,
  );
  const out = context.out.join("");
  assert.equal(code, 0, out + context.err.join(""));
  assert.match(out, /lost 0, duplicated 0, out of order 0 \(/, out);
  assert.doesNotMatch(out, /error replies/, out);
});
