// The commands of PROTOCOL.md §12 (/register, /unregister) and §13 (/kick,
// /ban, /unban, /bans) from the moment they are typed until the server has
// answered them, and what the answers say.
//
// Their answers are status frames without an `id`, in the order the
// commands went out (a connection's frames are answered in order), so the
// commands awaiting an answer are a FIFO: the next status frame without an
// id that is not the login's answer, nor a live cut (refusals.ts), answers
// the oldest one. Message acks carry ids and never touch it.
//
// A command is sent only to a server that listed its feature (§9): to any
// other it is refused with nothing sent, like /who and /msg. Typed before a
// login was answered (every line of a pipe is read before that) it waits
// for the login, and goes out or is refused then. A connection lost before
// the answer leaves the command unanswered: it is reported, never sent
// again by itself (the user decides whether a ban still needs doing).

import { encodeCommand, type StatusFrame } from "../protocol.ts";
import type { WireBan } from "../ops_frames.ts";
import { parseWireTime } from "../time.ts";
import type { Feature } from "./room.ts";

/** A command of §12–§13, as typed. */
export type OpsCommand =
  | { name: "register" | "unregister" | "bans" }
  | { name: "kick"; nickname: string; reason: string }
  | { name: "ban"; nickname: string; minutes: number; reason: string }
  | { name: "unban"; target: string };

/** The most commands typed before a login that wait for it; beyond it they are refused. */
export const MAX_PENDING_COMMANDS = 100;

/** What became of a command. */
export type CommandOutcome =
  /** The server answered: `ok` or `error` (with its reason). */
  | { kind: "answered"; frame: StatusFrame }
  /** Never answered (the connection was lost), or never sent (`reason` says why). */
  | { kind: "failed"; reason: string };

/** The answer to {@linkcode PendingCommands.submit}. */
export type CommandResult =
  | { ok: true; /** True when it waits for the login. */ queued: boolean }
  | { ok: false; reason: string };

/** What the pending commands need from the session. */
export interface PendingCommandsHost {
  /** Sends a frame on the current connection. */
  write(frame: string): void;
  /** Whether a login was answered, so the server's features are known. */
  known(): boolean;
  /** Whether the server of the last login listed `feature`. */
  supports(feature: Feature): boolean;
  /** Whether we are logged in now. */
  online(): boolean;
  /** What became of the command typed as `line`; `frame` is the answer's line as received. */
  done(command: OpsCommand, line: string, outcome: CommandOutcome, frame?: string): void;
}

interface Pending {
  command: OpsCommand;
  /** As typed, for the report. */
  line: string;
}

/**
 * The commands typed and not yet answered, for one session.
 *
 * @example
 * ```ts
 * const sent: string[] = [];
 * const pending = new PendingCommands({
 *   write: (frame) => sent.push(frame),
 *   known: () => true,
 *   supports: () => true,
 *   online: () => true,
 *   done: (command, _line, outcome) => console.log(command.name, outcome.kind),
 * });
 * pending.submit({ name: "register" }, "/register"); // sends {"command":"register"}
 * pending.answer({ status: "ok" }, '{"status":"ok"}'); // true: "register answered"
 * ```
 */
export class PendingCommands {
  readonly #host: PendingCommandsHost;
  /** Typed before a login was answered. */
  #waiting: Pending[] = [];
  /** Sent, oldest first, awaiting their answers. */
  #sent: Pending[] = [];

  constructor(host: PendingCommandsHost) {
    this.#host = host;
  }

  /** True while a command waits to go out or for its answer (end of input waits too). */
  get awaiting(): boolean {
    return this.#waiting.length > 0 || this.#sent.length > 0;
  }

  /** Sends `command` (typed as `line`), queues it until the login, or says why not. */
  submit(command: OpsCommand, line: string): CommandResult {
    const host = this.#host;
    if (host.known() && !host.supports(featureOf(command))) {
      return { ok: false, reason: unsupported(command) };
    }
    if (!host.online()) {
      if (this.#waiting.length >= MAX_PENDING_COMMANDS) {
        return { ok: false, reason: `not connected, and ${MAX_PENDING_COMMANDS} commands wait` };
      }
      this.#waiting.push({ command, line });
      return { ok: true, queued: true };
    }
    this.#send({ command, line });
    return { ok: true, queued: false };
  }

  /** A login was answered: the commands typed before it go out, or are refused. */
  loggedIn(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const pending of waiting) {
      if (this.#host.supports(featureOf(pending.command))) this.#send(pending);
      else this.#fail(pending, unsupported(pending.command));
    }
  }

