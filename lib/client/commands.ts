// The lines a person types, or pipes, that start with "/": the commands,
// the help that lists them, and what each one does. On a terminal and in a
// pipe alike (pipes get the same commands, so `echo "/msg alice done" |
// chat client` sends a direct message):
//
// - `/msg NICK TEXT` sends TEXT to NICK alone (§11), through the outgoing
//   queue like any message; `/who` asks who is here (§10); `/help`;
//   `/quit` leaves (in a pipe: input ends there).
// - `/register`, `/unregister` (§12) and the operators' `/kick NICK
//   [reason]`, `/ban NICK [minutes] [reason]`, `/unban TARGET`, `/bans`
//   (§13) go to the session's pending commands (pending_commands.ts),
//   which send them only to a server that listed their feature.
// - `//text` sends `/text` as a message.
// - Any other `/word` is refused and never sent: a mistyped `/mgs alice
//   secret` must not become a public message. A pipe lists it at the end
//   with the lines not sent (exit 1).
//
// A nickname may hold spaces (§2), so `/msg` takes the longest nickname
// present that the text starts with, or one in double quotes
// (`/msg "bob smith" hi`), or else the first word; so do /kick and /ban.
//
// /help and Tab list only what the server listed (§9), once it has
// answered a login; before that, everything the client knows.

import { checkNickname, nicknameKey } from "../nickname.ts";
import { quoted } from "./outgoing_queue.ts";
import type { OpsCommand } from "./pending_commands.ts";
import type { Feature } from "./room.ts";
import type { Session } from "./session.ts";

/**
 * The commands: as Tab completes them at the start of a line, their line
 * in /help, and the feature (§9) the server must list for them.
 */
const COMMAND_LIST: { command: string; usage: string; what: string; feature?: Feature }[] = [
  { command: "/help", usage: "/help", what: "this list" },
  { command: "/who", usage: "/who", what: "who is here", feature: "presence" },
  {
    command: "/msg ",
    usage: "/msg NICK TEXT",
    what: "a direct message: only NICK sees it",
    feature: "direct",
  },
  {
    command: "/register",
    usage: "/register",
    what: "make your nickname yours (bound to your identity: chat identity)",
    feature: "identity",
  },
  { command: "/unregister", usage: "/unregister", what: "give it up", feature: "identity" },
  {
    command: "/kick ",
    usage: "/kick NICK [reason]",
    what: "operators: cut NICK off",
    feature: "ops",
  },
  {
    command: "/ban ",
    usage: "/ban NICK [minutes] [reason]",
    what: "operators: cut off and keep out (no minutes: until unbanned)",
    feature: "ops",
  },
  {
    command: "/unban ",
    usage: "/unban TARGET",
    what: "operators: lift a ban (an identity or address, as /bans lists it)",
    feature: "ops",
  },
  { command: "/bans", usage: "/bans", what: "operators: the bans in force", feature: "ops" },
  { command: "/quit", usage: "/quit", what: "leave (Ctrl-C and Ctrl-D too)" },
  { command: "//", usage: "//text", what: "send a message that starts with /" },
];

/**
 * The commands Tab completes at the start of a line: those of the
 * features in `features` (all of them while `features` is undefined:
 * before the server has answered a login).
 */
export function commandsFor(features: readonly string[] | undefined): string[] {
  return COMMAND_LIST.filter((c) => c.command !== "//" && offered(c.feature, features))
    .map((c) => c.command).sort();
}

/**
 * What /help prints: the commands of the features the server listed (all
 * while `features` is undefined).
 *
 * @example
 * ```ts
 * helpLines([]).includes("  /who             who is here"); // false: a core server
 * ```
 */
export function helpLines(features: readonly string[] | undefined): string[] {
  const shown = COMMAND_LIST.filter((c) => offered(c.feature, features));
  const width = Math.max(...shown.map((c) => c.usage.length)) + 2;
  return [
    "commands:",
    ...shown.map((c) => `  ${c.usage.padEnd(width)}${c.what}`),
    "Tab completes nicknames and commands; Up/Down recall earlier lines; the usual line editing keys work.",
  ];
}

