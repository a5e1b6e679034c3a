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
