// Slowloris against the in-process server with short deadlines: connections
// that never finish their TLS handshake (silent, half a ClientHello, a
// ClientHello one byte at a time) are cut at the handshake deadline; ones
// that never log in (silent, or a login frame one byte at a time) at the
// login deadline. Two clients chatting meanwhile see no delay. The soak
// (`deno task soak`) runs the same against a real process with the default
// 10 s handshake deadline and one byte a second.

import assert from "node:assert/strict";
import { startServer } from "../server/_helpers.ts";
import { latency } from "../../bench/fault/latency.ts";
import { runSlowloris, SLOW_KINDS } from "../../bench/fault/slowloris.ts";

const HANDSHAKE_MS = 1000;
const LOGIN_MS = 2000;

Deno.test("slow and silent connections are cut at their deadlines, and the chat goes on unhindered", async () => {
  await using server = await startServer({
    handshakeTimeoutMs: HANDSHAKE_MS,
    loginTimeoutMs: LOGIN_MS,
    maxPerIp: 1000,
  });
  const perKind = 20;
  const figures = await runSlowloris(server, {
    perKind,
    dripMs: 100,
    handshakeTimeoutMs: HANDSHAKE_MS,
    loginTimeoutMs: LOGIN_MS,
    chatEveryMs: 20,
  });
  const summary = Object.fromEntries(
    SLOW_KINDS.map((kind) => [kind, latency(figures.lifetimes[kind])]),
  );
  const report = JSON.stringify({
    summary,
    chat: figures.chat,
    chatHeld: figures.chatHeld,
    survivors: figures.survivors,
  });
  for (const kind of SLOW_KINDS) {
    assert.equal(figures.survivors[kind], 0, `${kind} outlived its deadline: ${report}`);
    const deadline = kind === "no login" || kind === "drip login" ? LOGIN_MS : HANDSHAKE_MS;
    for (const ms of figures.lifetimes[kind]) {
      assert.ok(
        ms >= deadline - 50 && ms < deadline + 1500,
        `${kind} cut after ${ms} ms: ${report}`,
      );
    }
  }
  const reasons = (reason: string) =>
    server.logs.filter((l) => l.startsWith("disconnect") && l.endsWith(`reason=${reason}`)).length;
  assert.equal(reasons("TLS handshake timeout"), 3 * perKind, server.logs.join("\n"));
  assert.equal(reasons("login timeout"), 2 * perKind, server.logs.join("\n"));
  // The chat: every message arrived, none late.
  assert.equal(figures.received, figures.sent);
  assert.ok(figures.sent > 50, report);
  assert.ok(figures.chatHeld.count > 30, report);
  // A server that waited on slow peers would hold the chat for about a
  // deadline (1 s or 2 s); the typical delay is a millisecond or two. Under
  // a starved CPU single messages take a few hundred milliseconds, so the
  // bound on the worst is half the handshake deadline, and on the median
  // far below it.
  assert.ok(figures.chatHeld.p50 < 50, `chat delay: ${report}`);
  assert.ok(figures.chatHeld.max < HANDSHAKE_MS / 2, `chat delay: ${report}`);
  assert.ok(figures.chat.max < 1000, `chat delay while the slow connections opened: ${report}`);
});