function offered(feature: Feature | undefined, features: readonly string[] | undefined): boolean {
  return feature === undefined || features === undefined || features.includes(feature);
}

const MSG_USAGE = 'usage: /msg NICK TEXT (a nickname with spaces in "double quotes")';
const KICK_USAGE = "usage: /kick NICK [reason]";
const BAN_USAGE = "usage: /ban NICK [minutes] [reason] (no minutes, or 0: until unbanned)";
/** The longest ban /ban asks for, in minutes (about a hundred years; 0 is "until unbanned"). */
export const MAX_BAN_MINUTES = 52_560_000;

/** A typed line, understood. */
export type Typed =
  | { kind: "blank" }
  | { kind: "message"; text: string }
  | { kind: "direct"; to: string; text: string }
  | { kind: "who" }
  /** A command of §12–§13, answered by the server. */
  | { kind: "command"; command: OpsCommand }
  | { kind: "help" }
  | { kind: "quit" }
  /** Not a command we know, or one used wrongly: nothing is sent. */
  | { kind: "bad"; reason: string };

/**
 * Understands one typed line; `present` is who is here (for a nickname
 * with spaces after /msg).
 *
 * @example
 * ```ts
 * parseTyped("/msg alice see you at 5", []); // { kind: "direct", to: "alice", text: "see you at 5" }
 * parseTyped("//etc/hosts is broken", []); // { kind: "message", text: "/etc/hosts is broken" }
 * ```
 */
export function parseTyped(line: string, present: readonly string[]): Typed {
  if (line.trim() === "") return { kind: "blank" };
  if (line.startsWith("//")) return { kind: "message", text: line.slice(1) };
  if (!line.startsWith("/")) return { kind: "message", text: line };
  const body = line.slice(1).trimStart();
  const word = body.split(/\s/, 1)[0];
  const rest = body.slice(word.length).trimStart();
  switch (word.toLowerCase()) {
    case "quit":
    case "exit":
    case "q":
      return { kind: "quit" };
    case "help":
    case "?":
      return { kind: "help" };
    case "who":
      return { kind: "who" };
    case "msg":
      return parseMsg(rest, present);
    case "register":
    case "unregister":
    case "bans": {
      const name = word.toLowerCase() as "register" | "unregister" | "bans";
      if (rest !== "") return { kind: "bad", reason: `usage: /${name} (nothing after it)` };
      return { kind: "command", command: { name } };
    }
    case "kick":
    case "ban":
      return parseCut(word.toLowerCase() as "kick" | "ban", rest, present);
    case "unban":
      if (rest === "" || /\s/.test(rest.trim())) {
        return {
          kind: "bad",
          reason: "usage: /unban TARGET (an identity or address, as /bans lists it)",
        };
      }
      return { kind: "command", command: { name: "unban", target: rest.trim() } };
    default:
      return {
        kind: "bad",
        reason: `unknown command /${word}: not sent (/help lists the commands; ` +
          `start a message with // to send a line that starts with /)`,
      };
  }
}

/** `NICK TEXT` after /msg. */
function parseMsg(rest: string, present: readonly string[]): Typed {
  const split = splitNickname(rest, present);
  if (split === undefined) return { kind: "bad", reason: MSG_USAGE };
  const text = split.after.trimStart();
  if (split.nickname === "" || text.trim() === "") return { kind: "bad", reason: MSG_USAGE };
  const checked = checkNickname(split.nickname);
  if (!checked.ok) return { kind: "bad", reason: `/msg: ${checked.reason}` };
  return { kind: "direct", to: checked.nickname, text };
}

