// The client's identity (PROTOCOL.md §12): a key pair and a self-signed
// certificate in one PEM file, `identity.pem` in the client's config folder
// (or the file `--identity` names), made at first use and presented to
// every server that asks. Its SHA-256 fingerprint is what a person gives an
// operator to be invited or made an operator (`chat identity` prints it).
//
// Reading an identity needs node:crypto only; making one loads the X.509
// library (lib/self_signed.ts), so that import is lazy: paid once, on the
// first start. Two clients starting at once for the first time end up with
// one identity: each writes its own to a temp file and hard-links it into
// place, which fails for the second; it then reads the first one's. The
// file is never torn (it appears whole or not at all) and never replaced:
// a damaged one is an error that says what to do.

import { dirname, join } from "node:path";
import { checkCertPair } from "../cert_pair.ts";
import { errorReason, FatalError, UsageError } from "../errors.ts";

/** The identity's file name in the client's config folder. */
export const IDENTITY_FILE = "identity.pem";
/** The largest identity file read; a bigger one is an error, not a memory sink. */
export const MAX_IDENTITY_FILE_BYTES = 64 * 1024;
/**
 * How long a made identity's certificate is valid: 100 years. Servers never
 * check it (any certificate is an identity), and an identity that expired
 * would have to be replaced, which changes the fingerprint people know.
 */
export const IDENTITY_VALIDITY_DAYS = 36_500;

/** An identity, ready to present: the PEMs node:tls takes, and the fingerprint. */
export interface ClientIdentity {
  /** The file it was read from. */
  path: string;
  certPem: string;
  keyPem: string;
  /** SHA-256 fingerprint, `AB:CD:…` (as `openssl x509 -fingerprint -sha256` prints it). */
  fingerprint: string;
}

/** What the command line says about the identity. */
export interface IdentityFlags {
  /** `--identity FILE`: this file instead of the one in the config folder. */
  file?: string;
  /** `--no-identity`: present none. */
  none?: boolean;
}

/** An identity, and whether this very call made it. */
export interface FoundIdentity {
  identity: ClientIdentity;
  created: boolean;
}

/**
 * The identity the flags ask for: none with `--no-identity`, else the
 * `--identity` file or identity.pem in `configDir`, made first when it does
 * not exist. Undefined when there is no file to use (no flag, no config
 * folder). A damaged file is a FatalError, never replaced.
 *
 * @example
 * ```ts
 * const found = await identityFromFlags({}, "/home/me/.config/chat", new Date());
 * found?.identity.fingerprint; // "3F:0A:…"
 * ```
 */
export async function identityFromFlags(
  flags: IdentityFlags,
  configDir: string | undefined,
  now: Date,
): Promise<FoundIdentity | undefined> {
  if (flags.none && flags.file !== undefined) {
    throw new UsageError("--identity and --no-identity cannot go together");
  }
  if (flags.none) return undefined;
  if (flags.file !== undefined && flags.file.trim() === "") {
    throw new UsageError("--identity must not be empty");
  }
  const path = flags.file ?? (configDir === undefined ? undefined : join(configDir, IDENTITY_FILE));
  return path === undefined ? undefined : await ensureIdentity(path, now);
}

/**
 * The identity in `path`, made there first when there is no such file.
 *
 * @example
 * ```ts
 * const { identity, created } = await ensureIdentity("/tmp/me.pem", new Date());
 * ```
 */
export async function ensureIdentity(path: string, now: Date): Promise<FoundIdentity> {
  const existing = await readIdentity(path);
  if (existing !== undefined) return { identity: existing, created: false };
  const made = await makeIdentity(path, now);
  if (made) return { identity: made, created: true };
  // Another client made it between our look and our link: theirs it is.
  const theirs = await readIdentity(path);
  if (theirs === undefined) {
    throw new FatalError(`cannot make the identity ${path}: it vanished while it was made`);
  }
  return { identity: theirs, created: false };
}

/**
 * Reads and checks the identity in `path`: undefined when there is no such
 * file; a FatalError naming the file when it cannot be used.
 */
export async function readIdentity(path: string): Promise<ClientIdentity | undefined> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new FatalError(`cannot use the identity ${path}: it is not a file`);
    if (info.size > MAX_IDENTITY_FILE_BYTES) {
      throw new FatalError(
        `cannot use the identity ${path}: it is larger than ${MAX_IDENTITY_FILE_BYTES} bytes`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    if (error instanceof FatalError) throw error;
    throw new FatalError(`cannot read the identity ${path}: ${errorReason(error)}`);
  }
  const certPem = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0];
  const keyPem = text.match(
    /-----BEGIN ((?:[A-Z]+ )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/,
  )?.[0];
  try {
    const fingerprint = checkCertPair(certPem ?? "", keyPem ?? "", path, path);
    return { path, certPem: certPem! + "\n", keyPem: keyPem! + "\n", fingerprint };
  } catch (error) {
    if (!(error instanceof FatalError)) throw error;
    throw new FatalError(
      `${error.message}; it was left as it is: move it aside for a new identity, or use --no-identity`,
    );
  }
}

/**
 * Makes a new identity in `path` (its folder created 0700, the file 0600),
 * or returns undefined when another process made one there first.
 */
async function makeIdentity(path: string, now: Date): Promise<ClientIdentity | undefined> {
  const { generateSelfSigned } = await import("../self_signed.ts");
  const { certPem, keyPem } = await generateSelfSigned({
    commonName: "chat identity",
    usage: "client",
    notBefore: new Date(now.getTime() - 60 * 60 * 1000),
    notAfter: new Date(now.getTime() + IDENTITY_VALIDITY_DAYS * 24 * 60 * 60 * 1000),
  });
  const temp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  let linking = false;
  try {
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // Created 0600, so the key is never readable by others, not even briefly.
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
    try {
      const bytes = new TextEncoder().encode(keyPem + certPem);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      // On disk before it has a name: a crash never leaves a torn identity behind.
      await file.syncData();
    } finally {
      file.close();
    }
    linking = true;
    await Deno.link(temp, path);
  } catch (error) {
    if (linking && error instanceof Deno.errors.AlreadyExists) return undefined;
    throw new FatalError(`cannot make the identity ${path}: ${errorReason(error)}`);
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
  return { path, certPem, keyPem, fingerprint: checkCertPair(certPem, keyPem, path, path) };
}
