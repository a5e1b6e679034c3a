// The room as the server of the current connection shows it: the features
// it speaks (PROTOCOL.md §9, listed in the login's `ok`) and who is here
// (§10: the `who` event after the replay, then `join` and `leave`).
//
// The client asks for every feature it knows at each login, and uses one
// only once the server has listed it: a field or command of §10–§13 sent
// to a server that did not list it would be an unknown command at best,
// and at worst (a core server relaying `{"message":…,"to":…}`) a private
// word said to everybody. A server that lists nothing is a core server.
//
// Who is here is only known while logged in to a server that speaks
// presence; it feeds Tab completion and the parsing of /msg. /who asks the
// server (`{"command":"who"}`); typed before the login it goes out right
// after it, once the server has said that it speaks presence, and end of
// input waits for its answer (`awaitingAnswer`). The session owns the
// connection and tells the room what happened.

import { nicknameKey } from "../nickname.ts";
import { encodeCommand, type PresenceEvent } from "../protocol.ts";

/** The features of §9 the client speaks, asked for at every login. */
export const CLIENT_FEATURES = ["presence", "direct", "heartbeat", "identity", "ops"] as const;

/** A feature the client may use once the server lists it. */
export type Feature = (typeof CLIENT_FEATURES)[number];

/**
 * The most nicknames remembered as present; a hostile server's endless
 * joins stop being remembered beyond it (they are still shown).
 */
export const MAX_PRESENT = 100_000;

/** Why /who sends nothing: the server did not list `presence` (§9). */
export const NO_PRESENCE_REASON = "this server does not support presence (/who)";

/** The answer to {@linkcode Room.who}. */
export type WhoResult =
  | { ok: true; /** True when it waits for the login. */ queued: boolean }
  | { ok: false; reason: string };

const COLLATOR = new Intl.Collator("en", { sensitivity: "base", numeric: true });

/** Nicknames sorted as people read a list: case and accents aside, numbers by value. */
export function sortNames(names: readonly string[]): string[] {
  return [...names].sort(COLLATOR.compare);
}

/**
 * The features and the people of the room, for one session.
 *
 * @example
 * ```ts
 * const room = new Room((frame) => console.log(frame));
 * room.loggedIn(["presence", "direct", "identity"]);
 * room.supports("direct"); // true
 * room.apply({ type: "who", nicknames: ["bob", "alice"] }); // true: the snapshot after the replay
 * room.apply({ type: "join", nickname: "carol", time: "2017-01-12T20:00:00Z" });
 * room.names; // ["alice", "bob", "carol"]
 * ```
 */
export class Room {
  /** The features the server listed at the last login; undefined before the first answer. */
  #features: ReadonlySet<string> | undefined;
  /** Nickname key → the nickname as the server spells it. */
  #present = new Map<string, string>();
  /** The next `who` is the snapshot after the login's replay, not an answer to /who. */
  #loginWho = false;
  #online = false;
  /** /who was typed before the login: ask once logged in. */
  #whoWanted = false;
  /** `who` commands sent whose answers have not come yet. */
  #whoDue = 0;
  readonly #write: (frame: string) => void;

  /** `write` sends a frame on the current connection. */
  constructor(write: (frame: string) => void) {
    this.#write = write;
  }

  /** True once a login was answered, so the features of the server are known. */
  get known(): boolean {
    return this.#features !== undefined;
  }

  /** Whether the server (of the last login) listed `feature`. */
  supports(feature: Feature): boolean {
    return this.#features?.has(feature) ?? false;
  }

  /** The features the server listed, as it listed them (empty for a core server). */
  get features(): string[] {
    return [...(this.#features ?? [])];
  }

  /** Who is here, sorted as people read a list (case and accents aside); empty while offline. */
  get names(): string[] {
    return sortNames([...this.#present.values()]);
  }

  /** True while a /who waits for the login or for its answer (end of input waits too). */
  get awaitingAnswer(): boolean {
    return this.#whoWanted || this.#whoDue > 0;
  }

  /**
   * A login was accepted; `features` is the `ok`'s list (absent from a core
   * server). Returns a sentence for the user when a /who typed before it
   * cannot be asked after all.
   */
  loggedIn(features: readonly string[] | undefined): string | undefined {
    this.#features = new Set(features ?? []);
    this.#present.clear();
    this.#online = true;
    this.#loginWho = this.supports("presence");
    if (!this.#whoWanted) return undefined;
    this.#whoWanted = false;
    return this.#askWho() ? undefined : NO_PRESENCE_REASON;
  }

  /** The connection is gone: nobody is known to be here until the next login's `who`. */
  offline(): void {
    this.#online = false;
    this.#loginWho = false;
    this.#whoDue = 0;
    this.#present.clear();
  }

  /**
   * /who: asks the server who is here (§10); the answer comes as a `who`
   * event. Refused, with nothing sent, when the server did not list
   * `presence`; before the first login it waits for it.
   */
  who(): WhoResult {
    if (this.known && !this.supports("presence")) return { ok: false, reason: NO_PRESENCE_REASON };
    if (!this.#online) {
      this.#whoWanted = true;
      return { ok: true, queued: true };
    }
    this.#askWho();
    return { ok: true, queued: false };
  }

  /**
   * A presence event: `who` (everybody here now), `join` or `leave`.
   * Returns true for the `who` after the login's replay (the snapshot that
   * also marks the replay's end), false for any other event, such as a
   * `who` answering the command.
   */
  apply(event: PresenceEvent): boolean {
    if (event.type === "join") {
      if (this.#online) this.#add(event.nickname);
      return false;
    }
    if (event.type === "leave") {
      this.#present.delete(nicknameKey(event.nickname));
      return false;
    }
    const atLogin = this.#loginWho;
    this.#loginWho = false;
    if (!atLogin && this.#whoDue > 0) this.#whoDue--;
    if (this.#online) {
      this.#present.clear();
      for (const nickname of event.nicknames) this.#add(nickname);
    }
    return atLogin;
  }

  /** Sends the `who` command if the server speaks presence; false when it does not. */
  #askWho(): boolean {
    if (!this.supports("presence")) return false;
    this.#write(encodeCommand("who"));
    this.#whoDue++;
    return true;
  }

  #add(nickname: string): void {
    const key = nicknameKey(nickname);
    if (this.#present.size >= MAX_PRESENT && !this.#present.has(key)) return;
    this.#present.set(key, nickname);
  }
}
