// A certificate's SHA-256 fingerprint as text: 32 bytes in upper-case hex
// with colons between them (`AB:CD:…`), as `openssl x509 -fingerprint
// -sha256` prints it and node:tls's `fingerprint256` gives it. A client's
// identity is its certificate's fingerprint (PROTOCOL.md §12), and people
// copy it around by hand (into `--op`, an invitation file), so what they
// type is accepted in either case, with or without colons, and normalised
// to the one form the server compares.

/** The one form of a fingerprint: 32 upper-case hex bytes joined by colons. */
const CANONICAL = /^[0-9A-F]{2}(?::[0-9A-F]{2}){31}$/;
/** What a person may type: either case, with colons or without. */
const TYPED = /^(?:[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31}|[0-9A-Fa-f]{64})$/;

/**
 * True when `text` is a fingerprint in its one form (upper-case, colons).
 *
 * @example
 * ```ts
 * isFingerprint("AB:".repeat(31) + "AB"); // true
 * isFingerprint("ab:".repeat(31) + "ab"); // false: not normalised
 * ```
 */
export function isFingerprint(text: unknown): text is string {
  return typeof text === "string" && CANONICAL.test(text);
}

/**
 * Reads a fingerprint as a person typed it (either case, with or without
 * colons, surrounding spaces ignored) into its one form, or undefined when
 * it is not one.
 *
 * @example
 * ```ts
 * parseFingerprint("ab".repeat(32)); // "AB:AB:…:AB"
 * parseFingerprint("not one"); // undefined
 * ```
 */
export function parseFingerprint(text: string): string | undefined {
  const trimmed = text.trim();
  if (!TYPED.test(trimmed)) return undefined;
  const hex = trimmed.replaceAll(":", "").toUpperCase();
  return hex.match(/../g)!.join(":");
}
