// What presence (PROTOCOL.md §10) says on screen: the one-line summary at
// login (`12 here: alice, bob, … and 9 more`), the whole list for /who, and
// joins and leaves, folded when many come at once.
//
// Folding is for a busy meetup, where a hundred people arriving would push
// the conversation off the screen: the first join or leave after a quiet
// spell shows at once, and the ones that follow within FOLD_WINDOW_MS wait
// and become one line (`alice, bob, carol and 5 others joined; dave left
// (quit)`), one line per window for as long as the stream goes on. Someone
// who comes and goes within one window (or goes and comes back: a
// reconnect) is left out of the line, since nothing changed for the reader.
// A fold never delays anything else: before any other line is shown the
// caller flushes the fold, so what is pending is shown first, in order.
//
// The texts here are plain; the renderer (render.ts) sanitises and dims
// them. Nicknames are cut at MAX_SHOWN_NICKNAME like everywhere else.

import { nicknameKey } from "../nickname.ts";
import type { PresenceEvent } from "../protocol.ts";
import { truncate } from "../terminal_text.ts";
import { MAX_SHOWN_NICKNAME } from "./render.ts";
import type { TimerHandle, Timers } from "./timers.ts";

/** Joins and leaves after the first one of a burst wait this long and are shown as one line. */
export const FOLD_WINDOW_MS = 3000;
/** The most nicknames a folded line names; the rest are counted (`and 5 others`). */
export const MAX_FOLD_NAMES = 3;
/** The most nicknames the login summary names; /who names everyone. */
export const MAX_SUMMARY_NAMES = 10;
/** The login summary stops naming people once its names take this many characters. */
export const MAX_SUMMARY_CHARS = 120;
/** A leave reason from the server is cut to this many characters. */
export const MAX_SHOWN_REASON = 20;

/**
 * Who is here, as one line: `12 here: alice, bob, carol and 9 more (/who
 * lists all)` at login (`cut`), or every name (/who).
 *
 * @example
 * ```ts
 * hereLine(["alice", "bob"], true); // "2 here: alice, bob"
 * ```
 */
export function hereLine(names: readonly string[], cut: boolean): string {
  const shown: string[] = [];
  let chars = 0;
  for (const name of names) {
    const nick = shownNick(name);
    if (cut && (shown.length === MAX_SUMMARY_NAMES || chars + nick.length > MAX_SUMMARY_CHARS)) {
      break;
    }
    shown.push(nick);
    chars += nick.length + 2;
  }
  const rest = names.length - shown.length;
  const list = rest === 0
    ? shown.join(", ")
    : `${shown.join(", ")} and ${rest} more (/who lists all)`;
  return names.length === 0 ? "nobody here" : `${names.length} here: ${list}`;
}

/**
 * One join or leave, as a line: `carol joined`, `carol left (quit)`.
 *
 * @example
 * ```ts
 * eventLine({ type: "leave", nickname: "carol", time: "", reason: "quit" }); // "carol left (quit)"
 * ```
 */
export function eventLine(event: PresenceEvent & { type: "join" | "leave" }): string {
  return event.type === "join"
    ? `${shownNick(event.nickname)} joined`
    : `${shownNick(event.nickname)} left${reasonText(event.reason)}`;
}

/** Options of a {@linkcode PresenceFold}. */
export interface PresenceFoldOptions {
  timers: Timers;
  /** Shows one presence line. */
  show(text: string): void;
  /** @default FOLD_WINDOW_MS */
  windowMs?: number;
}

/**
 * Joins and leaves on their way to the screen, folded in busy moments.
 *
 * @example
 * ```ts
 * import { REAL_TIMERS } from "./timers.ts";
 *
 * const fold = new PresenceFold({ timers: REAL_TIMERS, show: console.log });
 * fold.add({ type: "join", nickname: "alice", time: "" }); // "alice joined", at once
 * fold.add({ type: "join", nickname: "bob", time: "" }); // waits for the window
 * fold.add({ type: "join", nickname: "carol", time: "" });
 * fold.flush(); // "bob and carol joined", before whatever comes next
 * fold.stop();
 * ```
 */
export class PresenceFold {
  readonly #timers: Timers;
  readonly #show: (text: string) => void;
  readonly #windowMs: number;
  /** Nickname key → nickname, in order of arrival. */
  #joins = new Map<string, string>();
  /** Nickname key → nickname and reason, in order of arrival. */
  #leaves = new Map<string, { nickname: string; reason?: string }>();
  /** While set, a window is open: events wait in it. */
  #timer: TimerHandle | undefined;

  constructor(options: PresenceFoldOptions) {
    this.#timers = options.timers;
    this.#show = options.show;
    this.#windowMs = options.windowMs ?? FOLD_WINDOW_MS;
  }

  /** A join or leave: shown at once after a quiet spell, otherwise folded. */
  add(event: PresenceEvent & { type: "join" | "leave" }): void {
    if (this.#timer === undefined) {
      this.#show(eventLine(event));
      this.#open();
      return;
    }
    const key = nicknameKey(event.nickname);
    if (event.type === "join") {
      // Back within the window (a reconnect): nothing changed for the reader.
      if (!this.#leaves.delete(key)) this.#joins.set(key, event.nickname);
    } else if (!this.#joins.delete(key)) {
      // Came and went within the window: likewise left out.
      this.#leaves.set(key, { nickname: event.nickname, reason: event.reason });
    }
  }

  /** Shows what is waiting now, so that the next line (a message) comes after it. */
  flush(): void {
    const text = this.#folded();
    this.#joins.clear();
    this.#leaves.clear();
    if (text !== undefined) this.#show(text);
  }

  /** Shows what is waiting and ends the window (the session is over). */
  stop(): void {
    this.flush();
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #open(): void {
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      if (this.#joins.size === 0 && this.#leaves.size === 0) return; // Quiet again.
      this.flush();
      this.#open(); // The stream goes on: the next window folds its share.
    }, this.#windowMs);
  }

  /** The line for what is waiting, or undefined for nothing. */
  #folded(): string | undefined {
    const parts: string[] = [];
    if (this.#joins.size > 0) parts.push(`${names([...this.#joins.values()])} joined`);
    const byReason = new Map<string | undefined, string[]>();
    for (const { nickname, reason } of this.#leaves.values()) {
      const group = byReason.get(reason);
      if (group) group.push(nickname);
      else byReason.set(reason, [nickname]);
    }
    for (const [reason, who] of byReason) parts.push(`${names(who)} left${reasonText(reason)}`);
    return parts.length === 0 ? undefined : parts.join("; ");
  }
}

/** `alice`, `alice and bob`, `alice, bob and carol`, `alice, bob, carol and 5 others`. */
function names(list: readonly string[]): string {
  const shown = list.slice(0, MAX_FOLD_NAMES).map(shownNick);
  const others = list.length - shown.length;
  if (others > 0) return `${shown.join(", ")} and ${others} ${others === 1 ? "other" : "others"}`;
  if (shown.length === 1) return shown[0];
  return `${shown.slice(0, -1).join(", ")} and ${shown.at(-1)}`;
}

function shownNick(nickname: string): string {
  return truncate(nickname, MAX_SHOWN_NICKNAME);
}

function reasonText(reason: string | undefined): string {
  return reason === undefined ? "" : ` (${truncate(reason, MAX_SHOWN_REASON)})`;
}
