// What a TLS handshake told us about the other side's certificate, in the
// few fields a trust decision needs. The client, `chat check` and the dial
// they share (lib/tls_dial.ts) read it from a node:tls socket here, and the
// trust policy (lib/trust_policy.ts) decides on it without a socket, so
// tests can hand it any certificate.

import type { TLSSocket } from "node:tls";

/** What the handshake told us about the server's certificate. */
export interface PeerCertificate {
  /** True when the chain verified against the trusted roots and the name matched. */
  authorized: boolean;
  /** Why it did not verify (an OpenSSL-style code such as DEPTH_ZERO_SELF_SIGNED_CERT). */
  authorizationError?: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  fingerprint: string;
  /** The certificate's subject common name, for the prompt. */
  subject?: string;
}

/** What a TLS socket's peer showed, once its handshake is done. */
export function peerCertificateOf(socket: TLSSocket): PeerCertificate {
  const cert = socket.getPeerCertificate();
  const error = socket.authorizationError as unknown;
  const peer: PeerCertificate = {
    authorized: socket.authorized,
    fingerprint: cert?.fingerprint256 ?? "(unknown)",
    subject: typeof cert?.subject?.CN === "string" ? cert.subject.CN : undefined,
  };
  if (error) {
    peer.authorizationError = typeof error === "object" && "code" in error
      ? String(error.code)
      : String(error);
  }
  return peer;
}