  /**
   * A status frame without an id (not the login's answer): the answer to
   * the oldest command sent, if one awaits. False when none does.
   */
  answer(frame: StatusFrame, line: string): boolean {
    const pending = this.#sent.shift();
    if (pending === undefined) return false;
    this.#host.done(pending.command, pending.line, { kind: "answered", frame }, line);
    return true;
  }

  /** The connection is gone: what was sent will not be answered. */
  offline(): void {
    const sent = this.#sent;
    this.#sent = [];
    for (const pending of sent) this.#fail(pending, "no answer: the connection was lost");
  }

  /** The session ends: whatever still waits is reported. */
  stop(): void {
    this.offline();
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const pending of waiting) this.#fail(pending, "not sent: the session ended first");
  }

  #send(pending: Pending): void {
    this.#host.write(encodeOpsCommand(pending.command));
    this.#sent.push(pending);
  }

  #fail(pending: Pending, reason: string): void {
    this.#host.done(pending.command, pending.line, { kind: "failed", reason });
  }
}

/** The feature (§9) a command needs. */
export function featureOf(command: OpsCommand): Feature {
  return command.name === "register" || command.name === "unregister" ? "identity" : "ops";
}

/** Why a command is not sent to a server that did not list its feature. */
function unsupported(command: OpsCommand): string {
  return featureOf(command) === "identity"
    ? `this server does not support registered nicknames (/${command.name})`
    : `this server does not support operator commands (/${command.name})`;
}

/** The frame of a command (§12–§13), as one line; an empty reason is left out. */
export function encodeOpsCommand(command: OpsCommand): string {
  switch (command.name) {
    case "kick":
      return encodeCommand("kick", withReason({ nickname: command.nickname }, command.reason));
    case "ban": {
      const fields = withReason({ nickname: command.nickname }, command.reason);
      if (command.minutes > 0) fields.minutes = command.minutes;
      return encodeCommand("ban", fields);
    }
    case "unban":
      return encodeCommand("unban", { target: command.target });
    default:
      return encodeCommand(command.name);
  }
}

function withReason(
  fields: Record<string, string | number>,
  reason: string,
): Record<string, string | number> {
  if (reason !== "") fields.reason = reason;
  return fields;
}

/**
 * What an `ok` to `command` says, as plain lines (the renderer sanitises
 * and dims them): `registered bob`, `banned troll for 10 minutes`, the
 * table of /bans. `nickname` is ours.
 *
 * @example
 * ```ts
 * okLines({ name: "kick", nickname: "troll", reason: "" }, { status: "ok" }, "bob"); // ["kicked troll"]
 * ```
 */
export function okLines(command: OpsCommand, frame: StatusFrame, nickname: string): string[] {
  switch (command.name) {
    case "register":
      return [`registered ${nickname}: only your identity may log in with it now`];
    case "unregister":
      return [`unregistered ${nickname}`];
    case "kick":
      return [`kicked ${command.nickname}`];
    case "ban":
      return [
        `banned ${command.nickname} ${
          command.minutes > 0 ? `for ${command.minutes} minute(s)` : "until unbanned"
        }`,
      ];
    case "unban":
      return [`unbanned ${command.target}`];
    case "bans":
      return banTable(frame.bans ?? []);
  }
}

/** The most bans /bans shows; the rest are counted. */
export const MAX_SHOWN_BANS = 500;

/** The bans as a table: target, until, by, reason; `no bans` for none. */
export function banTable(bans: readonly WireBan[]): string[] {
  if (bans.length === 0) return ["no bans"];
  const shown = bans.slice(0, MAX_SHOWN_BANS);
  const rows = shown.map((ban) => [ban.target, untilText(ban.until), ban.by, ban.reason]);
  const header = ["TARGET", "UNTIL", "BY", "REASON"];
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => [...row[i]].length))
  );
  const format = (row: string[]) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
      .trimEnd();
  const more = bans.length - shown.length;
  return [
    `${bans.length} ban(s):`,
    format(header),
    ...rows.map(format),
    ...more > 0 ? [`and ${more} more`] : [],
  ];
}

/** A ban's end as people read it: `until unbanned`, or the time as the server gave it, in UTC. */
function untilText(until: string | null): string {
  if (until === null) return "until unbanned";
  const time = parseWireTime(until);
  if (time === undefined) return until;
  return time.date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}
