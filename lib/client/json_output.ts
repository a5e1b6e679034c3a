// The line `--json` prints for a received frame: the frame's own JSON text,
// made safe for whatever terminal or script reads it.
//
// protocol.ts has already parsed the line into a frame (so it is one valid
// JSON object); this only rewrites characters, never structure. Valid JSON
// can hold raw DEL, C1 controls, bidi overrides and the like inside strings,
// and CR or TAB as white space between tokens. The first kind become `\uXXXX`
// escapes (the same JSON value), the second kind become spaces. The result
// is still one line of JSON with every field the server sent, unknown ones
// included.

/** Characters that are legal raw in a JSON string but must not reach a terminal. */
const UNSAFE_IN_STRINGS = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}\u034F\u115F\u1160\u3164\uFFA0]/gu;
/** JSON white space other than the plain space (a raw newline cannot occur in a line). */
const ODD_WHITESPACE = /[\t\r]/g;

/**
 * Returns the JSON text of a decoded frame, safe to print as one line.
 *
 * @param line One line that protocol.ts decoded as a JSON object.
 *
 * @example
 * ```ts
 * safeJsonLine('{"from":"a\u202e","message":"x"}'); // '{"from":"a\\u202e","message":"x"}'
 * ```
 */
export function safeJsonLine(line: string): string {
  return line
    .replace(ODD_WHITESPACE, " ")
    .replace(UNSAFE_IN_STRINGS, escapeUnits);
}

/** `\uXXXX` for each UTF-16 unit, so a code point above U+FFFF becomes a surrogate pair. */
function escapeUnits(char: string): string {
  let out = "";
  for (let i = 0; i < char.length; i++) {
    out += `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out;
}
