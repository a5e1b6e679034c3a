// An operator's order to cut someone off, as one server of a shared chat
// sends it to the server that person is logged in on (PROTOCOL.md §13):
// a kick, or a ban of a nickname whose identity or address only that
// server knows (it then bans them itself, and the registry tells every
// server). One line of JSON on the Redis direct channel (redis/
// direct_channel.ts); a storage format between our servers, never a frame
// a client sees. Reading checks every field: a Redis can hold anything.
//
//   {"how":"kick","by":"alice","reason":"calm down"}
//   {"how":"ban","by":"alice","reason":"spam","minutes":60}

/** What an operator ordered. */
export interface CutOrder {
  how: "kick" | "ban";
  /** The operator's nickname. */
  by: string;
  /** The operator's words; "" when none. */
  reason: string;
  /** A ban's length; 0: until unbanned. */
  minutes: number;
}

/**
 * An order as one line of text (no newline).
 *
 * @example
 * ```ts
 * encodeOrder({ how: "kick", by: "alice", reason: "", minutes: 0 });
 * // '{"how":"kick","by":"alice","reason":"","minutes":0}'
 * ```
 */
export function encodeOrder(order: CutOrder): string {
  return JSON.stringify({
    how: order.how,
    by: order.by,
    reason: order.reason,
    minutes: order.minutes,
  });
}

/**
 * Reads an order back, or undefined when it is not one of ours.
 *
 * @example
 * ```ts
 * decodeOrder('{"how":"ban","by":"alice","reason":"spam","minutes":5}')?.minutes; // 5
 * decodeOrder("{}"); // undefined
 * ```
 */
export function decodeOrder(text: string): CutOrder | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { how, by, reason, minutes } = value as Record<string, unknown>;
  if (how !== "kick" && how !== "ban") return undefined;
  if (typeof by !== "string" || typeof reason !== "string") return undefined;
  if (typeof minutes !== "number" || !Number.isSafeInteger(minutes) || minutes < 0) {
    return undefined;
  }
  return { how, by, reason, minutes };
}