/** `NICK [reason]` after /kick, `NICK [minutes] [reason]` after /ban. */
function parseCut(name: "kick" | "ban", rest: string, present: readonly string[]): Typed {
  const usage = name === "kick" ? KICK_USAGE : BAN_USAGE;
  const split = splitNickname(rest, present);
  if (split === undefined || split.nickname === "") return { kind: "bad", reason: usage };
  const checked = checkNickname(split.nickname);
  if (!checked.ok) return { kind: "bad", reason: `/${name}: ${checked.reason}` };
  let reason = split.after.trim();
  if (name === "kick") {
    return { kind: "command", command: { name, nickname: checked.nickname, reason } };
  }
  let minutes = 0;
  const number = /^(\d+)(?:\s+|$)/.exec(reason);
  if (number) {
    minutes = Number(number[1]);
    if (minutes > MAX_BAN_MINUTES) {
      return {
        kind: "bad",
        reason: `/ban: at most ${MAX_BAN_MINUTES} minutes (0: until unbanned)`,
      };
    }
    reason = reason.slice(number[0].length);
  }
  return { kind: "command", command: { name, nickname: checked.nickname, minutes, reason } };
}

/**
 * The nickname at the start of `rest` (in double quotes, the longest one
 * present with a space, or the first word) and what follows it; undefined
 * for an unclosed quote.
 */
function splitNickname(
  rest: string,
  present: readonly string[],
): { nickname: string; after: string } | undefined {
  if (rest.startsWith('"')) {
    const end = rest.indexOf('"', 1);
    if (end === -1) return undefined;
    return { nickname: rest.slice(1, end), after: rest.slice(end + 1) };
  }
  const nickname = spacedNickname(rest, present) ?? rest.split(/\s/, 1)[0];
  return { nickname, after: rest.slice(nickname.length) };
}

/** The longest nickname present that holds a space and that `rest` starts with, as it is spelled there. */
function spacedNickname(rest: string, present: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const name of present) {
    if (!/\s/.test(name) || rest.length <= name.length || (best && best.length >= name.length)) {
      continue;
    }
    const head = rest.slice(0, name.length);
    if (/\s/.test(rest[name.length]) && nicknameKey(head) === nicknameKey(name)) best = head;
  }
  return best;
}

/** Where a typed line's effects go: the session, and the screen or stderr. */
export interface CommandHost {
  session: Pick<Session, "submit" | "who" | "command" | "here">;
  /** A sentence for the user. */
  notify(text: string): void;
  /** /quit. */
  quit(): void;
  /** A line that was not sent (the user was told why); a pipe lists them at the end. */
  notSent(line: string): void;
  /** Whether to say that a message waits for the login (a terminal; every piped line waits). */
  sayQueued: boolean;
}

/** Does what a typed line says. */
export function runTyped(line: string, host: CommandHost): void {
  const typed = parseTyped(line, host.session.here.names);
  switch (typed.kind) {
    case "blank":
      return;
    case "quit":
      host.quit();
      return;
    case "help": {
      const here = host.session.here;
      for (const text of helpLines(here.known ? here.features : undefined)) host.notify(text);
      return;
    }
    case "command": {
      const result = host.session.command(typed.command, line);
      if (!result.ok) {
        host.notify(result.reason);
        host.notSent(line);
      } else if (result.queued && host.sayQueued) {
        host.notify(`not connected: ${line.trim()} goes out after the login`);
      }
      return;
    }
    case "who": {
      const result = host.session.who();
      if (!result.ok) host.notify(result.reason);
      else if (result.queued && host.sayQueued) {
        host.notify("not connected: /who asks after the login");
      }
      return;
    }
    case "bad":
      host.notify(typed.reason);
      host.notSent(line);
      return;
  }
  const to = typed.kind === "direct" ? typed.to : undefined;
  const result = host.session.submit(typed.text, to);
  if (!result.ok) {
    host.notify(`not sent: ${result.reason}`);
    host.notSent(line);
  } else if (result.queued && host.sayQueued) {
    host.notify(
      `not connected: ${quoted({ text: typed.text, to })} is queued and goes out after the login`,
    );
  }
}
