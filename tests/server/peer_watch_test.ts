// Peers that stall on their sending side (lib/server/peer_watch.ts, issue 16
// items 4 and 6), against the real server over real TLS, with its limits
// made small: a line left unfinished for good, and a peer that asked for
// heartbeats and vanished without a word (no FIN: the socket stays open, as
// after a network switch).

import assert from "node:assert/strict";
import { sleep } from "../../lib/deadline.ts";
import { eventually, loginAsking, startServer, TestClient, type TestServer } from "./_helpers.ts";

const encoder = new TextEncoder();

/** How a test expects a stalled peer to be cut. */
interface Cut {
  client: TestClient;
  nickname: string;
  /** When the clock of the limit started (performance.now()). */
  from: number;
  /** Earliest and latest acceptable cut, in ms after `from`. */
  within: [number, number];
  /** The log event and the disconnect reason. */
  event: string;
  reason: string;
}

/**
 * The peer is cut within its window, with its log event and disconnect
 * reason; its nickname is free, and `witness`, connected all along, hears
 * it again.
 */
async function assertCutAndFree(server: TestServer, witness: TestClient, cut: Cut): Promise<void> {
  assert.ok(await cut.client.closedByServer(3000), "still open");
  const after = performance.now() - cut.from;
  assert.ok(after >= cut.within[0] && after < cut.within[1], `cut after ${after} ms`);
  const logged = (pattern: RegExp) => server.logs.some((line) => pattern.test(line));
  assert.ok(
    await eventually(() => logged(new RegExp(`^${cut.event} .*nick=${cut.nickname}`))),
    server.logs.join("\n"),
  );
  assert.ok(logged(new RegExp(`^disconnect .*nick=${cut.nickname} reason="?${cut.reason}`)));
  await using again = await TestClient.login(server, cut.nickname);
  await again.send({ message: "back under my own name" });
  const heard = await witness.next();
  assert.deepEqual([heard.from, heard.message], [cut.nickname, "back under my own name"]);
}

Deno.test("a line dripped a byte at a time and never finished is cut at the limit, counted from its first byte", async () => {
  await using server = await startServer({ partialLineMs: 500 });
  await using dripper = await TestClient.login(server, "dripper");
  await using alice = await TestClient.login(server, "alice");
  const started = performance.now();
  for (const byte of encoder.encode('{"message":"never ends')) {
    if (dripper.closed) break;
    await dripper.send(Uint8Array.of(byte)).catch(() => {});
    await sleep(50);
  }
  await assertCutAndFree(server, alice, {
    client: dripper,
    nickname: "dripper",
    from: started,
    within: [450, 1500],
    event: "partial line timeout",
    reason: "unfinished line",
  });
});

Deno.test("whole lines sent slowly, one every 400 ms, are never cut by the unfinished-line limit", async () => {
  await using server = await startServer({ partialLineMs: 500 });
  await using slow = await TestClient.login(server, "slow");
  await using alice = await TestClient.login(server, "alice");
  for (let i = 0; i < 5; i++) {
    // Each line takes ~300 ms to arrive in two halves, but finishes within the limit.
    await slow.send(`{"message":"line ${i}`);
    await sleep(300);
    await slow.send('"}\n');
    await sleep(100);
  }
  const got = await alice.take(5);
  assert.deepEqual(got.map((f) => f.message), [0, 1, 2, 3, 4].map((i) => `line ${i}`));
  assert.ok(!slow.closed);
});

Deno.test("a peer that asked for heartbeats and then falls silent is cut after the grace, and its nickname is free", async () => {
  await using server = await startServer({ heartbeatGraceMs: 600 });
  const { client: gone, ok } = await loginAsking(server, "gone", ["heartbeat"]);
  await using _gone = gone;
  const silentFrom = performance.now();
  assert.ok((ok.features as string[]).includes("heartbeat"), JSON.stringify(ok));
  await using alice = await TestClient.login(server, "alice");
  // Nothing after the login, with the socket left open: from the server's side it vanished.
  await assertCutAndFree(server, alice, {
    client: gone,
    nickname: "gone",
    from: silentFrom,
    within: [550, 2000],
    event: "heartbeat lost",
    reason: "no heartbeat",
  });
});

Deno.test("a peer that asked for heartbeats and sends them is kept; nobody who did not ask is cut for silence, blank lines or not", async () => {
  await using server = await startServer({ heartbeatGraceMs: 600 });
  const { client: beating } = await loginAsking(server, "beating", ["heartbeat", "presence"]);
  await using _beating = beating;
  await using silent = await TestClient.login(server, "silent");
  // A person at openssl s_client who presses Enter on an empty line after some quiet:
  // that once counted as asking for heartbeats, and cut them a minute later.
  await using typist = await TestClient.login(server, "typist");
  const { client: asking } = await loginAsking(server, "asking", ["direct"]);
  await using _asking = asking;
  await sleep(200);
  await typist.send("\n");
  for (let i = 0; i < 8; i++) {
    await sleep(200);
    await beating.send("\n");
  }
  assert.ok(!beating.closed && !silent.closed && !typist.closed && !asking.closed);
  assert.ok(!server.logs.some((l) => l.startsWith("heartbeat lost")), server.logs.join("\n"));
  // They all still chat.
  await silent.send({ message: "still here" });
  await typist.send({ message: "me too" });
  assert.deepEqual((await asking.take(2)).map((f) => f.message), ["still here", "me too"]);
});
