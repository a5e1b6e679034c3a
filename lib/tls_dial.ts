// Dialing a server over TLS and deciding whether to trust it before the
// first byte is sent: connect, handshake, hand the certificate to the
// caller's `verify`, then give the caller the open socket.
//
// The client's connection (lib/client/connect.ts) and the conformance
// probe's (lib/check/conn.ts) both dial here, so they agree on roots, SNI,
// timeouts and what a failed handshake is called. It uses node:tls rather
// than Deno.connectTls because the client must show and pin a certificate it
// does not trust yet, and must accept a self-signed CA:TRUE certificate given
// with --ca; Deno's own TLS client can do neither. The handshake never
// rejects on its own (rejectUnauthorized: false); `verify` decides.
//
// The load generator (lib/bench/dial.ts) dials differently on purpose: it
// lets the handshake verify, replaces the roots with --ca, and mostly uses
// Deno's client, which costs less CPU per connection.

import tls from "node:tls";
import { isIpLiteral } from "./address.ts";
import { Unavailable } from "./errors.ts";
import { type PeerCertificate, peerCertificateOf } from "./peer_certificate.ts";
import { describeSocketError, systemRoots } from "./tls_socket.ts";

/** Where to connect, what to trust, and how long to try. */
export interface TlsDialOptions {
  host: string;
  port: number;
  /** Extra trusted certificates (PEM), added to the system's roots (`--ca`). */
  ca?: readonly string[];
  /**
   * The longest a TCP connect plus TLS handshake may take (the time `verify`
   * takes, such as a question to the user, does not count), and the reason
   * a failed dial gives when it is over.
   */
  timeout: { ms: number; reason: string };
  /** Looks at the certificate after the handshake; throws to refuse (nothing is sent). */
  verify(peer: PeerCertificate): Promise<void>;
  /**
   * Our own certificate and its key (PEM), presented when the server asks
   * for one (the client's identity, PROTOCOL.md §12); none by default.
   */
  cert?: string;
  /** The private key of `cert` (PEM). */
  key?: string;
  /** Sets TCP_NODELAY, so each write goes out as its own segment. @default false */
  noDelay?: boolean;
  /** Ends the attempt at once (it rejects with Unavailable "interrupted"). */
  signal?: AbortSignal;
}

/**
 * Connects, lets `verify` look at the certificate, and returns what `open`
 * makes of the trusted socket. `open` runs synchronously at that moment and
 * must attach its own "data", "error" and "close" listeners: none of the
 * dial's are left on the socket.
 *
 * Rejects with Unavailable (lib/errors.ts) when the server cannot be reached, the
 * handshake fails or times out, or the server closes first; with whatever
 * `verify` threw when the certificate is refused.
 *
 * @example
 * ```ts
 * const socket = await dialTls({
 *   host: "localhost",
 *   port: 1337,
 *   timeout: { ms: 10_000, reason: "no TLS connection within 10 s" },
 *   verify: (peer) => peer.authorized ? Promise.resolve() : Promise.reject(new Error("untrusted")),
 * }, (socket) => socket);
 * socket.end();
 * ```
 */
export function dialTls<T>(
  options: TlsDialOptions,
  open: (socket: tls.TLSSocket) => T,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: options.host,
      port: options.port,
      // SNI carries host names only; for an IP literal the check uses the IP SAN.
      servername: isIpLiteral(options.host) ? undefined : options.host,
      // node:tls replaces its default roots with `ca`, so the roots go in first.
      ca: options.ca ? [...systemRoots(), ...options.ca] : undefined,
      rejectUnauthorized: false,
      cert: options.cert,
      key: options.key,
    });
    if (options.noDelay) socket.setNoDelay(true);
    let phase: "handshake" | "verify" | "settled" = "handshake";
    /** Why the socket broke while `verify` was looking, reported when it closes. */
    let lastError: string | undefined;
    const fail = (error: Error) => {
      if (phase === "settled") return;
      phase = "settled";
      clearTimeout(timer);
      detach();
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new Unavailable(options.timeout.reason)),
      options.timeout.ms,
    );
    const onAbort = () => fail(new Unavailable("interrupted"));
    const onError = (error: Error & { code?: string }) => {
      lastError = describeSocketError(error);
      if (phase === "handshake") fail(new Unavailable(lastError));
    };
    const onClose = () => {
      fail(
        new Unavailable(
          lastError ??
            (phase === "verify"
              ? "the server closed the connection while we checked its certificate"
              : "the server closed the connection during the TLS handshake"),
        ),
      );
    };
    const detach = () => {
      options.signal?.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      socket.off("close", onClose);
    };
    options.signal?.addEventListener("abort", onAbort);
    socket.on("error", onError);
    socket.on("close", onClose);
    socket.once("secureConnect", () => {
      if (phase !== "handshake") return;
      phase = "verify";
      clearTimeout(timer);
      options.verify(peerCertificateOf(socket)).then(() => {
        if (phase !== "verify") return; // Closed or interrupted while it was looking.
        phase = "settled";
        detach();
        try {
          resolve(open(socket));
        } catch (error) {
          socket.destroy();
          reject(error);
        }
      }, (refusal) => fail(refusal instanceof Error ? refusal : new Error(String(refusal))));
    });
  });
}
