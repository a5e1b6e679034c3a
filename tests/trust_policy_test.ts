// The trust decision on its own (lib/trust_policy.ts): the prompt, pinning,
// and a pin that changed. How the client applies it to real servers (--ca,
// --insecure, refusal without a terminal) is in tests/client/trust_test.ts.

import assert from "node:assert/strict";
import { KnownHosts } from "../lib/client/known_hosts.ts";
import type { PeerCertificate } from "../lib/peer_certificate.ts";
import { FatalError } from "../lib/errors.ts";
import { TrustPolicy } from "../lib/trust_policy.ts";

const peer = (overrides: Partial<PeerCertificate> = {}): PeerCertificate => ({
  authorized: false,
  authorizationError: "DEPTH_ZERO_SELF_SIGNED_CERT",
  fingerprint: "AA:BB",
  subject: "localhost",
  ...overrides,
});

Deno.test("the trust prompt pins the certificate on yes and refuses on no", async () => {
  const config = await Deno.makeTempDir({ prefix: "chat-trust-policy-" });
  const hosts = new KnownHosts(`${config}/chat/known_hosts`);
  const questions: string[] = [];
  const notices: string[] = [];
  const policy = (answer: boolean) =>
    new TrustPolicy({
      host: "example.org:1337",
      insecure: false,
      knownHosts: hosts,
      notify: (text) => notices.push(text),
      ask: (question) => {
        questions.push(question);
        return Promise.resolve(answer);
      },
    });
  await assert.rejects(policy(false).check(peer()), FatalError);
  assert.equal(await hosts.get("example.org:1337"), undefined);
  await policy(true).check(peer());
  assert.equal(await hosts.get("EXAMPLE.org:1337"), "AA:BB");
  assert.match(questions[0], /self-signed certificate/);
  assert.match(questions[0], /SHA-256: AA:BB/);
  // Pinned now: no question, and a different certificate is refused.
  await policy(true).check(peer());
  assert.equal(questions.length, 2);
  await assert.rejects(policy(true).check(peer({ fingerprint: "CC:DD" })), /HAS CHANGED/);
  // Even a certificate a CA accepts must match the pin.
  await assert.rejects(
    policy(true).check(peer({ fingerprint: "CC:DD", authorized: true })),
    /CC:DD/,
  );
  const text = await Deno.readTextFile(hosts.path);
  assert.match(text, /^example\.org:1337 AA:BB$/m);
  assert.equal((await Deno.stat(hosts.path)).mode! & 0o777, 0o600);
  await Deno.remove(config, { recursive: true });
});

Deno.test("a certificate given with --ca byte for byte is trusted whatever name was dialed, said once", async () => {
  const der = new Uint8Array([1, 2, 3, 4]);
  const notices: string[] = [];
  const policy = new TrustPolicy({
    host: "127.0.0.1:1337",
    insecure: false,
    pinned: [new Uint8Array([9, 9]), der],
    notify: (text) => notices.push(text),
  });
  const seed = peer({
    authorizationError: "ERR_TLS_CERT_ALTNAME_INVALID",
    subject: "chat server",
    der: new Uint8Array(der),
  });
  await policy.check(seed);
  await policy.check(seed); // A reconnect: not said again.
  assert.deepEqual(notices, [
    "the certificate of 127.0.0.1:1337 is for another name (CN chat server); " +
    "trusted because it is pinned with --ca: it is the very certificate in that file",
  ]);
  // Same length, one byte different: a certificate that merely chains to the file needs the name.
  await assert.rejects(
    policy.check({ ...seed, der: new Uint8Array([1, 2, 3, 5]) }),
    /for another host name/,
  );
  await assert.rejects(policy.check({ ...seed, der: undefined }), /for another host name/);
  // Pinning overrides the name only: an expired pinned certificate is still refused.
  await assert.rejects(
    policy.check({ ...seed, authorizationError: "CERT_HAS_EXPIRED" }),
    /certificate expired/,
  );
});

Deno.test("a certificate pinned in known_hosts is trusted whatever name was dialed, said once", async () => {
  const config = await Deno.makeTempDir({ prefix: "chat-trust-policy-" });
  const hosts = new KnownHosts(`${config}/known_hosts`);
  await hosts.add("10.0.0.7:1337", "AA:BB");
  const notices: string[] = [];
  const policy = new TrustPolicy({
    host: "10.0.0.7:1337",
    insecure: false,
    knownHosts: hosts,
    notify: (text) => notices.push(text),
  });
  const named = peer({ authorizationError: "ERR_TLS_CERT_ALTNAME_INVALID", subject: "srv" });
  await policy.check(named);
  await policy.check(named);
  assert.equal(notices.length, 1);
  assert.match(
    notices[0],
    /is for another name \(CN srv\); trusted because it is pinned in .*known_hosts/,
  );
  await policy.check(peer()); // Self-signed: whether the name matched is unknown, so nothing is said.
  assert.equal(notices.length, 1);
  await Deno.remove(config, { recursive: true });
});
