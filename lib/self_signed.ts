// Making a self-signed certificate and its key: the server's development
// certificate (lib/server/cert.ts) and the client's identity
// (lib/client/identity.ts) are both made here, with @peculiar/x509.
//
// That library costs about 25 MiB and 0.1 s to load, so only this file
// imports it, and a caller that needs a certificate only now and then (the
// client, once per identity) imports this file lazily with import().

import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** ECDSA P-256 with SHA-256: small, fast, and accepted by every TLS stack we meet. */
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** What a new self-signed certificate says. */
export interface SelfSignedOptions {
  /** The subject's common name (`CN=…`). */
  commonName: string;
  /** Subject alternative names (host names, IP addresses); none by default. */
  altNames?: { type: "dns" | "ip"; value: string }[];
  /** What the key may be used for: a TLS server, or a TLS client. */
  usage: "server" | "client";
  notBefore: Date;
  notAfter: Date;
}

/** A certificate and its PKCS#8 private key, as PEM text (each ends with a newline). */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/**
 * Generates a self-signed ECDSA P-256 leaf certificate (CA:FALSE) and its key.
 *
 * @example
 * ```ts
 * const now = new Date();
 * const { certPem, keyPem } = await generateSelfSigned({
 *   commonName: "localhost",
 *   altNames: [{ type: "dns", value: "localhost" }],
 *   usage: "server",
 *   notBefore: now,
 *   notAfter: new Date(now.getTime() + 86_400_000),
 * });
 * ```
 */
export async function generateSelfSigned(options: SelfSignedOptions): Promise<PemPair> {
  x509.cryptoProvider.set(crypto);
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f; // A positive serial number.
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([
      options.usage === "server"
        ? x509.ExtendedKeyUsage.serverAuth
        : x509.ExtendedKeyUsage.clientAuth,
    ], false),
  ];
  if (options.altNames && options.altNames.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(options.altNames, false));
  }
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: hex(serial),
    name: `CN=${options.commonName}`,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    signingAlgorithm: ALGORITHM,
    keys,
    extensions,
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
  };
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
