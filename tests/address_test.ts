import assert from "node:assert/strict";
import { isIpLiteral, parseAddress } from "../lib/address.ts";

Deno.test("parses HOST, HOST:PORT, [IPv6]:PORT and bare IPv6 with port 1337 by default", () => {
  const cases: [string, string, number, string][] = [
    ["localhost", "localhost", 1337, "localhost:1337"],
    ["localhost:1338", "localhost", 1338, "localhost:1338"],
    ["  chat.example.org:443 ", "chat.example.org", 443, "chat.example.org:443"],
    ["127.0.0.1:1", "127.0.0.1", 1, "127.0.0.1:1"],
    ["[::1]:1337", "::1", 1337, "[::1]:1337"],
    ["[::1]", "::1", 1337, "[::1]:1337"],
    ["::1", "::1", 1337, "[::1]:1337"],
    ["[fe80::1%eth0]:9", "fe80::1%eth0", 9, "[fe80::1%eth0]:9"],
  ];
  for (const [input, host, port, label] of cases) {
    assert.deepEqual(parseAddress(input), { ok: true, address: { host, port, label } }, input);
  }
});

Deno.test("rejects bad addresses with a sentence that quotes them", () => {
  const cases: [string, RegExp][] = [
    ["", /must not be empty/],
    ["host:", /port must be a number from 1 to 65535, got ""/],
    ["host:0", /got "0"/],
    ["host:65536", /got "65536"/],
    ["host:x", /got "x"/],
    ["[::1", /missing "\]"/],
    ["[::1]x", /expected ":PORT"/],
    ["[localhost]:1", /brackets are for IPv6/],
    [":1337", /missing host/],
    ["bad host:1", /invalid host "bad host"/],
    ["evil\x1b:1", /invalid host/],
  ];
  for (const [input, reason] of cases) {
    const result = parseAddress(input);
    assert.equal(result.ok, false, input);
    if (!result.ok) assert.match(result.reason, reason, input);
  }
});

Deno.test("knows IP literals (no SNI for them)", () => {
  assert.equal(isIpLiteral("127.0.0.1"), true);
  assert.equal(isIpLiteral("::1"), true);
  assert.equal(isIpLiteral("localhost"), false);
  assert.equal(isIpLiteral("1.2.3.example"), false);
});
