// Reading a `--ca` file: the extra certificate (or CA) to trust, as PEM.
// `chat client`, `chat check` and `chat bench` all take one, and answer a
// missing, huge or non-PEM file with the same sentence.

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

/**
 * The extra roots `--ca PATH` asks for: none without the flag, the file's
 * PEM text with it, or the sentence saying why the file is unusable.
 */
export async function caFlag(
  path: string | undefined,
): Promise<{ ok: true; ca?: string[] } | { ok: false; reason: string }> {
  if (path === undefined) return { ok: true };
  const file = await readCaFile(path);
  return file.ok ? { ok: true, ca: [file.pem] } : file;
}
