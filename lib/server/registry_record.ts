// A registry change (registry.ts RegistryChange) written down: one JSON
// object on one line, as registry.log holds them and as servers sharing a
// chat through Redis pass them on. This is a storage format, not a frame:
// it never reaches a client, and lib/protocol.ts (the wire) does not know
// it. Reading checks every field, since a file or a Redis can hold anything.
//
//   {"op":"register","key":"bob","nickname":"Bob","identity":"AB:…"}
//   {"op":"unregister","key":"bob"}
//   {"op":"ban","target":"AB:…","until":"2026-11-27T10:00:00.000Z","reason":"spam","by":"alice"}
//   {"op":"unban","target":"10.0.0.7"}

import { isFingerprint } from "../fingerprint.ts";
import type { RegistryChange } from "./registry.ts";

/** An instant as written: `Date.prototype.toISOString`'s form. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;

/**
 * One change as one line of JSON, newline included.
 *
 * @example
 * ```ts
 * encodeChange({ op: "unban", target: "10.0.0.7" }); // '{"op":"unban","target":"10.0.0.7"}\n'
 * ```
 */
export function encodeChange(change: RegistryChange): string {
  switch (change.op) {
    case "register":
      return line({
        op: change.op,
        key: change.nickKey,
        nickname: change.nickname,
        identity: change.identity,
      });
    case "unregister":
      return line({ op: change.op, key: change.nickKey });
    case "ban":
      return line({
        op: change.op,
        target: change.target,
        until: change.until === null ? null : change.until.toISOString(),
        reason: change.reason,
        by: change.by,
      });
    case "unban":
      return line({ op: change.op, target: change.target });
  }
}

/**
 * Reads one line (without its newline) back into a change, or says what is
 * wrong with it.
 *
 * @example
 * ```ts
 * decodeChange('{"op":"unban","target":"10.0.0.7"}'); // { op: "unban", target: "10.0.0.7" }
 * decodeChange("{}"); // "no known op"
 * ```
 */
export function decodeChange(text: string): RegistryChange | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "not a JSON object";
  }
  const record = value as Record<string, unknown>;
  const text_ = (name: string): string | undefined =>
    typeof record[name] === "string" && record[name] !== "" ? record[name] as string : undefined;
  switch (record.op) {
    case "register": {
      const [nickKey, nickname] = [text_("key"), text_("nickname")];
      if (nickKey === undefined || nickname === undefined) return "a register without its nickname";
      if (!isFingerprint(record.identity)) return "a register without a valid identity";
      return { op: "register", nickKey, nickname, identity: record.identity };
    }
    case "unregister": {
      const nickKey = text_("key");
      return nickKey === undefined ? "an unregister without its nickname" : {
        op: "unregister",
        nickKey,
      };
    }
    case "ban": {
      const target = text_("target");
      if (target === undefined) return "a ban without its target";
      const until = record.until;
      if (
        until !== null &&
        !(typeof until === "string" && INSTANT.test(until) && !Number.isNaN(Date.parse(until)))
      ) {
        return "a ban whose until is neither a time nor null";
      }
      if (typeof record.reason !== "string" || typeof record.by !== "string") {
        return "a ban without its reason or operator";
      }
      return {
        op: "ban",
        target,
        until: until === null ? null : new Date(until),
        reason: record.reason,
        by: record.by,
      };
    }
    case "unban": {
      const target = text_("target");
      return target === undefined ? "an unban without its target" : { op: "unban", target };
    }
    default:
      return "no known op";
  }
}

function line(value: Record<string, unknown>): string {
  return JSON.stringify(value) + "\n";
}
