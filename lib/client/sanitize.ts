// Makes text from the network safe to print on a terminal.
//
// A hostile server or user can put escape sequences (ESC, CSI), bells,
// backspaces, carriage returns, bidi overrides and zero-width characters
// into nicknames and messages to move the cursor, rewrite the screen or
// disguise one nickname as another. Every such character is shown as a
// visible escape (`\x1b`, `\u202e`) instead; nothing else is changed. Our
// own colour codes are added after sanitising, so they are the only escape
// sequences that reach the terminal.
//
// Shortening text for the screen lives here too (`truncate`, `preview`), so
// there is one way to cut text, and it never splits a character.

/**
 * Code points that are never printed raw: C0 and C1 controls and DEL (Cc),
 * format characters such as bidi overrides and zero-width joiners (Cf),
 * line and paragraph separators, lone surrogates, and the invisible
 * "filler" letters and joiners that render as nothing.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u{D800}-\u{DFFF}\u034F\u115F\u1160\u3164\uFFA0]/gu;

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
  UNSAFE.lastIndex = 0;
  const unsafe = UNSAFE.test(text);
  UNSAFE.lastIndex = 0;
  return !unsafe;
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
