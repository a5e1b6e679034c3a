// The frames of PROTOCOL.md §12 (identity) and §13 (operators) that only
// these extensions have: part of the protocol module, kept beside it so that
// lib/protocol.ts stays one readable file. protocol.ts parses the line and
// hands the JSON value over; this file only checks its fields into typed
// values (every value's type checked before it is used, nothing coerced).

/** A ban as the answer to `{"command":"bans"}` lists it (§13). */
export interface WireBan {
  /** An identity or an address. */
  target: string;
  /** A time as in §5; null: until unbanned. */
  until: string | null;
  reason: string;
  by: string;
}

/**
 * The bans of a `bans` answer (§13), tolerant as a client must be: an
 * entry without a string `target` is dropped (it names nobody), and a
 * missing or mistyped `until`, `reason` or `by` reads as "until unbanned"
 * and "".
 *
 * @example
 * ```ts
 * decodeBans([{ target: "10.0.0.7", until: null, reason: "spam", by: "alice" }, 42]);
 * // [{ target: "10.0.0.7", until: null, reason: "spam", by: "alice" }]
 * ```
 */
export function decodeBans(list: readonly unknown[]): WireBan[] {
  const bans: WireBan[] = [];
  for (const entry of list) {
    if (typeof entry !== "object" || entry === null) continue;
    const { target, until, reason, by } = entry as Record<string, unknown>;
    if (typeof target !== "string") continue;
    bans.push({
      target,
      until: typeof until === "string" ? until : null,
      reason: typeof reason === "string" ? reason : "",
      by: typeof by === "string" ? by : "",
    });
  }
  return bans;
}
