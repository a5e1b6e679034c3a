// A certificate and its private key as PEM text: checking that both parse
// and belong together, and the certificate's SHA-256 fingerprint. The
// server's certificate (lib/server/cert.ts) and the client's identity
// (lib/client/identity.ts) are checked here before use, so a broken file is
// one sentence naming it, never a TLS error later.
//
// node:crypto only: reading a certificate needs no X.509 library.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { errorReason, FatalError } from "./errors.ts";

/** Matches the first line of a PEM certificate. */
const CERT_BEGIN = /-----BEGIN CERTIFICATE-----/;
/** Matches the first line of a PEM private key (PKCS#8, or a traditional RSA or EC key). */
const KEY_BEGIN = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;

/**
 * The SHA-256 fingerprint of a PEM certificate, as `AB:CD:…` (as
 * `openssl x509 -fingerprint -sha256` prints it).
 *
 * @example
 * ```ts
 * declare const certPem: string;
 * fingerprintOf(certPem); // "3F:0A:…"
 * ```
 */
export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/**
 * Checks both PEMs and that the key belongs to the certificate; returns the
 * certificate's fingerprint. Throws a FatalError naming the file at fault
 * (`certPath` or `keyPath`, which may be the same file) and what is wrong.
 *
 * @example
 * ```ts
 * declare const certPem: string, keyPem: string;
 * const fingerprint = checkCertPair(certPem, keyPem, "cert.pem", "key.pem");
 * ```
 */
export function checkCertPair(
  certPem: string,
  keyPem: string,
  certPath: string,
  keyPath: string,
): string {
  if (!CERT_BEGIN.test(certPem)) {
    throw new FatalError(
      `cannot use ${certPath}: it is not a PEM certificate (no BEGIN CERTIFICATE line)`,
    );
  }
  if (!KEY_BEGIN.test(keyPem)) {
    throw new FatalError(
      `cannot use ${keyPath}: it is not a PEM private key (no BEGIN PRIVATE KEY line)`,
    );
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (error) {
    throw new FatalError(
      `cannot use ${certPath}: the certificate does not parse (${errorReason(error)})`,
    );
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new FatalError(
      `cannot use ${keyPath}: the private key does not parse (${errorReason(error)})`,
    );
  }
  if (!cert.checkPrivateKey(key)) {
    throw new FatalError(
      keyPath === certPath
        ? `cannot use ${keyPath}: its key does not match its certificate`
        : `cannot use ${keyPath}: the key does not match the certificate in ${certPath}`,
    );
  }
  return cert.fingerprint256;
}
