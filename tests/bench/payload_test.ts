import assert from "node:assert/strict";
import {
  markerOf,
  messageText,
  minimumSize,
  nicknameOf,
  readToken,
  RUN_ID_LENGTH,
  runId,
  syncText,
} from "../../lib/bench/payload.ts";
import { checkNickname } from "../../lib/nickname.ts";

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
  assert.deepEqual(readToken(syncText(marker, 1), marker.length), { sync: 1 });
});

Deno.test("a token found in a longer line, such as ncat's prefixed one, still reads", () => {
  const marker = markerOf("abcdefgh");
  const line = `<user7> ${messageText(marker, 0, 5, 42, 60)}`;
  assert.deepEqual(readToken(line, line.indexOf(marker) + marker.length), {
    sender: 0,
    seq: 5,
    sentUs: 42,
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
