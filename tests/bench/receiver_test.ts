import assert from "node:assert/strict";
import { markerOf, messageText, syncText } from "../../lib/bench/payload.ts";
import { MAX_CARRY_BYTES, Receiver, type ReceiverEvents } from "../../lib/bench/receiver.ts";
import { encodeChatMessage, encodeSend, encodeStatus } from "../../lib/protocol.ts";

const ID = "abcdefgh";
const MARKER = markerOf(ID);
const encoder = new TextEncoder();

/** Events recorded as strings, in order. */
function recorder(): { events: ReceiverEvents; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    events: {
      loggedIn: (client) => seen.push(`login ${client}`),
      refused: (client, reason) => seen.push(`refused ${client} ${reason}`),
      token: (client, sender, seq, sentUs, nowUs) =>
        seen.push(`token ${client} ${sender}:${seq} ${nowUs - sentUs}`),
      sync: (client, from) => seen.push(`sync ${client} ${from}`),
    },
  };
}

function frame(sender: number, seq: number, sentUs: number, from = "b-1"): string {
  return encodeChatMessage({
    from,
    message: messageText(MARKER, sender, seq, sentUs, 100),
    time: "2026-11-27T17:00:00+0000",
    seq: seq + 1,
  });
}

Deno.test("the login answer, a replay of other runs and live tokens in one chunk", () => {
  const { events, seen } = recorder();
  const receiver = new Receiver(3, ID, true, events);
  const other = markerOf("zzzzzzzz");
  const bytes = encodeStatus({ status: "ok" }) +
    encodeChatMessage({ from: "x", message: messageText(other, 0, 0, 1, 80), time: "t" }) +
    encodeChatMessage({ from: "bob", message: "hello", time: "t" }) +
    frame(0, 0, 1_000) + frame(0, 1, 2_000);
  receiver.push(encoder.encode(bytes), 5_000);
  assert.deepEqual(seen, ["login 3", "token 3 0:0 4000", "token 3 0:1 3000"]);
  assert.equal(receiver.bytes, encoder.encode(bytes).length);
});

Deno.test("a refused login is reported with the server's reason", () => {
  const { events, seen } = recorder();
  const receiver = new Receiver(0, ID, true, events);
  receiver.push(encoder.encode('{"status":"error","reason":"nickname taken"}\n'), 0);
  assert.deepEqual(seen, ["refused 0 nickname taken"]);
});

Deno.test("frames split anywhere across chunks are found once each", () => {
  const text = encodeStatus({ status: "ok" }) + frame(1, 7, 10) + frame(1, 8, 20) +
    encodeStatus({ status: "error", reason: "message too long" });
  const bytes = encoder.encode(text);
  for (const size of [1, 2, 3, 7, 50, 101]) {
    const { events, seen } = recorder();
    const receiver = new Receiver(2, ID, true, events);
    const buffer = new Uint8Array(size); // Reused, like a real read buffer.
    for (let i = 0; i < bytes.length; i += size) {
      const piece = bytes.subarray(i, i + size);
      buffer.set(piece);
      receiver.push(buffer.subarray(0, piece.length), 100);
    }
    assert.deepEqual(seen, ["login 2", "token 2 1:7 90", "token 2 1:8 80"], `chunks of ${size}`);
    assert.equal(receiver.errors, 1, `chunks of ${size}`);
  }
});

Deno.test("error frames are counted, and messages that talk about errors are not", () => {
  const { events, seen } = recorder();
  const receiver = new Receiver(4, ID, true, events);
  const error = (reason: string) => encodeStatus({ status: "error", reason });
  const chat = (message: string) => encodeChatMessage({ from: "eve", message, time: "t" });
  receiver.push(
    encoder.encode(
      encodeStatus({ status: "ok" }) + error("rate limited") + chat('"status":"error" terror"') +
        frame(0, 0, 10) + error("message too long") + chat("an error") + error("x"),
    ),
    100,
  );
  assert.deepEqual(seen, ["login 4", "token 4 0:0 90"]);
  assert.equal(receiver.errors, 3);
});

Deno.test("raw mode: no login, the marker anywhere in a line, ncat's announcements ignored", () => {
  const { events, seen } = recorder();
  const receiver = new Receiver(1, ID, false, events);
  receiver.push(
    encoder.encode(
      "<announce> 127.0.0.1 is connected as <user5>.\n" +
        `<user4> ${syncText(MARKER, 0)}\n` +
        `<user4> ${messageText(MARKER, 0, 0, 50, 60)}\n` +
        `${messageText(MARKER, 0, 1, 60, 60)}\n`, // A second message in ncat's read: no prefix.
    ),
    100,
  );
  assert.deepEqual(seen, ["sync 1 0", "token 1 0:0 50", "token 1 0:1 40"]);
});

Deno.test("the barrier token inside a protocol frame is found", () => {
  const { events, seen } = recorder();
  const receiver = new Receiver(0, ID, true, events);
  receiver.push(
    encoder.encode(encodeStatus({ status: "ok" }) + encodeSend(syncText(MARKER, 1))),
    0,
  );
  assert.deepEqual(seen, ["login 0", "sync 0 1"]);
});

Deno.test("a line longer than the cap is dropped without being held, and counted", () => {
  const { events, seen } = recorder();
  const receiver = new Receiver(0, ID, false, events);
  const piece = encoder.encode("y".repeat(64 * 1024));
  for (let sent = 0; sent <= MAX_CARRY_BYTES; sent += piece.length) receiver.push(piece, 0);
  receiver.push(encoder.encode(`tail ${messageText(MARKER, 0, 0, 0, 60)}\n`), 0);
  receiver.push(encoder.encode(`${messageText(MARKER, 0, 1, 0, 60)}\n`), 0);
  assert.equal(receiver.longLines, 1);
  assert.deepEqual(seen, ["token 0 0:1 0"]); // The token at the end of the long line went with it.
});
