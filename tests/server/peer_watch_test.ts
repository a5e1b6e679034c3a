// Peers that stall on their sending side (lib/server/peer_watch.ts, issue 16
// items 4 and 6), against the real server over real TLS, with its limits
// made small: a line left unfinished for good, and a heartbeating peer that
// vanished without a word (no FIN: the socket stays open, as after a
// network switch).

import assert from "node:assert/strict";
import { sleep } from "../../lib/deadline.ts";
import { eventually, startServer, TestClient } from "./_helpers.ts";

const encoder = new TextEncoder();

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
  assert.ok(await dripper.closedByServer(3000), "still open");
  const cutAfter = performance.now() - started;
  assert.ok(cutAfter >= 450 && cutAfter < 1500, `cut after ${cutAfter} ms`);
  assert.ok(
    await eventually(() =>
      server.logs.some((l) => l.startsWith("partial line timeout") && l.includes("nick=dripper"))
    ),
    server.logs.join("\n"),
  );
  assert.ok(server.logs.some((l) => /disconnect .*nick=dripper reason="?unfinished line/.test(l)));
  // Its nickname is free, and nobody else noticed.
  await using again = await TestClient.login(server, "dripper");
  await again.send({ message: "back" });
  assert.equal((await alice.next()).message, "back");
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
  assert.ok(await gone.closedByServer(3000), "still open");
  const cutAfter = performance.now() - silentFrom;
  assert.ok(cutAfter >= 550 && cutAfter < 2000, `cut after ${cutAfter} ms`);
  assert.ok(server.logs.some((l) => l.startsWith("heartbeat lost") && l.includes("nick=gone")));
  assert.ok(server.logs.some((l) => /disconnect .*nick=gone reason="?no heartbeat/.test(l)));
  await using back = await TestClient.login(server, "gone");
  await back.send({ message: "back under my own name" });
  assert.equal((await alice.next()).from, "gone");
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
