// Who is here, and who watches (PROTOCOL.md §10): the roster of everyone
// logged in (on this server; with --redis, on every server of the chat, as
// a local mirror), and the members that asked for presence.
//
// The roster is the one source of truth for presence: the `who` a member
// gets at login is the roster at that moment, and the join and leave events
// after it are the roster's changes, in the order made. Watching starts in
// the same synchronous step as the snapshot, so no change can fall between
// them, and each event goes to the watchers of that moment. Events reach a
// watcher as extra frames of its outbox (outbox.ts), each positioned after
// the stored messages that could be sent when it happened.
//
// Presence stays cheap: an event is encoded once, and only when somebody
// watches; it costs each watcher one enqueue of the same bytes, and members
// that did not ask for presence nothing at all. Events are not written the
// moment they happen: a watcher's are gathered for up to FLUSH_MS and
// written together (or with the next chat message it gets). Under churn,
// when every client watches (ours do), each event would otherwise be one
// write to every watcher: 200 logins and 200 logouts a second among 200
// clients would be 80,000 writes a second; gathered, it is 20 per watcher.
// The roster also tells who accepts direct messages, and where (direct.ts).

import { encodeJoin, encodeLeave, type LeaveReason } from "../protocol.ts";
import type { Member } from "./hub.ts";
import { WhoList } from "./who_list.ts";

/** Someone logged in, as the roster holds them. */
export interface Present {
  /** The nickname as they logged in with it. */
  nickname: string;
  /** They asked for direct messages (§11). */
  direct: boolean;
  /** Their server's id in a shared chat; "" for this server when it is alone. */
  server: string;
  /** Their connection's member id on that server. */
  member: number;
}

/** Where someone is logged in: a server and a member id there. */
export type Place = Pick<Present, "server" | "member">;

/** The longest a presence event waits to be written with others. */
export const FLUSH_MS = 50;

const encoder = new TextEncoder();

/**
 * The roster and the watchers; see the top of this file.
 *
 * @example
 * ```ts
 * declare const alice: import("./hub.ts").Member; // a logged-in connection
 * const presence = new Presence(() => 0);
 * presence.joined("alice", { nickname: "alice", direct: true, server: "", member: alice.id }, "t");
 * presence.watch(alice); // queues {"event":"who","nicknames":["alice"]}
 * presence.unwatch(alice);
 * presence.left("alice", { server: "", member: alice.id }, "quit", "t");
 * ```
 */
export class Presence {
  readonly #roster = new Map<string, Present>();
  /** The roster's nicknames, kept encoded for `who`. */
  readonly #names = new WhoList();
  readonly #watchers = new Set<Member>();
  /** Watchers with events queued but not yet woken for, and the timer that wakes them. */
  readonly #unflushed = new Set<Member>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #position: () => number;

  /** @param position The seq an event comes after: the store's visibleSeq. */
  constructor(position: () => number) {
    this.#position = position;
  }

  /** How many people are in the roster. */
  get size(): number {
    return this.#roster.size;
  }

  /** How many members watch. */
  get watching(): number {
    return this.#watchers.size;
  }

  /** The person logged in under nickname key `key`, if any. */
  get(key: string): Present | undefined {
    return this.#roster.get(key);
  }

  /**
   * `present` logged in under nickname key `key`: the roster holds them and
   * every watcher hears it. Someone else held by the roster under the same
   * key (a server that lost them without a word) leaves first, `lost`.
   */
  joined(key: string, present: Present, time: string): void {
    const before = this.#roster.get(key);
    if (before !== undefined) {
      if (samePlace(before, present) && before.nickname === present.nickname) {
        before.direct = present.direct;
        return;
      }
      this.left(key, before, "lost", time);
    }
    this.#roster.set(key, present);
    this.#names.add(key, present.nickname);
    this.#tell(() => encodeJoin(present.nickname, time));
  }

  /**
   * The person at `place` under key `key` left for `reason`; nothing
   * happens when the roster holds someone else under that key (or nobody).
   */
  left(key: string, place: Place, reason: LeaveReason, time: string): void {
    const present = this.#roster.get(key);
    if (present === undefined || !samePlace(present, place)) return;
    this.#roster.delete(key);
    this.#names.delete(key);
    this.#tell(() => encodeLeave(present.nickname, time, reason));
  }

  /**
   * `member` watches from now on: it gets the `who` of this moment, then
   * every change. Call it right after the member's own join, so that the
   * `who` holds it and no event tells it of itself.
   */
  watch(member: Member): void {
    this.#watchers.add(member);
    this.who(member);
  }

  /** `member` stops watching (it is leaving). */
  unwatch(member: Member): void {
    this.#watchers.delete(member);
    this.#unflushed.delete(member);
    if (this.#unflushed.size === 0) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
  }

  /** Queues a fresh `who` for `member`, in order with the events it watches. */
  who(member: Member): void {
    const bytes = this.#names.encode();
    const failure = member.outbox.extra(bytes, this.#position())
      ? undefined
      : member.outbox.failure;
    if (failure !== undefined) member.kick(failure);
  }

  /**
   * Queues an event for every watcher: encoded once, and only if somebody
   * watches; written within FLUSH_MS. Members over their limit are cut
   * after the loop, so their own leave events follow this one everywhere.
   */
  #tell(encode: () => string): void {
    if (this.#watchers.size === 0) return;
    const bytes = encoder.encode(encode());
    const after = this.#position();
    let failed: Member[] | undefined;
    for (const watcher of this.#watchers) {
      if (watcher.outbox.extra(bytes, after, false)) this.#unflushed.add(watcher);
      else (failed ??= []).push(watcher);
    }
    this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_MS);
    kickFailed(failed);
  }

  /** Wakes the outboxes of the watchers with events queued. */
  #flush(): void {
    this.#flushTimer = undefined;
    let failed: Member[] | undefined;
    for (const watcher of this.#unflushed) {
      if (!watcher.outbox.notify()) (failed ??= []).push(watcher);
    }
    this.#unflushed.clear();
    kickFailed(failed);
  }
}

/** Cuts off the members whose outbox failed (and no others: one that is closing is leaving). */
function kickFailed(members: Member[] | undefined): void {
  for (const member of members ?? []) {
    if (member.outbox.failure !== undefined) member.kick(member.outbox.failure);
  }
}

function samePlace(a: Place, b: Place): boolean {
  return a.server === b.server && a.member === b.member;
}
