// The shared state of one chat: who is logged in, and the history.
//
// The hub is a small synchronous object. Nothing in it awaits, so a login
// (reserve the nickname, note the newest seq, start the replay) and a post
// (store, then wake every receiver) each happen in one step of the event
// loop: no message can fall between a client's replay and its live traffic,
// and none can reach it twice. Connections hold the I/O; the hub holds only
// their outboxes.
//
// With a shared chat (several servers through Redis: shared_chat.ts) a
// nickname and a seq come from Redis, so a login and the storing of a post
// finish later; the hub still decides everything it can at once (a bad
// nickname, a nickname in use here, a message too long). Messages then enter
// the store only through the shared chat's follower, in the global order,
// and members are woken from there.

import { checkNickname, nicknameKey } from "../nickname.ts";
import { checkMessageText, encodeChatMessage, encodeStatus } from "../protocol.ts";
import { formatWireTime } from "../time.ts";
import type { Outbox } from "./outbox.ts";
import { CATCH_UP_MS, type SharedChat } from "./shared_chat.ts";
import type { HistoryStore } from "./store.ts";

/** A logged-in or logging-in connection, as the hub sees it. */
export interface Member {
  /** Unique per connection for the life of the process; tags its messages. */
  readonly id: number;
  readonly outbox: Outbox;
  /** Set by the hub on a successful login. */
  nickname?: string;
  /** Called when the member's outbox failed (a slow reader): cut it off. */
  kick(reason: string): void;
}

/** What the hub needs from its surroundings. */
export interface HubOptions {
  store: HistoryStore;
  /** Cap on a message's text in UTF-8 bytes. */
  maxMessageBytes: number;
  /** The server's clock; messages are stamped with it. */
  clock: () => Date;
  /** Shares nicknames and history with other servers; the store is then its local copy. */
  shared?: SharedChat;
}

/** The result of a login: ok, or the reason that goes on the wire. */
export type HubResult = { ok: true } | { ok: false; reason: string };

/**
 * The result of a post: refused at once with the reason that goes on the
 * wire, or accepted. An accepted message is relayed; `stored` resolves to
 * its seq once it is as durable as the store (or the shared history) makes
 * anything, or rejects with Unavailable when it cannot be stored.
 * The same shape with or without a shared chat, so a connection answers
 * every post one way.
 */
export type PostResult = { ok: true; stored: Promise<number> } | { ok: false; reason: string };

/** A login's result, or (with a shared chat) the promise of it. */
export type LoginResult = HubResult | { ok: "pending"; done: Promise<HubResult> };

/**
 * The one reason given when a message or a login cannot be stored (a disk
 * that fails, Redis out of reach): our client resends after a pause.
 */
export const STORAGE_UNAVAILABLE = "storage unavailable";

const encoder = new TextEncoder();
const OK_BYTES = encoder.encode(encodeStatus({ status: "ok" }));

/**
 * Holds the logged-in members and the history, and moves messages between
 * them.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "./store.ts";
 *
 * declare const alice: Member; // a logged-in connection
 * const hub = new Hub({ store: new MemoryStore(), maxMessageBytes: 16384, clock: () => new Date() });
 * hub.login(alice, "alice");
 * hub.post(alice, "hello"); // stored, and every other member is woken
 * hub.leave(alice);
 * ```
 */
export class Hub {
  readonly #store: HistoryStore;
  readonly #maxMessageBytes: number;
  readonly #clock: () => Date;
  readonly #members = new Map<string, Member>();
  readonly #shared: SharedChat | undefined;
  /** Members by id, with a shared chat: the follower names local authors by id. */
  readonly #byId = new Map<number, Member>();
  /** Logins waiting for the shared chat: member → nickname key held for it here. */
  readonly #claiming = new Map<Member, string>();
  /** Inside batch(): posts are stored at once, but members are woken once at the end. */
  #batchDepth = 0;
  /** The member whose posts await the wake-up; null when posts of several members wait. */
  #pendingAuthor: Member | null | undefined;
  /** The wire time of the current second, formatted once per second rather than per message. */
  #timeSecond = NaN;
  #timeText = "";

