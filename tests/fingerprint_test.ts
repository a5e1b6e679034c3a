// Fingerprints as text (lib/fingerprint.ts): the one form the server
// compares, and what a person may type for it.

import assert from "node:assert/strict";
import { isFingerprint, parseFingerprint } from "../lib/fingerprint.ts";
import { fingerprintOf } from "../lib/cert_pair.ts";
import { localIdentity } from "../bench/in_process_server.ts";

const HEX = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";
const CANONICAL = HEX.match(/../g)!.join(":");

Deno.test("the one form: 32 upper-case hex bytes with colons, as node:tls gives it", async () => {
  assert.ok(isFingerprint(CANONICAL));
  assert.ok(isFingerprint(fingerprintOf((await localIdentity()).certPem)));
  for (const bad of [CANONICAL.toLowerCase(), HEX, CANONICAL + ":00", CANONICAL.slice(3), "", 7]) {
    assert.equal(isFingerprint(bad), false, String(bad));
  }
});

Deno.test("what people type is read in either case, with or without colons, spaces around", () => {
  for (
    const typed of [CANONICAL, CANONICAL.toLowerCase(), HEX, HEX.toLowerCase(), ` ${CANONICAL}\t`]
  ) {
    assert.equal(parseFingerprint(typed), CANONICAL, typed);
  }
  for (
    const bad of [
      "",
      "alice",
      HEX.slice(2),
      HEX + "00",
      CANONICAL.replace(":", ""), // colons on some bytes only
      CANONICAL.replace("0", "G"),
      CANONICAL.replaceAll(":", "-"),
      `sha256 Fingerprint=${CANONICAL}`, // the list files take this; a bare value does not
    ]
  ) {
    assert.equal(parseFingerprint(bad), undefined, bad);
  }
});
