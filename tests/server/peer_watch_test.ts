// Peers that stall on their sending side (lib/server/peer_watch.ts, issue 16
// items 4 and 6), against the real server over real TLS, with its limits
// made small: a line left unfinished for good, and a heartbeating peer that
// vanished without a word (no FIN: the socket stays open, as after a
// network switch).

import assert from "node:assert/strict";
import { sleep } from "../../lib/deadline.ts";
import { eventually, startServer, TestClient, type TestServer } from "./_helpers.ts";

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

Deno.test("a peer that heartbeats and then falls silent is cut after the grace, and its nickname is free", async () => {
  await using server = await startServer({ heartbeatGraceMs: 600 });
  await using gone = await TestClient.login(server, "gone");
  await using alice = await TestClient.login(server, "alice");
  // A heartbeat: a blank line alone, after a sixth of the grace (100 ms) or more of quiet.
  await sleep(150);
  await gone.send("\n");
  const silentFrom = performance.now();
  // Then nothing, with the socket left open: from the server's side it vanished.
  await assertCutAndFree(server, alice, {
    client: gone,
    nickname: "gone",
    from: silentFrom,
    within: [550, 2000],
    event: "heartbeat lost",
    reason: "no heartbeat",
  });
});

Deno.test("a peer that keeps heartbeating is kept, and a silent one that never heartbeats is never cut for it", async () => {
  await using server = await startServer({ heartbeatGraceMs: 600 });
  await using beating = await TestClient.login(server, "beating");
  await using silent = await TestClient.login(server, "silent");
  // A client that ends its frames with a blank line has not sent a heartbeat: it came with a frame.
  await using chatty = await TestClient.login(server, "chatty");
  await chatty.send('{"message":"hi"}\n\n');
  for (let i = 0; i < 8; i++) {
    await sleep(200);
    await beating.send("\n");
  }
  assert.ok(!beating.closed && !silent.closed && !chatty.closed);
  assert.ok(!server.logs.some((l) => l.startsWith("heartbeat lost")), server.logs.join("\n"));
  // All three still chat.
  await silent.send({ message: "still here" });
  assert.equal((await beating.next()).message, "hi");
  assert.equal((await beating.next()).message, "still here");
});
