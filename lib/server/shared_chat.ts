// One chat shared by several servers, as the hub sees it: nicknames and seq
// are decided for all of them at once, and messages (everyone's, its own
// members' included) reach the local store in the one global order.
// Presence is shared the same way: every join and leave (its own members'
// included) reaches the local roster (presence.ts) in one order, and a
// direct message goes to the server its recipient is on. The
// Redis link (redis/link.ts) is the one implementation; the hub knows only
// this interface. Nothing here needs Redis Cluster: one plain Redis serves
// every server.

import type { LeaveReason } from "../protocol.ts";
import type { Place, Present } from "./presence.ts";
/**
 * How long a dead server's nicknames stay taken, by default (`--nick-lease`):
 * here rather than in redis/leases.ts so that the flag's default does not
 * load the Redis client library.
 */
export const DEFAULT_LEASE_MS = 10_000;

/** How long a login waits for the local copy to catch up before it is refused. */
export const CATCH_UP_MS = 5_000;

/** A message as posted, before it has a seq. */
export interface Posted {
  from: string;
  message: string;
  time: string;
}

/**
 * The outcome of a nickname claim: the newest seq and the newest presence
 * event of the moment (the claim's own join), which the local copies must
 * hold before the login is answered.
 */
export type Claim = { ok: true; seq: number; presence: number } | { ok: false; reason: string };

/** Who is claiming a nickname, for the shared roster. */
export interface Claimant {
  /** The nickname as logged in with. */
  nickname: string;
  /** Asked for direct messages. */
  direct: boolean;
}

/** What the hub hears from the shared chat. */
export interface SharedChatEvents {
  /**
   * Messages were added to the local store; `authored` lists those posted
   * by local members, as [member id, seq] in seq order.
   */
  arrived(authored: [number, number][]): void;
  /** Another server holds the nickname `key` that `owner` had: cut `owner` off. */
  lost(key: string, owner: number): void;
  /** Someone logged in, here or elsewhere: the local roster follows. */
  joined(key: string, present: Present, time: string): void;
  /** Someone left, here or elsewhere. */
  left(key: string, place: Place, reason: LeaveReason, time: string): void;
  /** A direct message from another server for local member `member`: its wire line. */
  direct(member: number, line: string): void;
  /** An operator's order from another server for local member `member` (cut_order.ts). */
  ordered(member: number, order: string): void;
}

/**
 * What the hub needs from a chat shared with other servers: nicknames and
 * seq are the same on every server, and messages arrive through the local
 * store.
 */
export interface SharedChat {
  /** This server's id among the others (the roster's `server`). */
  readonly serverId: string;
  /**
   * Called with the hub's handlers once, before any traffic; the roster of
   * the moment arrives at once as joins.
   */
  listen(events: SharedChatEvents): void;
  /**
   * Claims nickname `key` for local member `owner`, and adds them to the
   * roster (a join at `time`). Rejects when the others are unreachable.
   */
  claim(key: string, owner: number, claimant: Claimant, time: string): Promise<Claim>;
  /**
   * Gives up nickname `key` if `owner` holds it, and takes them off the
   * roster (a leave for `reason` at `time`). Never rejects.
   */
  release(key: string, owner: number, reason: LeaveReason, time: string): void;
  /**
   * Appends a message from local member `author`. Resolves to its seq once
   * the shared history holds it; rejects with Unavailable when it does not.
   */
  append(message: Posted, author: number): Promise<number>;
  /**
   * Resolves once the local store holds `seq` and the local roster presence
   * event `presence`; rejects after `timeoutMs`.
   */
  caughtUp(seq: number, presence: number, timeoutMs: number): Promise<void>;
  /**
   * Sends a direct message (its wire line) to member `member` of server
   * `server`. Resolves true once it is on its way, false when that server
   * is not listening; rejects with Unavailable when Redis is unreachable.
   */
  direct(server: string, member: number, line: string): Promise<boolean>;
  /**
   * Sends an operator's order (cut_order.ts) for member `member` of server
   * `server`; true once on its way, false when that server is not
   * listening; rejects with Unavailable when Redis is unreachable.
   */
  order(server: string, member: number, order: string): Promise<boolean>;
}
