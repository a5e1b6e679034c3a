// Unit tests for the wire format of a message's time (PROTOCOL.md §5, lib/time.ts).

import assert from "node:assert/strict";
import { formatWireTime, parseWireTime } from "../lib/time.ts";

const WIRE_FORM = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$/;
const INSTANT = new Date("2017-01-13T04:00:00Z");

Deno.test("formats the protocol's example time at -0800", () => {
  assert.equal(formatWireTime(INSTANT, -480), "2017-01-12T20:00:00-0800");
});

Deno.test("formats UTC with +0000", () => {
  assert.equal(formatWireTime(INSTANT, 0), "2017-01-13T04:00:00+0000");
});

Deno.test("formats offsets that are not whole hours", () => {
  assert.equal(formatWireTime(INSTANT, 330), "2017-01-13T09:30:00+0530");
  assert.equal(formatWireTime(INSTANT, 545), "2017-01-13T13:05:00+0905");
  assert.equal(formatWireTime(INSTANT, 345), "2017-01-13T09:45:00+0545");
  assert.equal(formatWireTime(INSTANT, -570), "2017-01-12T18:30:00-0930");
});

Deno.test("formats offsets that move the date across a day, month and year", () => {
  assert.equal(formatWireTime(new Date("2017-01-01T02:00:00Z"), -480), "2016-12-31T18:00:00-0800");
  assert.equal(formatWireTime(new Date("2016-12-31T22:30:00Z"), 840), "2017-01-01T12:30:00+1400");
  assert.equal(formatWireTime(new Date("2016-02-29T23:00:00Z"), 60), "2016-03-01T00:00:00+0100");
});

Deno.test("formats with seconds and no fraction, dropping milliseconds", () => {
  assert.equal(formatWireTime(new Date("2017-01-13T04:05:06.999Z"), 0), "2017-01-13T04:05:06+0000");
});

Deno.test("always matches the wire form", () => {
  for (const offset of [-720, -480, -1, 0, 1, 330, 545, 765, 840]) {
    for (const iso of ["1999-12-31T23:59:59Z", "2017-01-13T04:00:00Z", "2038-01-19T03:14:08Z"]) {
      const text = formatWireTime(new Date(iso), offset);
      assert.match(text, WIRE_FORM, `${iso} at ${offset}`);
    }
  }
});

Deno.test("uses the local offset when none is given", () => {
  const text = formatWireTime(INSTANT);
  assert.match(text, WIRE_FORM);
  assert.equal(parseWireTime(text)?.offsetMinutes, -INSTANT.getTimezoneOffset() + 0);
  assert.equal(parseWireTime(text)?.date.getTime(), INSTANT.getTime());
});

Deno.test("parses the protocol's example time", () => {
  assert.deepEqual(parseWireTime("2017-01-12T20:00:00-0800"), {
    date: new Date("2017-01-13T04:00:00Z"),
    offsetMinutes: -480,
  });
});

Deno.test("parses Z and an offset with a colon", () => {
  assert.deepEqual(parseWireTime("2017-01-13T04:00:00Z"), { date: INSTANT, offsetMinutes: 0 });
  assert.deepEqual(parseWireTime("2017-01-13T12:00:00+08:00"), {
    date: INSTANT,
    offsetMinutes: 480,
  });
  assert.deepEqual(parseWireTime("2017-01-13T09:45:00+05:45"), {
    date: INSTANT,
    offsetMinutes: 345,
  });
});

Deno.test("parses fractional seconds", () => {
  assert.equal(
    parseWireTime("2017-01-13T04:00:00.5Z")?.date.toISOString(),
    "2017-01-13T04:00:00.500Z",
  );
  assert.equal(
    parseWireTime("2017-01-13T04:00:00.123Z")?.date.toISOString(),
    "2017-01-13T04:00:00.123Z",
  );
  assert.equal(
    parseWireTime("2017-01-12T20:00:00.123456789-08:00")?.date.toISOString(),
    "2017-01-13T04:00:00.123Z",
  );
  for (let ms = 0; ms < 1000; ms++) {
    const text = `2017-01-13T04:00:00.${String(ms).padStart(3, "0")}Z`;
    assert.equal(parseWireTime(text)?.date.getUTCMilliseconds(), ms, text);
  }
});

Deno.test("parses what JavaScript's toISOString produces", () => {
  const date = new Date("2021-06-30T23:59:58.250Z");
  assert.equal(parseWireTime(date.toISOString())?.date.getTime(), date.getTime());
});

Deno.test("rejects text that is not a time", () => {
  for (
    const text of [
      "",
      "yesterday",
      "2017-01-12",
      "20:00:00",
      "2017-01-12T20:00:00",
      "2017-01-12T20:00:00 PST",
      "2017/01/12T20:00:00Z",
      " 2017-01-12T20:00:00Z",
      "2017-01-12T20:00:00Z ",
      "2017-1-12T20:00:00Z",
      "1484251200",
    ]
  ) {
    assert.equal(parseWireTime(text), undefined, JSON.stringify(text));
  }
});

Deno.test("rejects dates and times that do not exist", () => {
  for (
    const text of [
      "2017-02-30T00:00:00Z",
      "2017-02-29T00:00:00Z",
      "2017-04-31T00:00:00Z",
      "2017-13-01T00:00:00Z",
      "2017-00-10T00:00:00Z",
      "2017-01-00T00:00:00Z",
      "2017-01-32T00:00:00Z",
      "2017-01-12T24:00:00Z",
      "2017-01-12T20:60:00Z",
      "2017-01-12T20:00:61Z",
      "2017-01-12T20:00:00+1900",
    ]
  ) {
    assert.equal(parseWireTime(text), undefined, text);
  }
});

Deno.test("accepts February 29th in a leap year", () => {
  assert.equal(
    parseWireTime("2016-02-29T12:00:00Z")?.date.toISOString(),
    "2016-02-29T12:00:00.000Z",
  );
  // Late on the 29th at a negative offset is already March 1st in UTC.
  assert.equal(
    parseWireTime("2016-02-29T20:00:00-0800")?.date.toISOString(),
    "2016-03-01T04:00:00.000Z",
  );
});

Deno.test("round-trips formatted times at many offsets", () => {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 500; i++) {
    const seconds = Math.floor(random() * 4_000_000_000);
    const offset = Math.round(random() * 28 * 60) - 14 * 60;
    const date = new Date(seconds * 1000);
    const text = formatWireTime(date, offset);
    assert.match(text, WIRE_FORM);
    assert.deepEqual(parseWireTime(text), { date, offsetMinutes: offset }, text);
  }
});
