// The TLS dial shared by the client and `chat check` (lib/tls_dial.ts),
// against real listeners on 127.0.0.1: the certificate reaches `verify`
// before anything is sent, a refusal sends nothing, and an unreachable,
// silent or interrupted server ends the attempt as Unavailable.

import assert from "node:assert/strict";
import type { TLSSocket } from "node:tls";
import type { PeerCertificate } from "../lib/peer_certificate.ts";
import { Unavailable } from "../lib/errors.ts";
import { dialTls, type TlsDialOptions } from "../lib/tls_dial.ts";
import { fingerprintOf } from "../lib/cert_pair.ts";
import { localIdentity } from "../bench/in_process_server.ts";
import { FakeServer, type TestCert } from "./client/_helpers.ts";

/** The server's own generated certificate (self-signed, for localhost and 127.0.0.1): no openssl needed. */
const identity = await localIdentity();
const cert: TestCert = {
  certFile: "",
  keyFile: "",
  ...identity,
  fingerprint: fingerprintOf(identity.certPem),
};

function options(port: number, overrides: Partial<TlsDialOptions> = {}): TlsDialOptions {
  return {
    host: "127.0.0.1",
    port,
    ca: [cert.certPem],
    timeout: { ms: 5000, reason: "no TLS within 5 s" },
    verify: () => Promise.resolve(),
    ...overrides,
  };
}

/** Closes a socket politely and waits until it is gone. */
function closed(socket: TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    socket.once("close", () => resolve());
    socket.end();
  });
}

Deno.test("verify sees the certificate before anything is sent, then the socket is ours", async () => {
  await using server = new FakeServer(cert);
  const seen: PeerCertificate[] = [];
  const socket = await dialTls(
    options(server.port, {
      verify: (peer) => {
        seen.push(peer);
        return Promise.resolve();
      },
    }),
    (socket) => socket,
  );
  assert.equal(seen.length, 1);
  assert.equal(seen[0].fingerprint, cert.fingerprint);
  assert.equal(seen[0].authorized, true, "trusted through `ca`, for the IP address dialed");
  assert.equal(seen[0].subject, "localhost");
  socket.write('{"command":"login","nickname":"bob"}\n');
  const conn = await server.accept();
  assert.deepEqual(await conn.next(), { command: "login", nickname: "bob" });
  await closed(socket);
});

Deno.test("without the certificate in `ca`, verify is told why it is not trusted", async () => {
  await using server = new FakeServer(cert);
  let peer: PeerCertificate | undefined;
  const socket = await dialTls(
    options(server.port, {
      ca: undefined,
      verify: (p) => {
        peer = p;
        return Promise.resolve();
      },
    }),
    (socket) => socket,
  );
  assert.equal(peer?.authorized, false);
  assert.equal(peer?.authorizationError, "DEPTH_ZERO_SELF_SIGNED_CERT");
  await closed(socket);
});

Deno.test("a refusal by verify is the dial's error, and the server receives nothing", async () => {
  await using server = new FakeServer(cert);
  const refusal = new Error("not this one");
  let opened = false;
  await assert.rejects(
    dialTls(
      options(server.port, { verify: () => Promise.reject(refusal) }),
      () => opened = true,
    ),
    (error) => error === refusal,
  );
  assert.equal(opened, false);
  const conn = await server.accept();
  await conn.ended;
  assert.deepEqual(conn.received, []);
});

Deno.test("an unreachable server rejects with the dial error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    dialTls(options(port), () => assert.fail("opened")),
    (error) => error instanceof Unavailable && error.message === "connection refused",
  );
});

Deno.test("a server that never finishes the handshake times out; an abort ends the wait at once", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })().catch(() => {});
  try {
    const port = listener.addr.port;
    await assert.rejects(
      dialTls(options(port, { timeout: { ms: 200, reason: "silent" } }), () => 0),
      (error) => error instanceof Unavailable && error.message === "silent",
    );
    const abort = new AbortController();
    const dialing = dialTls(options(port, { signal: abort.signal }), () => 0);
    setTimeout(() => abort.abort(), 50);
    await assert.rejects(
      dialing,
      (error) => error instanceof Unavailable && error.message === "interrupted",
      "interrupted, not timed out",
    );
  } finally {
    listener.close();
    await accepting;
    for (const conn of accepted) conn.close();
  }
});
