// Reading a `--ca` file: the extra certificate (or CA) to trust, as PEM.
// `chat client`, `chat check` and `chat bench` all take one, and answer a
// missing, huge or non-PEM file with the same sentence.
//
// The client and `chat check` also pin the file's certificates: a server
// presenting one of them byte for byte is trusted whatever name was dialed
// (lib/trust_policy.ts), so they need each certificate's DER bytes too.

import { errorMessage } from "./errors.ts";

/** The largest `--ca` file read; a bigger one is an error, not a memory sink. */
export const MAX_CA_FILE_BYTES = 1024 * 1024;

/** The PEM text of a `--ca` file, or the sentence saying why it is unusable. */
export type CaFile = { ok: true; pem: string } | { ok: false; reason: string };

/**
 * Reads a `--ca` file: at most {@linkcode MAX_CA_FILE_BYTES}, and it must
 * hold a PEM certificate. Never throws: a problem comes back as `reason`.
 *
 * @example
 * ```ts
 * const ca = await readCaFile("/nonexistent/cert.pem");
 * if (!ca.ok) console.error(`chat: ${ca.reason}`); // "cannot read --ca /nonexistent/cert.pem: …"
 * ```
 */
export async function readCaFile(path: string): Promise<CaFile> {
  let pem: string;
  try {
    if ((await Deno.stat(path)).size > MAX_CA_FILE_BYTES) {
      return { ok: false, reason: `--ca ${path}: larger than ${MAX_CA_FILE_BYTES} bytes` };
    }
    pem = await Deno.readTextFile(path);
  } catch (error) {
    return { ok: false, reason: `cannot read --ca ${path}: ${errorMessage(error)}` };
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    return {
      ok: false,
      reason: `--ca ${path}: no PEM certificate ("-----BEGIN CERTIFICATE-----") in it`,
    };
  }
  return { ok: true, pem };
}

/** What `--ca PATH` asks for: the extra roots (PEM) and the certificates pinned (DER). */
export interface CaFlag {
  ok: true;
  /** The file's PEM text, added to the trusted roots. */
  ca?: string[];
  /** Each certificate of the file as DER bytes, to recognise one a server presents. */
  pinned?: Uint8Array[];
}

/**
 * The extra roots `--ca PATH` asks for: none without the flag, the file's
 * PEM text (and its certificates) with it, or the sentence saying why the
 * file is unusable.
 */
export async function caFlag(
  path: string | undefined,
): Promise<CaFlag | { ok: false; reason: string }> {
  if (path === undefined) return { ok: true };
  const file = await readCaFile(path);
  return file.ok ? { ok: true, ca: [file.pem], pinned: pemCertificates(file.pem) } : file;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g;

/**
 * The DER bytes of every certificate in PEM text, in order; a block that is
 * not valid base64 is skipped (the TLS library refuses it as a root anyway).
 *
 * @example
 * ```ts
 * pemCertificates("-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"); // [Uint8Array [1, 2, 3]]
 * ```
 */
export function pemCertificates(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const match of pem.matchAll(PEM_CERTIFICATE)) {
    try {
      out.push(Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0)));
    } catch {
      // Not base64: not a certificate we could recognise.
    }
  }
  return out;
}
