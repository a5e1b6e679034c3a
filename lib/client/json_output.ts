// The line `--json` prints for a received frame: the frame's own JSON text,
// made safe for whatever terminal or script reads it.
//
// protocol.ts has already parsed the line into a frame (so it is one valid
// JSON object); this only rewrites characters, never structure. Valid JSON
// can hold raw DEL, C1 controls, bidi overrides and the like inside strings,
// and CR or TAB as white space between tokens. The first kind become `\uXXXX`
// escapes (the same JSON value), the second kind become spaces. The result
// is still one line of JSON with every field the server sent, unknown ones
// included. What counts as unsafe is defined once, in lib/terminal_text.ts.

import { escapeUnsafeJson } from "../terminal_text.ts";

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
  return escapeUnsafeJson(line.replace(ODD_WHITESPACE, " "));
}
