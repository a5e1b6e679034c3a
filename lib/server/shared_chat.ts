// One chat shared by several servers, as the hub sees it: nicknames and seq
// are decided for all of them at once, and messages (everyone's, its own
// members' included) reach the local store in the one global order. The
// Redis link (redis/link.ts) is the one implementation; the hub knows only
// this interface. Nothing here needs Redis Cluster: one plain Redis serves
// every server.

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

/** The outcome of a nickname claim. */
export type Claim = { ok: true; seq: number } | { ok: false; reason: string };

/** What the hub hears from the shared chat. */
export interface SharedChatEvents {
  /**
   * Messages were added to the local store; `authored` lists those posted
   * by local members, as [member id, seq] in seq order.
   */
  arrived(authored: [number, number][]): void;
  /** Another server holds the nickname `key` that `owner` had: cut `owner` off. */
  lost(key: string, owner: number): void;
}

/**
 * What the hub needs from a chat shared with other servers: nicknames and
 * seq are the same on every server, and messages arrive through the local
 * store.
 */
export interface SharedChat {
  /** Called with the hub's handlers once, before any traffic. */
  listen(events: SharedChatEvents): void;
  /** Claims nickname `key` for local member `owner`. Rejects when the others are unreachable. */
  claim(key: string, owner: number): Promise<Claim>;
  /** Gives up nickname `key` if `owner` holds it. Never rejects. */
  release(key: string, owner: number): void;
  /**
   * Appends a message from local member `author`. Resolves to its seq once
   * the shared history holds it; rejects with Unavailable when it does not.
   */
  append(message: Posted, author: number): Promise<number>;
  /** Resolves once the local store holds `seq`; rejects after `timeoutMs`. */
  caughtUp(seq: number, timeoutMs: number): Promise<void>;
}
