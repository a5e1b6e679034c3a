// Unit tests for the commands of PROTOCOL.md §12–§13 as the server reads
// them (lib/ops_frames.ts, through decodeClientFrame), and the `bans`
// answer as it is written (encodeStatus).

import assert from "node:assert/strict";
import { decodeClientFrame, encodeStatus } from "../lib/protocol.ts";
import { MAX_BAN_MINUTES, MAX_REASON_LENGTH } from "../lib/ops_frames.ts";

const decode = (frame: unknown) => decodeClientFrame(JSON.stringify(frame));

Deno.test("reads register, unregister and bans, ignoring unknown fields", () => {
  for (const command of ["register", "unregister", "bans"]) {
    assert.deepEqual(decode({ command, extra: [1] }), { type: command });
  }
});

Deno.test("reads kick and ban with their reason and minutes, defaults when absent", () => {
  assert.deepEqual(decode({ command: "kick", nickname: "x" }), {
    type: "kick",
    nickname: "x",
    reason: "",
  });
  assert.deepEqual(decode({ command: "ban", nickname: "x", reason: "spam", minutes: 30 }), {
    type: "ban",
    nickname: "x",
    reason: "spam",
    minutes: 30,
  });
  assert.deepEqual(decode({ command: "ban", nickname: "x", reason: null, minutes: null }), {
    type: "ban",
    nickname: "x",
    reason: "",
    minutes: 0,
  });
  assert.deepEqual(decode({ command: "unban", target: "  10.0.0.7 " }), {
    type: "unban",
    target: "10.0.0.7",
  });
});

Deno.test("refuses mistyped or out-of-range fields with a sentence, never coercing", () => {
  const refused: [unknown, string][] = [
    [{ command: "kick" }, "nickname must be a string"],
    [{ command: "kick", nickname: { toString: 1 } }, "nickname must be a string"],
    [{ command: "kick", nickname: "x", reason: ["a"] }, "reason must be a string"],
    [{ command: "kick", nickname: "x", reason: "\ud800" }, "reason must be valid Unicode"],
    [
      { command: "kick", nickname: "x", reason: "é".repeat(MAX_REASON_LENGTH + 1) },
      `reason must be at most ${MAX_REASON_LENGTH} characters`,
    ],
    [{ command: "ban", nickname: "x", minutes: -1 }, "minutes must be a non-negative integer"],
    [{ command: "ban", nickname: "x", minutes: 2.5 }, "minutes must be a non-negative integer"],
    [{ command: "ban", nickname: "x", minutes: "5" }, "minutes must be a non-negative integer"],
    [
      { command: "ban", nickname: "x", minutes: MAX_BAN_MINUTES + 1 },
      `minutes must be at most ${MAX_BAN_MINUTES} (0: until unbanned)`,
    ],
    [{ command: "unban" }, "target must be an identity or an address"],
    [{ command: "unban", target: "  " }, "target must be an identity or an address"],
  ];
  for (const [frame, reason] of refused) {
    assert.deepEqual(decode(frame), { type: "error", reason, of: "other" }, JSON.stringify(frame));
  }
  // A reason of exactly the limit in characters (more UTF-16 units) is taken.
  const long = "😀".repeat(MAX_REASON_LENGTH);
  assert.equal(decode({ command: "kick", nickname: "x", reason: long }).type, "kick");
});

Deno.test("the bans answer lists each ban after the status, until null for a ban until unbanned", () => {
  assert.equal(
    encodeStatus({
      status: "ok",
      bans: [{ target: "10.0.0.7", until: null, reason: "spam", by: "op" }],
    }),
    '{"status":"ok","bans":[{"target":"10.0.0.7","until":null,"reason":"spam","by":"op"}]}\n',
  );
  assert.equal(encodeStatus({ status: "ok" }), '{"status":"ok"}\n');
});
