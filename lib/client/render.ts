// How chat lines look: the time in local time, the nickname in its colour,
// the text, continuation lines indented under the first, a separator when
// the day changes, and notices. Direct messages (§11) look apart from public
// ones: `*alice* text` from alice, `-> alice: text` to her, the text in
// DIRECT_COLOR; presence lines (§10: joins, leaves, who is here) are dimmed.
//
// Pure formatting on typed values: the time zone and whether to colour are
// passed in, nothing here reads the clock or the environment, so the tests
// pin every output exactly. Everything that came from the network goes
// through sanitize() before it is coloured.

import { styleText } from "node:util";
import { parseWireTime } from "../time.ts";
import { nicknameKey } from "../nickname.ts";
import { sanitize, truncate } from "../terminal_text.ts";

/** The most code points of a nickname shown; a longer one (from a hostile server) is cut. */
export const MAX_SHOWN_NICKNAME = 40;
/** The most code points of an unparsable `time` shown in its place. */
export const MAX_SHOWN_RAW_TIME = 32;
/** Continuation lines are indented under the text, but never by more than this. */
export const MAX_INDENT = 48;
/** Nicknames whose colour a transcript remembers; beyond it the memory starts again. */
export const NICK_COLOR_MEMORY = 256;

/** Colours a nickname may get; chosen by a hash of the nickname, so stable. */
export const NICK_COLORS = [
  "red",
  "green",
  "yellow",
  "blue",
  "magenta",
  "cyan",
  "redBright",
  "greenBright",
  "yellowBright",
  "blueBright",
  "magentaBright",
  "cyanBright",
] as const;

/** The colour of a direct message's text (public texts are never coloured). */
export const DIRECT_COLOR = "magentaBright";

/** Options of a {@linkcode Transcript}. */
export interface TranscriptOptions {
  /** Whether to add colour codes. */
  color: boolean;
  /**
   * IANA time zone for times and days (such as "Europe/Berlin").
   * @default the system's local time zone
   */
  timeZone?: string;
}

/** What a chat line shows: the sender, the text, and the wire time. */
export interface ShownMessage {
  from: string;
  message: string;
  /** The wire `time`; shown raw (sanitised) when it does not parse. */
  time: string;
}

/**
 * Turns messages and notices into display lines. It remembers the day of
 * the last message so it can print a separator when the day changes.
 *
 * @example
 * ```ts
 * const t = new Transcript({ color: false, timeZone: "UTC" });
 * t.message({ from: "bob", message: "hi\nthere", time: "2017-01-12T20:00:00Z" });
 * // ["--- Thursday 2017-01-12 ---", "20:00 <bob> hi", "            there"]
 * ```
 */
export class Transcript {
  readonly #color: boolean;
  readonly #clock: Intl.DateTimeFormat;
  readonly #day: Intl.DateTimeFormat;
  readonly #weekday: Intl.DateTimeFormat;
  #lastDay: string | undefined;
  /** nickColor per nickname: its key costs microseconds for non-ASCII names, per shown line. */
  #colors = new Map<string, (typeof NICK_COLORS)[number]>();

  constructor(options: TranscriptOptions) {
    this.#color = options.color;
    const timeZone = options.timeZone;
    this.#clock = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    this.#day = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    });
    this.#weekday = new Intl.DateTimeFormat("en-US", { timeZone, weekday: "long" });
  }

  /** The display lines of one message (a day separator first when the day changed). */
  message(message: ShownMessage, suffix?: string): string[] {
    return this.#lines(message, "public", suffix);
  }

  /**
   * The display lines of a direct message: `*from* text` as received, or,
   * with `to` (one we sent), `-> to: text`.
   */
  direct(message: ShownMessage & { to?: string }): string[] {
    return this.#lines(message, message.to === undefined ? "from" : "to");
  }

  /** A presence line (joins, leaves, who is here): `*** text`, dimmed, sanitised. */
  presence(text: string): string[] {
    return [this.#paint("dim", `*** ${sanitize(text)}`)];
  }

  #lines(
    message: ShownMessage & { to?: string },
    kind: "public" | "from" | "to",
    suffix?: string,
  ): string[] {
    const out: string[] = [];
    const parsed = parseWireTime(message.time);
    let clock: string;
    if (parsed) {
      const day = this.#day.format(parsed.date);
      if (day !== this.#lastDay) {
        this.#lastDay = day;
        out.push(this.#paint("dim", `--- ${this.#weekday.format(parsed.date)} ${day} ---`));
      }
      clock = this.#clock.format(parsed.date);
    } else {
      clock = message.time === "" ? "--:--" : sanitize(truncate(message.time, MAX_SHOWN_RAW_TIME));
    }
    const who = kind === "to" ? message.to! : message.from;
    const nick = sanitize(truncate(who, MAX_SHOWN_NICKNAME));
    const [open, close] = kind === "public"
      ? ["<", ">"]
      : kind === "from"
      ? ["*", "*"]
      : ["-> ", ":"];
    const head = `${clock} ${open}${nick}${close} `;
    const indent = " ".repeat(Math.min(codePoints(head), MAX_INDENT));
    const text = kind === "public" ? false : DIRECT_COLOR;
    const lines = message.message.split(/\r?\n/).map((line) => this.#paint(text, sanitize(line)));
    const tail = suffix === undefined ? "" : ` ${this.#paint("dim", suffix)}`;
    lines.forEach((line, i) => {
      const end = i === lines.length - 1 ? tail : "";
      if (i === 0) {
        const name = this.#paint(this.#color && this.#colorOf(who), nick);
        out.push(`${this.#paint("dim", clock)} ${open}${name}${close} ${line}${end}`);
      } else {
        out.push(`${indent}${line}${end}`);
      }
    });
    return out;
  }

  /** A notice from the client (or a server's error, quoted inside): one sanitised line per line. */
  notice(text: string): string[] {
    return text.split("\n").map((line) => this.#paint("yellow", `*** ${sanitize(line)}`));
  }

  #paint(format: Parameters<typeof styleText>[0] | false, text: string): string {
    return this.#color && format ? styleText(format, text, { validateStream: false }) : text;
  }

  #colorOf(nickname: string): (typeof NICK_COLORS)[number] {
    let color = this.#colors.get(nickname);
    if (color === undefined) {
      if (this.#colors.size >= NICK_COLOR_MEMORY) this.#colors.clear();
      color = nickColor(nickname);
      this.#colors.set(nickname, color);
    }
    return color;
  }
}

/**
 * The colour of a nickname: FNV-1a over its case-folded form, so `Bob` and
 * `bob` (the same nickname on the server) get the same colour on every run.
 */
export function nickColor(nickname: string): (typeof NICK_COLORS)[number] {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(nicknameKey(nickname))) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return NICK_COLORS[hash % NICK_COLORS.length];
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
