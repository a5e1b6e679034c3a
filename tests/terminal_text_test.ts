// What may reach a terminal or the log raw (lib/terminal_text.ts): the one
// definition of unsafe characters, the visible escapes of the client's
// screen, the JSON escapes of --json and the server's log, and cutting text
// short without splitting a character.

import assert from "node:assert/strict";
import { MAX_SHOWN_NICKNAME } from "../lib/client/render.ts";
import { escapeUnsafeJson, isSafe, preview, sanitize, truncate } from "../lib/terminal_text.ts";
import {
  HOSTILE_MESSAGES,
  HOSTILE_NICKNAMES,
  INVISIBLE,
  RAW_UNSAFE,
} from "./client/hostile_corpus.ts";

Deno.test("sanitize escapes controls, bidi and invisible characters visibly and keeps the rest", () => {
  assert.equal(sanitize("a\x1bb"), "a\\x1bb");
  assert.equal(
    sanitize("\x07\x08\r\t\x00\x7f\x85\x9b"),
    "\\x07\\x08\\x0d\\x09\\x00\\x7f\\x85\\x9b",
  );
  assert.equal(
    sanitize("\u202e\u2066\u200b\u200d\ufeff\u2028"),
    "\\u202e\\u2066\\u200b\\u200d\\ufeff\\u2028",
  );
  assert.equal(sanitize("tag\u{e0041}"), "tag\\u{e0041}");
  assert.equal(sanitize("\ud800x"), "\\ud800x");
  assert.equal(sanitize("héllo wörld ✓ 日本語 🙂 \\x1b"), "héllo wörld ✓ 日本語 🙂 \\x1b");
  for (const text of [...HOSTILE_NICKNAMES, ...HOSTILE_MESSAGES]) {
    assert.doesNotMatch(sanitize(text), RAW_UNSAFE, JSON.stringify(text));
    assert(isSafe(sanitize(text)));
  }
  assert.equal(isSafe("a\x1b"), false);
  assert.equal(truncate("x".repeat(100), MAX_SHOWN_NICKNAME).length, MAX_SHOWN_NICKNAME + 1);
  assert.equal(truncate("🙂🙂🙂", 2), "🙂🙂…");
});

Deno.test("a preview for notices joins white space and cuts at 40 characters, never inside one", () => {
  assert.equal(preview("two\nlines\t here"), "two lines here");
  const emoji = "x".repeat(39) + "😀" + "tail";
  assert.equal(preview(emoji), "x".repeat(39) + "😀…");
  assert(isSafe(preview(emoji)), "no lone surrogate");
  assert.equal(preview("😀".repeat(40)), "😀".repeat(40));
  assert.equal(preview("😀".repeat(41)), "😀".repeat(40) + "…");
});

Deno.test("every format, separator and default-ignorable code point is escaped for the terminal and for JSON", () => {
  for (const [name, code] of INVISIBLE) {
    const char = String.fromCodePoint(code);
    const label = `U+${code.toString(16).toUpperCase()} ${name}`;
    assert.equal(isSafe(`a${char}b`), false, label);
    const shown = sanitize(`a${char}b`);
    assert(isSafe(shown), label);
    assert(shown.includes(code.toString(16)), `${label}: ${shown}`);
    const json = escapeUnsafeJson(JSON.stringify(`a${char}b`));
    assert(isSafe(json), `${label}: ${json}`);
    assert.equal(JSON.parse(json), `a${char}b`, `${label}: the same JSON value`);
  }
});

Deno.test("variation selectors and ordinary text stay as they are", () => {
  for (const text of ["❤\ufe0f", "☺\ufe0e", "葛\u{e0100}", "ᠠ\u180b", "naïve café 日本語 🙂"]) {
    assert.equal(sanitize(text), text, JSON.stringify(text));
    assert.equal(escapeUnsafeJson(JSON.stringify(text)), JSON.stringify(text));
  }
});
