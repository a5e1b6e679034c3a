// bench/peers.ts without the peers: reading chatload's result line, where
// the peers are looked for, and chatload's command line. (The harness test
// runs them when they are built; nothing here needs them.)

import assert from "node:assert/strict";
import {
  chatloadArgs,
  findPeers,
  parseChatload,
  PEER_GENERATOR,
  PEER_SERVER,
  peersDir,
} from "../../bench/peers.ts";
import type { LoadScenario } from "../../bench/scenarios.ts";

/** A line as chatload prints it (src/chatload.rs), with `changes` applied. */
function line(changes: Record<string, string> = {}): string {
  const fields: Record<string, string> = {
    mode: "json",
    clients: "100",
    senders: "1",
    msgs: "10000",
    bytes: "100",
    rate: "0",
    delivered: "990000",
    expected: "990000",
    lost: "0",
    dup: "0",
    ooo: "0",
    echo: "0",
    errors: "0",
    timeouts: "0",
    closed: "0",
    connect_secs: "0.412",
    send_secs: "0.021",
    secs: "0.688",
    deliveries_per_s: "1438953",
    p50_ms: "341.120",
    p99_ms: "612.001",
    max_ms: "640.500",
    ...changes,
  };
  return Object.entries(fields).map(([key, value]) => `${key}=${value}`).join(" ");
}

Deno.test("chatload's line reads as a report in the harness's terms", () => {
  assert.deepEqual(parseChatload(line()), {
    ok: true,
    clients: 100,
    expected: 990000,
    delivered: 990000,
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    echoed: 0,
    errors: 0,
    timeouts: 0,
    closed: 0,
    connectSeconds: 0.412,
    seconds: 0.688,
    deliveriesPerSecond: 1438953,
    latencyMs: { p50: 341.12, p99: 612.001, max: 640.5 },
    failure: null,
  });
  // Surrounding blanks, as a line read from a pipe may have.
  assert.equal(parseChatload(`  ${line()}\n`)?.deliveriesPerSecond, 1438953);
});

Deno.test("a run chatload counts as failed says what went wrong", () => {
  const report = parseChatload(line({ lost: "12", dup: "3", timeouts: "1", delivered: "989991" }));
  assert.equal(report?.ok, false);
  assert.equal(report?.failure, "chatload: 12 lost, 3 duplicated, 1 receivers timed out");
  assert.equal(
    parseChatload(line({ closed: "2" }))?.failure,
    "chatload: 2 connections closed by the server",
  );
  // Reordered deliveries are counted, not a failure (chatload's own exit status agrees).
  assert.deepEqual([
    parseChatload(line({ ooo: "5" }))?.ok,
    parseChatload(line({ ooo: "5" }))?.outOfOrder,
  ], [true, 5]);
});

Deno.test("anything else is not a chatload line", () => {
  assert.equal(parseChatload(""), undefined);
  assert.equal(parseChatload("chatload: setup: only 3 of 100 clients synced"), undefined);
  assert.equal(parseChatload(line().replace(/ p99_ms=\S+/, "")), undefined);
  assert.equal(parseChatload(line({ deliveries_per_s: "fast" })), undefined);
  assert.equal(parseChatload(line({ lost: "" })), undefined);
});

Deno.test("the peers are looked for where --peers, PEERS_DIR, PEERS_TARGET or HOME say", () => {
  assert.equal(peersDir("/opt/peers", { PEERS_DIR: "/x", HOME: "/home/me" }), "/opt/peers");
  assert.equal(peersDir(undefined, { PEERS_DIR: "/x", PEERS_TARGET: "/t" }), "/x");
  assert.equal(peersDir(undefined, { PEERS_TARGET: "/t", HOME: "/home/me" }), "/t/release");
  assert.equal(peersDir(undefined, { HOME: "/home/me" }), "/home/me/.cache/chat-peers/release");
  assert.equal(peersDir(undefined, { PEERS_DIR: "", HOME: "/h" }), "/h/.cache/chat-peers/release");
});

Deno.test("findPeers takes executables only, and says how to build what is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const none = await findPeers(dir);
    assert.equal(none.server, undefined);
    assert.equal(none.generator, undefined);
    assert.equal(
      none.missing,
      `${PEER_SERVER} and ${PEER_GENERATOR} not built in ${dir}: build them with \`bash ../shared/peers/setup.sh\``,
    );
    await Deno.writeTextFile(`${dir}/${PEER_SERVER}`, "#!/bin/sh\n", { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/${PEER_GENERATOR}`, "not executable\n", { mode: 0o644 });
    const one = await findPeers(dir);
    assert.equal(one.server, `${dir}/${PEER_SERVER}`);
    assert.equal(one.generator, undefined);
    assert.match(one.missing ?? "", new RegExp(`^${PEER_GENERATOR} not built in `));
    await Deno.chmod(`${dir}/${PEER_GENERATOR}`, 0o755);
    const both = await findPeers(dir);
    assert.equal(both.generator, `${dir}/${PEER_GENERATOR}`);
    assert.equal(both.missing, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chatload's command line for a scenario, paced or not, raw for ncat", () => {
  const scenario: LoadScenario = {
    kind: "load",
    name: "n",
    clients: 100,
    senders: 10,
    messages: 1000,
    size: 100,
    metrics: ["deliveries/s"],
  };
  assert.deepEqual(chatloadArgs(scenario, 4000, false), [
    "127.0.0.1:4000",
    "100",
    "-s",
    "10",
    "-m",
    "1000",
    "-b",
    "100",
    "--idle",
    "60",
  ]);
  assert.deepEqual(chatloadArgs({ ...scenario, rate: 200 }, 4000, true).slice(0, 2), [
    "--raw",
    "127.0.0.1:4000",
  ]);
  assert.deepEqual(chatloadArgs({ ...scenario, rate: 200 }, 4000, true).slice(9, 11), [
    "--rate",
    "200",
  ]);
});
