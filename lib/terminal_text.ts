// Text from the network made safe to print on a terminal or write to the
// log: the one definition of the characters that must never get there raw.
//
// A hostile server or user can put escape sequences (ESC, CSI), bells,
// backspaces, carriage returns, bidi overrides and zero-width characters
// into nicknames and messages to move the cursor, rewrite the screen or
// disguise one nickname as another. The client's screen shows each such
// character as a visible escape (`\x1b`, `\u202e`, `sanitize`); its `--json`
// output and the server's log, which are JSON, write it as a `\uXXXX` escape
// (`escapeUnsafeJson`): the same value for a machine, harmless for a person.
// Our own colour codes are added after sanitising, so they are the only
// escape sequences that reach the terminal.
//
// Shortening text for the screen lives here too (`truncate`, `preview`), so
// there is one way to cut text, and it never splits a character.

/**
 * Code points that are never printed raw: C0 and C1 controls and DEL (Cc),
 * format characters such as bidi overrides, zero-width joiners, the soft
 * hyphen, U+061C, U+180E, U+206A–U+206F, U+FFF9–U+FFFB and tag characters
 * (Cf), line and paragraph separators (Zl, Zp), lone surrogates (Cs), and
 * the other default-ignorable code points, which render as nothing (U+034F,
 * the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, U+17B4, U+FFF0–U+FFF8,
 * unassigned ones). Variation selectors are default-ignorable too but stay:
 * they choose how a character looks (the emoji form of ❤️) and hide nothing.
 * Not global, so testing leaves no lastIndex behind.
 */
const ANY_UNSAFE =
  /[[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}]--\p{Variation_Selector}]/v;
/** The same, global, for replacing every one. */
const UNSAFE = new RegExp(ANY_UNSAFE.source, "gv");

/**
 * Returns `text` with every unsafe code point replaced by a visible escape:
 * `\xNN` below U+0100, `\uNNNN` in the BMP, `\u{…}` above it. Newlines are
 * escaped too: callers that keep line structure split on "\n" first.
 *
 * @example
 * ```ts
 * sanitize("\x1b[2Jhi\u202e"); // "\\x1b[2Jhi\\u202e"
 * ```
 */
export function sanitize(text: string): string {
  return text.replace(UNSAFE, escapeCodePoint);
}

/** True when `text` would print exactly as it is. */
export function isSafe(text: string): boolean {
  return !ANY_UNSAFE.test(text);
}

/**
 * Returns JSON text with every unsafe code point inside it written as a
 * `\uXXXX` escape (a surrogate pair above U+FFFF): the same JSON value, safe
 * to print. Raw unsafe characters can only occur inside JSON strings (JSON
 * white space is the plain space, tab, CR and LF, and callers that keep
 * tab or CR between tokens replace them first), so the structure is kept.
 *
 * @example
 * ```ts
 * escapeUnsafeJson(JSON.stringify("a\u202e")); // '"a\\u202e"'
 * ```
 */
export function escapeUnsafeJson(json: string): string {
  return json.replace(UNSAFE, escapeUnits);
}

/**
 * Shortens `text` to at most `max` code points, ending in "…" when cut
 * (a hostile server's 1 MiB nickname must not fill the screen).
 */
export function truncate(text: string, max: number): string {
  let count = 0;
  let end = 0;
  for (const char of text) {
    if (count === max) return `${text.slice(0, end)}…`;
    count++;
    end += char.length;
  }
  return text;
}

/** The length of a {@linkcode preview}, in code points. */
export const PREVIEW_LENGTH = 40;

/**
 * A short quote of a message for a notice: white space runs become one
 * space, and it is cut at {@linkcode PREVIEW_LENGTH} code points (never
 * inside a character, such as an emoji's surrogate pair).
 *
 * @example
 * ```ts
 * preview("two\nlines"); // "two lines"
 * ```
 */
export function preview(text: string): string {
  return truncate(text.replace(/\s+/g, " "), PREVIEW_LENGTH);
}

function escapeCodePoint(char: string): string {
  const code = char.codePointAt(0)!;
  const hex = code.toString(16).padStart(2, "0");
  if (code < 0x100) return `\\x${hex}`;
  if (code <= 0xffff) return `\\u${hex.padStart(4, "0")}`;
  return `\\u{${hex}}`;
}

/** `\uXXXX` for each UTF-16 unit, so a code point above U+FFFF becomes a surrogate pair. */
function escapeUnits(char: string): string {
  let out = "";
  for (let i = 0; i < char.length; i++) {
    out += `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out;
}
