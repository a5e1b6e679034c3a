// The rules of PROTOCOL.md §5 for a message's text, in one place for the
// server (which refuses a bad text with the reason) and the client (which
// refuses to send one): a non-empty string, valid Unicode, at most so many
// UTF-8 bytes.

import { utf8Length } from "./bytes.ts";

/** The server's default cap on a message's text, in UTF-8 bytes (§5). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024;

/**
 * Checks a message's text against §5: a non-empty string of at most
 * `maxBytes` UTF-8 bytes, and valid Unicode. Returns the wire reason, or
 * undefined when valid.
 *
 * A lone surrogate (a JSON `"\ud800"` escape can carry one; UTF-8 cannot)
 * is refused like one in a nickname: stored, it would be replayed forever
 * in a frame that strict JSON parsers (serde_json) refuse whole.
 *
 * @example
 * ```ts
 * checkMessageText("", DEFAULT_MAX_MESSAGE_BYTES); // "message must not be empty"
 * checkMessageText("hi", DEFAULT_MAX_MESSAGE_BYTES); // undefined
 * ```
 */
export function checkMessageText(text: string, maxBytes: number): string | undefined {
  if (text.length === 0) return "message must not be empty";
  if (!text.isWellFormed()) return "message must be valid Unicode";
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short texts skip the count.
  if (text.length * 3 > maxBytes && utf8Length(text) > maxBytes) {
    return `message must be at most ${maxBytes} bytes`;
  }
  return undefined;
}
