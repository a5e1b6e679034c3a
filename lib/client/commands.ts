// The lines a person types, or pipes, that start with "/": the commands,
// the help that lists them, and what each one does. On a terminal and in a
// pipe alike (pipes get the same commands, so `echo "/msg alice done" |
// chat client` sends a direct message):
//
// - `/msg NICK TEXT` sends TEXT to NICK alone (§11), through the outgoing
//   queue like any message; `/who` asks who is here (§10); `/help`;
//   `/quit` leaves (in a pipe: input ends there).
// - `//text` sends `/text` as a message.
// - Any other `/word` is refused and never sent: a mistyped `/mgs alice
//   secret` must not become a public message. A pipe lists it at the end
//   with the lines not sent (exit 1).
//
// A nickname may hold spaces (§2), so `/msg` takes the longest nickname
// present that the text starts with, or one in double quotes
// (`/msg "bob smith" hi`), or else the first word.

import { checkNickname, nicknameKey } from "../nickname.ts";
import { quoted } from "./outgoing_queue.ts";
import type { Session } from "./session.ts";

/** The commands, as Tab completes them at the start of a line. */
export const COMMANDS = ["/help", "/msg ", "/quit", "/who"] as const;

/** What /help prints. */
export const HELP = [
  "commands:",
  "  /help            this list",
  "  /who             who is here",
  "  /msg NICK TEXT   a direct message: only NICK sees it",
  "  /quit            leave (Ctrl-C and Ctrl-D too)",
  "  //text           send a message that starts with /",
  "Tab completes nicknames and commands; Up/Down recall earlier lines; the usual line editing keys work.",
];

const MSG_USAGE = 'usage: /msg NICK TEXT (a nickname with spaces in "double quotes")';

/** A typed line, understood. */
export type Typed =
  | { kind: "blank" }
  | { kind: "message"; text: string }
  | { kind: "direct"; to: string; text: string }
  | { kind: "who" }
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
  let to: string;
  let text: string;
  if (rest.startsWith('"')) {
    const end = rest.indexOf('"', 1);
    if (end === -1) return { kind: "bad", reason: MSG_USAGE };
    to = rest.slice(1, end);
    text = rest.slice(end + 1);
  } else {
    to = spacedNickname(rest, present) ?? rest.split(/\s/, 1)[0];
    text = rest.slice(to.length);
  }
  text = text.trimStart();
  if (to === "" || text.trim() === "") return { kind: "bad", reason: MSG_USAGE };
  const checked = checkNickname(to);
  if (!checked.ok) return { kind: "bad", reason: `/msg: ${checked.reason}` };
  return { kind: "direct", to: checked.nickname, text };
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
  session: Pick<Session, "submit" | "who" | "here">;
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
    case "help":
      for (const text of HELP) host.notify(text);
      return;
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
