// The nickname rules of PROTOCOL.md §2, in one place for server and client.
//
// They exist so nobody can dress up as somebody else on everybody's screen:
// no control characters, no format characters (bidi overrides, zero-width
// joiners), no invisible characters (variation selectors, fillers, tags:
// Unicode's Default_Ignorable_Code_Point, which fonts draw as nothing), no
// line or paragraph separators, no white space at either end; and
// uniqueness decided on what a nickname looks like, not on its code points:
// case is ignored, and so is the difference between look-alikes (Unicode
// TS #39 confusables: fullwidth `ａ`, Cyrillic `а` and mathematical bold `𝐚`
// are all `a`), so while `alice` is online nobody else can appear as her.
//
// The confusables data comes from the npm package unhomoglyph (the Unicode
// confusables.txt mapping, as JSON); the TS #39 skeleton around it is ours,
// because the package's own function skips the NFD steps and the removal of
// default-ignorables, and builds a 6,311-way regular expression that costs
// ~40 ms at every start. Swapping the data source changes this file only.

import PROTOTYPES from "unhomoglyph/data.json" with { type: "json" };

/** The most code points a nickname may have after NFC normalisation. */
export const MAX_NICKNAME_CODE_POINTS = 32;

/**
 * How many times {@linkcode nicknameKey} folds case and maps look-alikes
 * before it settles. Mapping can produce a character whose case then folds
 * to one that maps again (`𝐌` → `M` → `m` → `rn`); two rounds reach the
 * fixed point for every code point, a third would confirm it. Past the cap
 * the key is still one deterministic value, which is all uniqueness needs.
 */
const MAX_KEY_ROUNDS = 4;

/** A nickname that passed the rules, in its normalised form. */
export type NicknameCheck = { ok: true; nickname: string } | { ok: false; reason: string };

const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}]/u;
/** Drawn as nothing, so `alice` plus one of these looks exactly like `alice`. */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;
const INVISIBLES = /\p{Default_Ignorable_Code_Point}/gu;
const SEPARATOR = /[\p{Zl}\p{Zp}]/u;
const EDGE_SPACE = /^\s|\s$/u;

/**
 * Checks a nickname against the protocol's rules (and the stricter ones of
 * this file's header) and returns its NFC form.
 *
 * @example
 * ```ts
 * checkNickname("bob"); // { ok: true, nickname: "bob" }
 * checkNickname("bob\u202e"); // { ok: false, reason: "nickname must not contain control or format characters" }
 * checkNickname("bob\ufe00"); // { ok: false, reason: "nickname must not contain invisible characters" }
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
  if (INVISIBLE.test(nickname)) {
    return { ok: false, reason: "nickname must not contain invisible characters" };
  }
  if (SEPARATOR.test(nickname)) {
    return { ok: false, reason: "nickname must not contain line or paragraph separators" };
  }
  if (EDGE_SPACE.test(nickname)) {
    return { ok: false, reason: "nickname must not start or end with white space" };
  }
  // Lone surrogates cannot come from valid UTF-8, but a JSON "\ud800" escape can carry one.
  if (!nickname.isWellFormed()) return { ok: false, reason: "nickname must be valid Unicode" };
  return { ok: true, nickname };
}

/**
 * The key under which a nickname is unique: two nicknames with the same key
 * look the same, so only one of them may be online. Case is ignored (`Bob`
 * and `bob`, `STRASSE` and `straße`), and so are look-alikes from other
 * scripts and styles (`ａlice`, `аlice`, `𝐚lice` are `alice`) and invisible
 * characters. The key is for comparing only, never for showing: `m` becomes
 * `rn` in it.
 *
 * Case is folded before look-alikes are mapped: TS #39 maps the capital and
 * the small form of a letter to different prototypes (`I` to `l`, `i` to
 * itself), so mapping first would let `IAN` and `ian` in together. The price
 * is that `Ian` and `lan` count as different nicknames.
 *
 * Cheap enough for every message a client shows (about a microsecond for a
 * short name).
 *
 * @example
 * ```ts
 * nicknameKey("Alice") === nicknameKey("аlice"); // true (Cyrillic а)
 * ```
 */
export function nicknameKey(nickname: string): string {
  // The common case, per character from a table: a printable ASCII
  // character's key does not depend on its neighbours (no case or
  // normalisation rule joins them), and keys are fixed points, so keys
  // concatenate.
  if (PRINTABLE_ASCII.test(nickname)) {
    let key = "";
    for (let i = 0; i < nickname.length; i++) key += ASCII_KEYS[nickname.charCodeAt(i)];
    return key;
  }
  return slowKey(nickname);
}

const PRINTABLE_ASCII = /^[ -~]*$/;
/** The key of each ASCII character, by code (`M` and `m` are `rn`, `0` is `o`). */
const ASCII_KEYS: readonly string[] = Array.from(
  { length: 0x7f },
  (_, code) => slowKey(String.fromCharCode(code)),
);

function slowKey(nickname: string): string {
  let key = nickname;
  for (let round = 0; round < MAX_KEY_ROUNDS; round++) {
    const next = skeleton(foldCase(key));
    if (next === key) break;
    key = next;
  }
  return key;
}

/** Case folding that also folds `ß` into `ss` (upper case first makes it `SS`). */
function foldCase(text: string): string {
  return text.toUpperCase().toLowerCase();
}

/**
 * The TS #39 skeleton: NFD, default-ignorables removed, each character
 * replaced by its confusables prototype, NFD again.
 */
function skeleton(text: string): string {
  let out = "";
  // Every key of the table is one code point, so no key can be an
  // Object.prototype member ("constructor" and the like).
  const prototypes: Readonly<Record<string, string>> = PROTOTYPES;
  for (const char of text.normalize("NFD").replace(INVISIBLES, "")) {
    out += prototypes[char] ?? char;
  }
  return out.normalize("NFD");
}
