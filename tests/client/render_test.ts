import assert from "node:assert/strict";
import { safeJsonLine } from "../../lib/client/json_output.ts";
import { nickColor, Transcript } from "../../lib/client/render.ts";
import {
  HOSTILE_MESSAGES,
  HOSTILE_NICKNAMES,
  OUR_COLOR_CODES,
  RAW_UNSAFE,
} from "./hostile_corpus.ts";

const at = (time: string, from = "bob", message = "hi") => ({ from, message, time });

Deno.test("shows local time, nickname and text, with a day separator when the date changes", () => {
  const t = new Transcript({ color: false, timeZone: "America/Los_Angeles" });
  assert.deepEqual(t.message(at("2017-01-12T20:00:00-0800")), [
    "--- Thursday 2017-01-12 ---",
    "20:00 <bob> hi",
  ]);
  assert.deepEqual(t.message(at("2017-01-13T04:30:00Z")), ["20:30 <bob> hi"]);
  assert.deepEqual(t.message(at("2017-01-13T08:00:00.123456+00:00")), [
    "--- Friday 2017-01-13 ---",
    "00:00 <bob> hi",
  ]);
  // History can go back in time: the separator shows the day again.
  assert.deepEqual(t.message(at("2017-01-12T21:00:00-08:00")), [
    "--- Thursday 2017-01-12 ---",
    "21:00 <bob> hi",
  ]);
});

Deno.test("the same instant shows in the viewer's zone", () => {
  const time = "2017-01-12T20:00:00-0800";
  assert.equal(
    new Transcript({ color: false, timeZone: "UTC" }).message(at(time))[1],
    "04:00 <bob> hi",
  );
  assert.equal(
    new Transcript({ color: false, timeZone: "Asia/Kolkata" }).message(at(time))[1],
    "09:30 <bob> hi",
  );
});

Deno.test("an unparsable time is shown raw and sanitised, a missing one as --:--", () => {
  const t = new Transcript({ color: false, timeZone: "UTC" });
  assert.deepEqual(t.message(at("soon\x1b[2J")), ["soon\\x1b[2J <bob> hi"]);
  assert.deepEqual(t.message(at("")), ["--:-- <bob> hi"]);
  assert.deepEqual(t.message(at("2017-02-30T10:00:00Z")), ["2017-02-30T10:00:00Z <bob> hi"]);
  assert.equal(t.message(at("x".repeat(1000)))[0].length < 60, true);
});

Deno.test("a multi-line message has its first line as usual and the rest indented under the text", () => {
  const t = new Transcript({ color: false, timeZone: "UTC" });
  assert.deepEqual(
    t.message(
      at("2017-01-12T20:00:00Z", "alice", "The quick brown fox\njumped over\r\nthe lazy dog"),
    ),
    [
      "--- Thursday 2017-01-12 ---",
      "20:00 <alice> The quick brown fox",
      "              jumped over",
      "              the lazy dog",
    ],
  );
});

Deno.test("nicknames get stable colours by hash, the same for Bob and bob; none without colour", () => {
  assert.equal(nickColor("bob"), nickColor("bob"));
  assert.equal(nickColor("Bob"), nickColor("bob"));
  const colors = new Set(["alice", "bob", "carol", "dave", "eve", "mallory"].map(nickColor));
  assert(colors.size > 1, "different nicknames spread over the palette");
  const coloured = new Transcript({ color: true, timeZone: "UTC" }).message(
    at("2017-01-12T20:00:00Z"),
  )[1];
  assert(coloured.includes("bob\x1b[39m"), JSON.stringify(coloured));
  assert.doesNotMatch(coloured.replace(OUR_COLOR_CODES, ""), RAW_UNSAFE);
  const plain = new Transcript({ color: false, timeZone: "UTC" }).message(
    at("2017-01-12T20:00:00Z"),
  )[1];
  assert(!plain.includes("\x1b"));
});

Deno.test("only our colour codes reach the terminal: hostile text is escaped before colouring", () => {
  const t = new Transcript({ color: true, timeZone: "UTC" });
  for (const from of HOSTILE_NICKNAMES) {
    for (const message of HOSTILE_MESSAGES) {
      for (const line of t.message(at("2017-01-12T20:00:00Z", from, message))) {
        // Strip exactly the SGR codes styleText adds; nothing unsafe may remain.
        const rest = line.replace(OUR_COLOR_CODES, "");
        assert.doesNotMatch(rest, RAW_UNSAFE, JSON.stringify(line));
      }
    }
  }
  for (const line of t.notice("server: \x1b[2J\u202eboo\nsecond")) {
    assert.doesNotMatch(line.replace(OUR_COLOR_CODES, ""), RAW_UNSAFE);
  }
});

Deno.test("--json lines keep the frame's value and hold nothing unsafe", () => {
  const frames = [
    {
      from: "a\u202e",
      message: "x\u0085\u007f\u{e0001}\n\x1b",
      time: "t",
      extra: [1, { y: "\u2028" }],
    },
    { status: "ok" },
  ];
  for (const frame of frames) {
    const line = JSON.stringify(frame).replace("{", "{\t").replace(/}$/, "\r}");
    const safe = safeJsonLine(line);
    assert.deepEqual(JSON.parse(safe), frame);
    assert.doesNotMatch(safe, RAW_UNSAFE);
  }
});

Deno.test("a direct message looks apart: *from* text as received, -> to: text as sent", () => {
  const t = new Transcript({ color: false, timeZone: "UTC" });
  t.message(at("2017-01-12T20:00:00Z")); // The day's separator is behind us.
  assert.deepEqual(t.direct(at("2017-01-12T20:01:00Z", "alice", "psst\nsecond line")), [
    "20:01 *alice* psst",
    "              second line",
  ]);
  assert.deepEqual(t.direct({ ...at("2017-01-12T20:02:00Z", "bob", "ok"), to: "alice" }), [
    "20:02 -> alice: ok",
  ]);
  // In colour the text of a direct message is coloured; a public one's never is.
  const c = new Transcript({ color: true, timeZone: "UTC" });
  const [, direct] = c.direct(at("2017-01-12T20:01:00Z", "alice", "psst"));
  assert(direct.includes(`\x1b[95mpsst\x1b[39m`), JSON.stringify(direct));
  const [publicLine] = c.message(at("2017-01-12T20:01:00Z", "alice", "psst"));
  assert(publicLine.endsWith("> psst"), JSON.stringify(publicLine));
});

Deno.test("presence lines are dimmed notices, and hostile text in them or in a direct message is escaped", () => {
  const c = new Transcript({ color: true, timeZone: "UTC" });
  assert.deepEqual(c.presence("carol joined"), ["\x1b[2m*** carol joined\x1b[22m"]);
  assert.deepEqual(new Transcript({ color: false }).presence("carol left (quit)"), [
    "*** carol left (quit)",
  ]);
  for (const from of HOSTILE_NICKNAMES) {
    for (const line of c.presence(`${from} joined`)) {
      assert.doesNotMatch(line.replace(OUR_COLOR_CODES, ""), RAW_UNSAFE, JSON.stringify(line));
    }
    for (const message of HOSTILE_MESSAGES) {
      const lines = [
        ...c.direct(at("2017-01-12T20:00:00Z", from, message)),
        ...c.direct({ ...at("2017-01-12T20:00:00Z", "bob", message), to: from }),
      ];
      for (const line of lines) {
        assert.doesNotMatch(line.replace(OUR_COLOR_CODES, ""), RAW_UNSAFE, JSON.stringify(line));
      }
    }
  }
});
