// The wire format of a message's `time` (PROTOCOL.md §5).
//
// We send ISO 8601 with seconds and a numeric offset without a colon
// ("2017-01-12T20:00:00-0800"), as the seed's example does. We accept what
// other implementations send: `Z`, an offset with a colon, fractional seconds.

/**
 * Formats an instant as the protocol's `time`, in the given offset.
 *
 * @param date The instant.
 * @param offsetMinutes Minutes east of UTC (the inverse of
 * `Date.prototype.getTimezoneOffset`). Defaults to the local offset at `date`.
 *
 * @example
 * ```ts
 * formatWireTime(new Date("2017-01-13T04:00:00Z"), -480); // "2017-01-12T20:00:00-0800"
 * ```
 */
export function formatWireTime(date: Date, offsetMinutes = -date.getTimezoneOffset()): string {
  const shifted = new Date(date.getTime() + offsetMinutes * 60_000);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${shifted.toISOString().slice(0, 19)}${sign}${pad2(Math.floor(abs / 60))}${
    pad2(abs % 60)
  }`;
}

/** A parsed wire time: the instant, and the offset the sender wrote it in. */
export interface WireTime {
  date: Date;
  /** Minutes east of UTC as written by the sender. */
  offsetMinutes: number;
}

const WIRE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:(Z|z)|([+-])(\d{2})(?::?(\d{2}))?)$/;

/**
 * Parses a `time` as other implementations send it; `undefined` when it is
 * not a time we understand (the caller shows the raw text instead).
 *
 * @example
 * ```ts
 * parseWireTime("2017-01-12T20:00:00-0800")?.date.toISOString(); // "2017-01-13T04:00:00.000Z"
 * parseWireTime("2017-01-13T04:00:00.5Z")?.offsetMinutes; // 0
 * parseWireTime("yesterday"); // undefined
 * ```
 */
export function parseWireTime(text: string): WireTime | undefined {
  const m = WIRE_TIME.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = "0", frac = "", z, sign, oh, om = "0"] = m;
  const month = Number(mo),
    day = Number(d),
    hour = Number(h),
    minute = Number(mi),
    second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return undefined;
  }
  const offsetMinutes = z ? 0 : (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om));
  if (Math.abs(offsetMinutes) > 18 * 60) return undefined;
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  const local = new Date(Date.UTC(2000, month - 1, day, hour, minute, Math.min(second, 59), ms));
  local.setUTCFullYear(Number(y)); // Date.UTC would read years 0-99 as 1900-1999.
  const utc = local.getTime() - offsetMinutes * 60_000;
  const date = new Date(utc);
  if (Number.isNaN(date.getTime())) return undefined;
  // Reject dates that rolled over, such as February 30th.
  if (new Date(utc + offsetMinutes * 60_000).getUTCDate() !== day) return undefined;
  return { date, offsetMinutes };
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}
