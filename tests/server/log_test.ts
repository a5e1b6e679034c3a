// The server's log lines: text and JSON, safe for a terminal, never fatal.

import assert from "node:assert/strict";
import { createLogger } from "../../lib/server/log.ts";
import { INVISIBLE } from "../client/hostile_corpus.ts";

const EPOCH = () => new Date(0);

Deno.test("writes one text line per event, quoting only values that need it", () => {
  const lines: string[] = [];
  const logger = createLogger({ format: "text", write: (l) => lines.push(l), clock: EPOCH });
  logger.log("login", { peer: "127.0.0.1:5000", nick: "bob", since: undefined });
  logger.log("disconnect", { peer: "[::1]:5001", reason: "closed by peer" });
  assert.deepEqual(lines, [
    "1970-01-01T00:00:00.000Z login peer=127.0.0.1:5000 nick=bob\n",
    '1970-01-01T00:00:00.000Z disconnect peer=[::1]:5001 reason="closed by peer"\n',
  ]);
});

Deno.test("writes one JSON object per line", () => {
  const lines: string[] = [];
  const logger = createLogger({ format: "json", write: (l) => lines.push(l), clock: EPOCH });
  logger.log("login", { peer: "127.0.0.1:5000", nick: "bob" });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "1970-01-01T00:00:00.000Z",
    event: "login",
    peer: "127.0.0.1:5000",
    nick: "bob",
  });
});

Deno.test("escapes what a peer could use to mislead a terminal, in both formats", () => {
  const hostile = 'unknown command "\u001b[2J\u009b\u202eevil\u2028\u200b"';
  for (const format of ["text", "json"] as const) {
    const lines: string[] = [];
    createLogger({ format, write: (l) => lines.push(l), clock: EPOCH }).log("frame rejected", {
      reason: hostile,
    });
    const unsafe = [...lines[0].slice(0, -1)].filter((c) =>
      c < " " || (c >= "\u007f" && c <= "\u009f") || "\u2028\u202e\u200b".includes(c)
    );
    assert.deepEqual(unsafe, [], format);
    assert.match(lines[0], /\\u001b\[2J\\u009b\\u202eevil\\u2028\\u200b/, format);
    // Still the same value for a machine that parses it.
    const value = format === "json"
      ? JSON.parse(lines[0]).reason
      : JSON.parse(lines[0].split("reason=")[1]);
    assert.equal(value, hostile);
  }
});

Deno.test("writes no format, separator or default-ignorable character raw, in both formats", () => {
  for (const format of ["text", "json"] as const) {
    for (const [name, code] of INVISIBLE) {
      const nick = `bob${String.fromCodePoint(code)}`;
      const lines: string[] = [];
      createLogger({ format, write: (l) => lines.push(l), clock: EPOCH }).log("login refused", {
        nick,
      });
      const label = `${format}: U+${code.toString(16).toUpperCase()} ${name}`;
      assert(!lines[0].includes(String.fromCodePoint(code)), label);
      assert.match(lines[0], /nick.{1,3}"bob\\u[0-9a-f]{4}/, label);
      const value = format === "json"
        ? JSON.parse(lines[0]).nick
        : JSON.parse(lines[0].split("nick=")[1]);
      assert.equal(value, nick, label);
    }
  }
});

Deno.test("survives a destination that fails (stderr closed)", () => {
  const logger = createLogger({
    format: "text",
    write: () => {
      throw new Error("broken pipe");
    },
    clock: EPOCH,
  });
  logger.log("connect", { peer: "127.0.0.1:1" });
});
