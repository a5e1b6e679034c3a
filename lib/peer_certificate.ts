// What a TLS handshake told us about the other side's certificate, in the
// few fields a trust decision needs. The client, `chat check` and the dial
// they share (lib/tls_dial.ts) read it from a node:tls socket here, and the
// trust policy (lib/trust_policy.ts) decides on it without a socket, so
// tests can hand it any certificate. The server reads here the one thing it
// wants of a client's certificate: its identity (PROTOCOL.md §12).
//
// Whoever made the certificate chose its text: a common name can hold
// newlines and escape sequences, and a prompt that printed it raw would
// show forged lines (a fake fingerprint, "this certificate matches…").
// So every string taken from a certificate is made one safe, short line
// here, where it is read, before anything can show it.

import type { TLSSocket } from "node:tls";
import { parseFingerprint } from "./fingerprint.ts";
import { sanitize, truncate } from "./terminal_text.ts";

/** The most code points of a certificate's text (its common name, an error) shown, escapes included. */
export const MAX_CERTIFICATE_TEXT = 64;

/** What the handshake told us about the server's certificate. */
export interface PeerCertificate {
  /** True when the chain verified against the trusted roots and the name matched. */
  authorized: boolean;
  /** Why it did not verify (an OpenSSL-style code such as DEPTH_ZERO_SELF_SIGNED_CERT). */
  authorizationError?: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  fingerprint: string;
  /** The certificate's subject common name, for the prompt: one sanitised, shortened line. */
  subject?: string;
  /** The certificate itself (DER), to recognise one pinned byte for byte. */
  der?: Uint8Array;
}

/** What a TLS socket's peer showed, once its handshake is done. */
export function peerCertificateOf(socket: TLSSocket): PeerCertificate {
  const cert = socket.getPeerCertificate();
  const error = socket.authorizationError as unknown;
  const peer: PeerCertificate = {
    authorized: socket.authorized,
    // Computed by the TLS library from the bytes, so only escaped, never shortened.
    fingerprint: sanitize(cert?.fingerprint256 ?? "(unknown)"),
    subject: typeof cert?.subject?.CN === "string" ? oneLine(cert.subject.CN) : undefined,
  };
  // A plain Uint8Array in Deno, a Buffer in Node: the bytes are what count.
  if (cert?.raw) peer.der = new Uint8Array(cert.raw);
  if (error) {
    peer.authorizationError = oneLine(
      typeof error === "object" && "code" in error ? String(error.code) : String(error),
    );
  }
  return peer;
}

/**
 * Certificate text as one short line: newlines and other unsafe characters
 * escaped, then cut, so that even escapes cannot make it wrap on an
 * 80-column terminal and start a row of its choosing.
 */
function oneLine(text: string): string {
  return truncate(sanitize(text), MAX_CERTIFICATE_TEXT);
}

/**
 * The identity a client presented (PROTOCOL.md §12): its certificate's
 * SHA-256 fingerprint, as `AB:CD:…`; undefined when it presented none. Any
 * certificate counts, self-signed or expired: the server asks for one
 * without checking it, and only the fingerprint matters. Read once the
 * handshake is done.
 *
 * @example
 * ```ts
 * declare const socket: import("node:tls").TLSSocket; // server side, after "secure"
 * peerIdentity(socket); // "3F:0A:…", or undefined
 * ```
 */
export function peerIdentity(socket: TLSSocket): string | undefined {
  // `{}` without a certificate. The format is checked (and normalised) so
  // that nothing else, such as an empty string, ever passes for an identity.
  const fingerprint: unknown = socket.getPeerCertificate()?.fingerprint256;
  return typeof fingerprint === "string" ? parseFingerprint(fingerprint) : undefined;
}