  constructor(options: HubOptions) {
    this.#store = options.store;
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#clock = options.clock;
    this.#shared = options.shared;
    // A durable store makes messages visible after its fsync: relay them then.
    this.#store.onVisible?.(() => this.#wake(null));
    this.#shared?.listen({
      arrived: (authored) => {
        for (const [id, seq] of authored) this.#byId.get(id)?.outbox.authored(seq);
        this.#wake(null);
      },
      lost: (key, owner) => {
        const member = this.#members.get(key);
        if (member?.id === owner) member.kick("nickname taken on another server");
      },
    });
  }

  /** How many members are logged in. */
  get size(): number {
    return this.#members.size;
  }

  /** The history this hub stores into. */
  get store(): HistoryStore {
    return this.#store;
  }

  /**
   * Logs a member in: reserves the nickname (case ignored), queues
   * `{"status":"ok"}` and starts the replay of messages after `since`,
   * followed seamlessly by live messages. Nothing is queued on failure.
   */
  login(member: Member, rawNickname: string, since = 0): LoginResult {
    if (member.nickname !== undefined) return { ok: false, reason: "already logged in" };
    const checked = checkNickname(rawNickname);
    if (!checked.ok) return checked;
    const key = nicknameKey(checked.nickname);
    if (this.#members.has(key)) return { ok: false, reason: "nickname already in use" };
    this.#members.set(key, member);
    const shared = this.#shared;
    if (shared === undefined) return this.#loggedIn(member, checked.nickname, since);
    // Held here while Redis is asked; leave() meanwhile gives it back.
    this.#claiming.set(member, key);
    const done = shared.claim(key, member.id).then(
      async (claim): Promise<HubResult> => {
        if (this.#members.get(key) !== member) {
          if (claim.ok) shared.release(key, member.id);
          return { ok: false, reason: "disconnected" };
        }
        if (!claim.ok) {
          this.#members.delete(key);
          return claim;
        }
        // Replay starts from the local copy: it must hold every message
        // Redis had when the nickname was claimed, or a `since` from another
        // server could point past it.
        try {
          await shared.caughtUp(claim.seq, CATCH_UP_MS);
        } catch {
          this.#members.delete(key);
          shared.release(key, member.id);
          return { ok: false, reason: STORAGE_UNAVAILABLE };
        }
        if (this.#members.get(key) !== member) {
          shared.release(key, member.id);
          return { ok: false, reason: "disconnected" };
        }
        this.#claiming.delete(member);
        this.#byId.set(member.id, member);
        return this.#loggedIn(member, checked.nickname, since);
      },
      (): HubResult => {
        if (this.#members.get(key) === member) this.#members.delete(key);
        return { ok: false, reason: STORAGE_UNAVAILABLE };
      },
    ).finally(() => this.#claiming.delete(member));
    return { ok: "pending", done };
  }

  #loggedIn(member: Member, nickname: string, since: number): HubResult {
    member.nickname = nickname;
    member.outbox.reply(OK_BYTES);
    // A `since` beyond anything this server has sent names a message of an
    // earlier life (a memory-only server that restarted, a log moved aside):
    // its seqs say nothing here, so the whole history is replayed, and the
    // client drops what it has already shown.
    const from = since > this.#store.visibleSeq ? 1 : since + 1;
    member.outbox.startStream(from, this.#store.lastSeq + 1);
    return { ok: true };
  }

  /**
   * Frees a member's nickname at once (a login still waiting for the
   * shared chat included). Safe to call more than once.
   */
  leave(member: Member): void {
    if (this.#shared !== undefined) {
      this.#byId.delete(member.id);
      const claiming = this.#claiming.get(member);
      if (claiming !== undefined && member.nickname === undefined) {
        // A login in flight: its claim gives the nickname back to Redis.
        this.#claiming.delete(member);
        if (this.#members.get(claiming) === member) this.#members.delete(claiming);
        return;
      }
    }
    if (member.nickname === undefined) return;
    const key = nicknameKey(member.nickname);
    if (this.#members.get(key) !== member) return;
    this.#members.delete(key);
    this.#shared?.release(key, member.id);
  }

  /**
   * Stores a message from a logged-in member, stamped with its nickname and
   * the server's time, and wakes every other member (with a shared chat, the
   * storing and the waking happen once the shared history holds it).
   */
  post(member: Member, text: string): PostResult {
    const from = member.nickname;
    if (from === undefined) return { ok: false, reason: "login required" };
    const invalid = checkMessageText(text, this.#maxMessageBytes);
    if (invalid !== undefined) return { ok: false, reason: invalid };
    const time = this.#now();
    if (this.#shared !== undefined) {
      // Stored, relayed and woken by the shared chat's follower, in the global order.
      return { ok: true, stored: this.#shared.append({ from, message: text, time }, member.id) };
    }
    let seq: number;
    try {
      seq = this.#store.append(
        (seq) => encoder.encode(encodeChatMessage({ from, message: text, time, seq })),
        member.id,
      );
    } catch {
      // The store refuses while its disk fails: nothing is stored, nothing relayed.
      return { ok: false, reason: STORAGE_UNAVAILABLE };
    }
    // The sender's outbox steps over its own message at once, so its own
    // words never count as traffic it is behind on; only the others wake.
    member.outbox.authored(seq);
    // Not visible yet (a durable store's fsync is pending): its onVisible wakes them.
    if (this.#store.visibleSeq < seq) return { ok: true, stored: this.#store.whenDurable(seq) };
    if (this.#batchDepth === 0) {
      this.#wake(member);
    } else {
      this.#pendingAuthor = this.#pendingAuthor === undefined || this.#pendingAuthor === member
        ? member
        : null;
    }
    return { ok: true, stored: this.#store.whenDurable(seq) };
  }

  /**
   * Runs `work` (typically: every frame of one read) and wakes the other
   * members once at its end instead of once per message. Order and content
   * are unchanged: each outbox reads the store from its own cursor.
   */
  batch(work: () => void): void {
    this.#batchDepth++;
    try {
      work();
    } finally {
      this.#batchDepth--;
      if (this.#batchDepth === 0 && this.#pendingAuthor !== undefined) {
        const author = this.#pendingAuthor;
        this.#pendingAuthor = undefined;
        this.#wake(author);
      }
    }
  }

  /** Wakes every member but `author` (all of them when null); cuts off those over their limit. */
  #wake(author: Member | null): void {
    for (const other of this.#members.values()) {
      if (other !== author && !other.outbox.notify()) {
        other.kick(other.outbox.failure ?? "send queue full");
      }
    }
  }

  #now(): string {
    const now = this.#clock();
    const second = Math.floor(now.getTime() / 1000);
    if (second !== this.#timeSecond) {
      this.#timeSecond = second;
      this.#timeText = formatWireTime(now);
    }
    return this.#timeText;
  }
}
