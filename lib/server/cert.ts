// The server's TLS identity: a certificate given with --cert/--key, checked
// before use, or a development certificate generated once and reused.
//
// Zero-config TLS: without --cert/--key the server makes a self-signed
// ECDSA P-256 leaf (CA:FALSE, serverAuth, SAN localhost, 127.0.0.1, ::1 and
// the host name) with lib/self_signed.ts, writes it under certs/ (the key with
// mode 0600) and uses the same one on every restart, so a client that
// trusted it once keeps trusting it. Every failure is a FatalError
// (lib/errors.ts): one line for the operator, no stack trace.
//
// The X.509 library behind lib/self_signed.ts is imported only when a
// certificate is generated: loading it costs every process about 12 MiB of
// memory and 0.1 s of startup, and a server with --cert/--key never needs it.

import { join } from "node:path";
import { checkCertPair, fingerprintOf } from "../cert_pair.ts";
import { errorReason, FatalError } from "../errors.ts";

/** A certificate and key, as PEM text, ready for `tls.createSecureContext` (server.ts). */
export interface TlsIdentity {
  certPem: string;
  keyPem: string;
  certPath: string;
  keyPath: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex (as openssl prints it). */
  fingerprint: string;
  /** "given" with --cert/--key; "generated" for the development certificate. */
  source: "given" | "generated";
  /** True when this very start created the generated certificate. */
  created: boolean;
}

/** File names of the generated certificate inside its folder. */
export const GENERATED_CERT_FILE = "cert.pem";
/** File name of the generated key inside its folder (mode 0600). */
export const GENERATED_KEY_FILE = "key.pem";
/** How long a generated certificate is valid: 825 days, the longest clients accept. */
export const GENERATED_VALIDITY_DAYS = 825;

/**
 * Loads a certificate and key given by the operator and checks that both
 * are PEM and belong together.
 */
export async function loadIdentity(certPath: string, keyPath: string): Promise<TlsIdentity> {
  const certPem = await readText(certPath, "certificate");
  const keyPem = await readText(keyPath, "key");
  const fingerprint = checkCertPair(certPem, keyPem, certPath, keyPath);
  return { certPem, keyPem, certPath, keyPath, fingerprint, source: "given", created: false };
}

/**
 * Returns the development certificate in `dir`, generating it first when
 * there is none. `hostname` joins the subject alternative names.
 */
export async function ensureGeneratedIdentity(
  dir: string,
  hostname: string,
  now: Date,
): Promise<TlsIdentity> {
  const certPath = join(dir, GENERATED_CERT_FILE);
  const keyPath = join(dir, GENERATED_KEY_FILE);
  const [hasCert, hasKey] = [await exists(certPath), await exists(keyPath)];
  if (hasCert && hasKey) {
    return { ...await loadIdentity(certPath, keyPath), source: "generated" };
  }
  if (hasKey && !hasCert) {
    // Perhaps another server, started at the same moment, is writing the pair.
    try {
      return { ...await loadWhenWritten(certPath, keyPath), source: "generated" };
    } catch {
      // It was not: the error below says what to do.
    }
  }
  if (hasCert !== hasKey) {
    const [found, missing] = hasCert ? [certPath, keyPath] : [keyPath, certPath];
    throw new FatalError(
      `cannot use the generated certificate: ${found} exists but ${missing} does not; remove ${found} to generate a new pair`,
    );
  }
  const { certPem, keyPem } = await generateIdentity(hostname, now);
  try {
    await Deno.mkdir(dir, { recursive: true });
    // Key first, created 0600, so it is never readable by others, not even briefly.
    await Deno.writeTextFile(keyPath, keyPem, { mode: 0o600, createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      // Another server started in the same folder at the same moment and
      // won the race: use its pair once its certificate is written too.
      return { ...await loadWhenWritten(certPath, keyPath), source: "generated" };
    }
    throw new FatalError(`cannot write the generated certificate to ${dir}: ${errorReason(error)}`);
  }
  try {
    await Deno.writeTextFile(certPath, certPem, { createNew: true });
  } catch (error) {
    throw new FatalError(`cannot write the generated certificate to ${dir}: ${errorReason(error)}`);
  }
  return {
    certPem,
    keyPem,
    certPath,
    keyPath,
    fingerprint: fingerprintOf(certPem),
    source: "generated",
    created: true,
  };
}

/** How long a server waits for another one's generated certificate to be written. */
const RACE_WAIT_MS = 5_000;

/** Loads a pair another process is writing, waiting for it to be complete. */
async function loadWhenWritten(certPath: string, keyPath: string): Promise<TlsIdentity> {
  const deadline = Date.now() + RACE_WAIT_MS;
  for (;;) {
    try {
      return await loadIdentity(certPath, keyPath);
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Generates a self-signed ECDSA P-256 server certificate and its PKCS#8 key, as PEM. */
export async function generateIdentity(
  hostname: string,
  now: Date,
): Promise<{ certPem: string; keyPem: string }> {
  const { generateSelfSigned } = await import("../self_signed.ts");
  const altNames: { type: "dns" | "ip"; value: string }[] = [
    { type: "dns", value: "localhost" },
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "::1" },
  ];
  if (hostname && hostname !== "localhost" && /^[A-Za-z0-9.-]+$/.test(hostname)) {
    altNames.push({ type: "dns", value: hostname });
  }
  return await generateSelfSigned({
    commonName: altNames.find((n) => n.type === "dns" && n.value !== "localhost")?.value ??
      "localhost",
    altNames,
    usage: "server",
    notBefore: new Date(now.getTime() - 60 * 60 * 1000),
    notAfter: new Date(now.getTime() + GENERATED_VALIDITY_DAYS * 24 * 60 * 60 * 1000),
  });
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new FatalError(`cannot read the ${what} file ${path}: ${errorReason(error)}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw new FatalError(`cannot look at ${path}: ${errorReason(error)}`);
  }
}
