// The frames of PROTOCOL.md §12 (identity) and §13 (operators) that only
// these extensions have: the commands as a client sends them, and the list
// of bans in the answer to `bans`. Part of the protocol module, kept beside
// it so that lib/protocol.ts stays one readable file. protocol.ts parses the
// line and hands the JSON value over; this file only checks its fields into
// typed values (every value's type checked before it is used, nothing
// coerced), or says what is wrong in the sentence that goes on the wire.

import type { FrameError } from "./protocol.ts";

/** §12's refusal of a login whose nickname another identity (or an identity at all) holds. */
export const NICKNAME_REGISTERED = "nickname is registered";
/** §13's refusal of a login with an invitation list, for an identity not on it. */
export const NOT_INVITED = "not invited";

/** `{"command":"register"}` / `{"command":"unregister"}` (§12). */
export interface RegisterFrame {
  type: "register" | "unregister";
}

/** `{"command":"kick","nickname":…,"reason":…}` (§13). */
export interface KickFrame {
  type: "kick";
  nickname: string;
  /** The operator's words; "" when none was given. */
  reason: string;
}

/** `{"command":"ban","nickname":…,"reason":…,"minutes":N}` (§13). */
export interface BanFrame {
  type: "ban";
  nickname: string;
  reason: string;
  /** How long; 0 (or absent): until unbanned. */
  minutes: number;
}

/** `{"command":"unban","target":…}` (§13): an identity or an address. */
export interface UnbanFrame {
  type: "unban";
  target: string;
}

/** `{"command":"bans"}` (§13). */
export interface BansFrame {
  type: "bans";
}

/** A command of §12–§13. */
export type OpsFrame = RegisterFrame | KickFrame | BanFrame | UnbanFrame | BansFrame;

/** The commands of §12–§13, by name. */
export const OPS_COMMANDS: readonly string[] = [
  "register",
  "unregister",
  "kick",
  "ban",
  "unban",
  "bans",
];

/**
 * The longest reason an operator may give, in characters: it travels in an
 * error frame to the person cut off and stays in the ban list.
 */
export const MAX_REASON_LENGTH = 300;

/** The longest timed ban, in minutes (about a hundred years): longer is "until unbanned". */
export const MAX_BAN_MINUTES = 52_560_000;

/**
 * Checks the fields of the §12–§13 command `command` (one of
 * {@linkcode OPS_COMMANDS}) in the JSON object `frame`.
 *
 * @example
 * ```ts
 * decodeOpsCommand("kick", { command: "kick", nickname: "troll" });
 * // { type: "kick", nickname: "troll", reason: "" }
 * decodeOpsCommand("ban", { command: "ban", nickname: "x", minutes: -1 });
 * // { type: "error", reason: "minutes must be a non-negative integer", of: "other" }
 * ```
 */
export function decodeOpsCommand(
  command: string,
  frame: Record<string, unknown>,
): OpsFrame | FrameError {
  switch (command) {
    case "register":
    case "unregister":
    case "bans":
      return { type: command };
    case "unban": {
      const target = frame.target;
      if (typeof target !== "string" || target.trim() === "") {
        return fail("target must be an identity or an address");
      }
      return { type: "unban", target: target.trim() };
    }
    case "kick":
    case "ban": {
      if (typeof frame.nickname !== "string") return fail("nickname must be a string");
      const reason = frame.reason ?? "";
      if (typeof reason !== "string") return fail("reason must be a string");
      if (!reason.isWellFormed()) return fail("reason must be valid Unicode");
      if (reason.length > MAX_REASON_LENGTH && [...reason].length > MAX_REASON_LENGTH) {
        return fail(`reason must be at most ${MAX_REASON_LENGTH} characters`);
      }
      if (command === "kick") return { type: "kick", nickname: frame.nickname, reason };
      const minutes = frame.minutes ?? 0;
      if (typeof minutes !== "number" || !Number.isSafeInteger(minutes) || minutes < 0) {
        return fail("minutes must be a non-negative integer");
      }
      if (minutes > MAX_BAN_MINUTES) {
        return fail(`minutes must be at most ${MAX_BAN_MINUTES} (0: until unbanned)`);
      }
      return { type: "ban", nickname: frame.nickname, reason, minutes };
    }
    default:
      return fail(`unknown command ${JSON.stringify(command)}`);
  }
}

function fail(reason: string): FrameError {
  return { type: "error", reason, of: "other" };
}

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
