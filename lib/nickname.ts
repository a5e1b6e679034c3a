// The nickname rules of PROTOCOL.md §2, in one place for server and client.
//
// They exist so nobody can dress up as somebody else on everybody's screen:
// no control characters, no format characters (bidi overrides, zero-width
// joiners), no white space at either end, and uniqueness that ignores case.

/** The most code points a nickname may have after NFC normalisation. */
export const MAX_NICKNAME_CODE_POINTS = 32;

/** A nickname that passed the rules, in its normalised form. */
export type NicknameCheck = { ok: true; nickname: string } | { ok: false; reason: string };

const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}]/u;
const EDGE_SPACE = /^\s|\s$/u;

/**
 * Checks a nickname against the protocol's rules and returns its NFC form.
 *
 * @example
 * ```ts
 * checkNickname("bob"); // { ok: true, nickname: "bob" }
 * checkNickname("bob\u202e"); // { ok: false, reason: "nickname must not contain control or format characters" }
 * ```
 */
export function checkNickname(raw: string): NicknameCheck {
  const nickname = raw.normalize("NFC");
  if (nickname.length === 0) return { ok: false, reason: "nickname must not be empty" };
  let codePoints = 0;
  for (const _ of nickname) codePoints++;
  if (codePoints > MAX_NICKNAME_CODE_POINTS) {
    return { ok: false, reason: `nickname must be at most ${MAX_NICKNAME_CODE_POINTS} characters` };
  }
  if (CONTROL_OR_FORMAT.test(nickname)) {
    return { ok: false, reason: "nickname must not contain control or format characters" };
  }
  if (EDGE_SPACE.test(nickname)) {
    return { ok: false, reason: "nickname must not start or end with white space" };
  }
  // Lone surrogates cannot come from valid UTF-8, but a JSON "\ud800" escape can carry one.
  if (!nickname.isWellFormed()) return { ok: false, reason: "nickname must be valid Unicode" };
  return { ok: true, nickname };
}

/**
 * The key under which a nickname is unique: case is ignored, so `Bob` and
 * `bob` (and `STRASSE` and `straße`) are the same nickname.
 */
export function nicknameKey(nickname: string): string {
  return nickname.toUpperCase().toLowerCase().normalize("NFC");
}
