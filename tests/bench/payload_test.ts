import assert from "node:assert/strict";
import {
  markerOf,
  messageText,
  minimumSize,
  nicknameOf,
  RUN_ID_LENGTH,
  runId,
  syncText,
  TokenReader,
} from "../../lib/bench/payload.ts";
import { checkNickname } from "../../lib/nickname.ts";

/** What a fresh reader makes of the token whose marker ends at `at`, as plain data. */
function readToken(text: string, at: number) {
  const reader = new TokenReader();
  const kind = reader.read(text, at);
  if (kind === undefined) return undefined;
  if (kind === "sync") return { sync: reader.sender, end: reader.end };
  return { sender: reader.sender, seq: reader.seq, sentUs: reader.sentUs, end: reader.end };
}

Deno.test("a run id is eight characters of [0-9a-z], different each time", () => {
  const ids = new Set(Array.from({ length: 100 }, () => runId()));
  assert.equal(ids.size, 100);
  for (const id of ids) assert.match(id, new RegExp(`^[0-9a-z]{${RUN_ID_LENGTH}}$`));
});

Deno.test("nicknames are valid for the protocol even for the 1,000,000th client", () => {
  const nick = nicknameOf(runId(), 999_999);
  assert.equal(checkNickname(nick).ok, true, nick);
});

Deno.test("a message carries marker, sender, seq and send time, padded to the size", () => {
  const marker = markerOf("k3j2h1x9");
  const text = messageText(marker, 2, 17, 1732712345678123, 100);
  assert.equal(text.length, 100);
  assert.match(text, /^bench\.k3j2h1x9:2:17:1732712345678123:x+$/);
  assert.deepEqual(readToken(text, marker.length), {
    sender: 2,
    seq: 17,
    sentUs: 1732712345678123,
    end: text.indexOf(":x") + 1,
  });
});

Deno.test("minimumSize fits the longest token of the run exactly", () => {
  const marker = markerOf("k3j2h1x9");
  const size = minimumSize(10, 100_000);
  const longest = messageText(marker, 9, 99_999, 9_000_000_000_000_000, 0);
  assert.equal(longest.length, size);
  assert.equal(messageText(marker, 9, 99_999, 1732712345678123, size).length, size);
});

Deno.test("a barrier token reads back as its sender", () => {
  const marker = markerOf("abcdefgh");
  const text = syncText(marker, 1);
  assert.deepEqual(readToken(text, marker.length), { sync: 1, end: text.length });
});

Deno.test("a token found in a longer line, such as ncat's prefixed one, still reads", () => {
  const marker = markerOf("abcdefgh");
  const line = `<user7> ${messageText(marker, 0, 5, 42, 60)}`;
  assert.deepEqual(readToken(line, line.indexOf(marker) + marker.length), {
    sender: 0,
    seq: 5,
    sentUs: 42,
    end: line.indexOf(":x") + 1,
  });
});

Deno.test("a mangled token is not read", () => {
  for (
    const rest of ["", "1", "1:", "1:2", "1:2:", "1:x:3:", "-1:2:3:", "1:2:3", ":1:2:3:", "s:"]
  ) {
    assert.equal(readToken(`bench.abcdefgh:${rest}`, 15), undefined, rest);
  }
  // Seventeen digits are more than any field holds.
  assert.equal(readToken("bench.abcdefgh:1:2:12345678901234567:", 15), undefined);
});

Deno.test("one reader reads token after token, a bad one leaving nothing of the last behind", () => {
  const marker = markerOf("abcdefgh");
  const reader = new TokenReader();
  assert.equal(reader.read(messageText(marker, 3, 9, 77, 40), marker.length), "message");
  assert.deepEqual([reader.sender, reader.seq, reader.sentUs], [3, 9, 77]);
  assert.equal(reader.read(syncText(marker, 4), marker.length), "sync");
  assert.deepEqual([reader.sender, reader.seq, reader.sentUs], [4, 0, 0]);
  assert.equal(reader.read(`${marker}5:6:`, marker.length), undefined);
  assert.equal(reader.read(messageText(marker, 1, 2, 3, 40), marker.length), "message");
  assert.deepEqual([reader.sender, reader.seq, reader.sentUs], [1, 2, 3]);
});
