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
//
// Presence (§10) and direct messages (§11) go through the roster of
// presence.ts; with a shared chat the roster is the local mirror of the
// shared one, fed by the shared chat, and a direct message for a member of
// another server goes there through it (direct.ts).

import { checkNickname, nicknameKey } from "../nickname.ts";
import {
  checkMessageText,
  encodeChatMessage,
  encodeFeaturesOk,
  encodeStatus,
  type Feature,
  FEATURES,
  type LeaveReason,
} from "../protocol.ts";
import { formatWireTime } from "../time.ts";
import { deliverDirect, type DirectResult, sendDirect } from "./direct.ts";
import type { Outbox } from "./outbox.ts";
import type { Moderation, ModerationAnswer } from "./moderation.ts";
import type { OpsFrame } from "../ops_frames.ts";
import { Presence } from "./presence.ts";
import { CATCH_UP_MS, type SharedChat } from "./shared_chat.ts";
import { type HistoryStore, STORAGE_UNAVAILABLE } from "./store.ts";

/** A logged-in or logging-in connection, as the hub sees it. */
export interface Member {
  /** Unique per connection for the life of the process; tags its messages. */
  readonly id: number;
  readonly outbox: Outbox;
  /** Set by the hub on a successful login. */
  nickname?: string;
  /**
   * Set by the hub on a successful login that asked for features (§9): those
   * asked for that the server speaks. Undefined for a core login, which then
   * never gets a frame of §10–§11.
   */
  features?: ReadonlySet<Feature>;
  /** Called when the member's outbox failed (a slow reader): cut it off. */
  kick(reason: string): void;
  /**
   * An operator cut it off (§13): `reason` goes to it as an error frame,
   * then a polite close, and the others hear it left for `leaving`.
   */
  cut(reason: string, leaving: LeaveReason): void;
  /** The peer's address, as logged. */
  readonly peer?: string;
  /** Its identity (§12): its certificate's fingerprint; undefined without one. */
  readonly identity?: string;
  /** Its IP address (what a ban is on without an identity). */
  readonly address?: string;
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
  /**
   * The features this server speaks (§9); none makes it a core server that
   * ignores `features` at login.
   * @default {FEATURES}
   */
  features?: readonly Feature[];
  /** Who may log in, registered nicknames, operators (§12–§13); none: no checks, no commands. */
  moderation?: Moderation;
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
  readonly #features: readonly Feature[];
  /** The `ok` to a login that asked for features. */
  readonly #featuresOk: Uint8Array;
  readonly #presence: Presence;
  readonly #moderation: Moderation | undefined;
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
    this.#features = options.features ?? FEATURES;
    this.#featuresOk = encoder.encode(encodeFeaturesOk(this.#features));
    this.#presence = new Presence(() => this.#store.visibleSeq);
    this.#moderation = options.moderation;
    this.#moderation?.attach({
      local: (key) => this.#members.get(key),
      members: () => this.#members.values(),
      presence: this.#presence,
      shared: this.#shared,
    });
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
      joined: (key, present, time) => this.#presence.joined(key, present, time),
      left: (key, place, reason, time) => this.#presence.left(key, place, reason, time),
      direct: (id, line) => {
        const member = this.#byId.get(id);
        if (member?.features?.has("direct")) {
          deliverDirect(member, encoder.encode(line), this.#store);
        }
      },
      ordered: (id, order) => this.#moderation?.ordered(this.#byId.get(id), order),
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

  /** Who is here (with a shared chat: on every server), and who watches. */
  get presence(): Presence {
    return this.#presence;
  }

  /**
   * Logs a member in: reserves the nickname (case ignored), queues
   * `{"status":"ok"}` (listing the server's features when the login asked
   * for `features`) and starts the replay of messages after `since`,
   * followed seamlessly by live messages, with the `who` event between them
   * for a member that asked for presence. Nothing is queued on failure.
   */
  login(member: Member, rawNickname: string, since = 0, features?: readonly string[]): LoginResult {
    if (member.nickname !== undefined) return { ok: false, reason: "already logged in" };
    const checked = checkNickname(rawNickname);
    if (!checked.ok) return checked;
    const key = nicknameKey(checked.nickname);
    const refused = this.#moderation?.admit(member, key);
    if (refused !== undefined) return { ok: false, reason: refused };
    if (this.#members.has(key)) return { ok: false, reason: "nickname already in use" };
    this.#members.set(key, member);
    // A core server ignores `features` (and answers as one).
    const asked = features === undefined || this.#features.length === 0
      ? undefined
      : new Set(this.#features.filter((name) => features.includes(name)));
    const nickname = checked.nickname;
    const shared = this.#shared;
    if (shared === undefined) return this.#loggedIn(member, nickname, key, since, asked);
    // Held here while Redis is asked; leave() meanwhile gives it back.
    this.#claiming.set(member, key);
    const claimant = { nickname, direct: asked?.has("direct") ?? false };
    const done = shared.claim(key, member.id, claimant, this.#now()).then(
      async (claim): Promise<HubResult> => {
        if (this.#members.get(key) !== member) {
          if (claim.ok) shared.release(key, member.id, "lost", this.#now());
          return { ok: false, reason: "disconnected" };
        }
        if (!claim.ok) {
          this.#members.delete(key);
          return claim;
        }
        // Replay starts from the local copy: it must hold every message
        // Redis had when the nickname was claimed, or a `since` from another
        // server could point past it; and the roster must hold the member's
        // own join, so that its `who` lists it and no event tells it of itself.
        try {
          await shared.caughtUp(claim.seq, claim.presence, CATCH_UP_MS);
        } catch {
          this.#members.delete(key);
          shared.release(key, member.id, "lost", this.#now());
          return { ok: false, reason: STORAGE_UNAVAILABLE };
        }
        if (this.#members.get(key) !== member) {
          shared.release(key, member.id, "lost", this.#now());
          return { ok: false, reason: "disconnected" };
        }
        this.#claiming.delete(member);
        this.#byId.set(member.id, member);
        return this.#loggedIn(member, nickname, key, since, asked);
      },
      (): HubResult => {
        if (this.#members.get(key) === member) this.#members.delete(key);
        return { ok: false, reason: STORAGE_UNAVAILABLE };
      },
    ).finally(() => this.#claiming.delete(member));
    return { ok: "pending", done };
  }

  #loggedIn(
    member: Member,
    nickname: string,
    key: string,
    since: number,
    asked: ReadonlySet<Feature> | undefined,
  ): HubResult {
    member.nickname = nickname;
    member.features = asked;
    member.outbox.reply(asked === undefined ? OK_BYTES : this.#featuresOk);
    // A `since` beyond anything this server has sent names a message of an
    // earlier life (a memory-only server that restarted, a log moved aside):
    // its seqs say nothing here, so the whole history is replayed, and the
    // client drops what it has already shown.
    const from = since > this.#store.visibleSeq ? 1 : since + 1;
    member.outbox.startStream(from, this.#store.lastSeq + 1);
    // With a shared chat the roster holds the member already (its claim's join).
    if (this.#shared === undefined) {
      const present = {
        nickname,
        direct: asked?.has("direct") ?? false,
        server: "",
        member: member.id,
      };
      this.#presence.joined(key, present, this.#now());
    }
    // In the same step as the join: the `who` holds the member, and no event can fall between.
    if (asked?.has("presence")) this.#presence.watch(member);
    return { ok: true };
  }

  /**
   * Answers `{"command":"who"}` with a fresh `who` event, for a member that
   * logged in asking for features on a server that speaks presence; for
   * anyone else it is the unknown command it is to a core server.
   */
  who(member: Member): HubResult {
    if (member.nickname === undefined) return { ok: false, reason: "login required" };
    if (member.features === undefined || !this.#features.includes("presence")) {
      return { ok: false, reason: 'unknown command "who"' };
    }
    this.#presence.who(member);
    return { ok: true };
  }

  /** Runs a command of §12–§13 (moderation.ts); without moderation it is an unknown command. */
  moderate(member: Member, frame: OpsFrame): ModerationAnswer {
    if (member.nickname === undefined) return { status: "error", reason: "login required" };
    return this.#moderation?.run(member, frame) ??
      { status: "error", reason: `unknown command "${frame.type}"` };
  }

  /**
   * Sends a direct message (§11) from a logged-in member to the one called
   * `to`; see direct.ts.
   */
  direct(member: Member, to: string, text: string): DirectResult {
    const from = member.nickname;
    if (from === undefined) return { ok: false, reason: "login required" };
    if (!this.#features.includes("direct")) {
      return { ok: false, reason: "direct messages are not supported by this server" };
    }
    const invalid = checkMessageText(text, this.#maxMessageBytes);
    if (invalid !== undefined) return { ok: false, reason: invalid };
    return sendDirect({
      presence: this.#presence,
      store: this.#store,
      shared: this.#shared,
      local: (key, id) => {
        const recipient = this.#shared === undefined ? this.#members.get(key) : this.#byId.get(id);
        return recipient?.id === id && recipient.nickname !== undefined ? recipient : undefined;
      },
    }, { from, to, message: text, time: this.#now() });
  }

  /**
   * Frees a member's nickname at once (a login still waiting for the
   * shared chat included), and tells the others it left for `reason`.
   * Safe to call more than once.
   */
  leave(member: Member, reason: LeaveReason = "lost"): void {
    this.#presence.unwatch(member);
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
    if (this.#shared !== undefined) {
      this.#shared.release(key, member.id, reason, this.#now());
    } else {
      this.#presence.left(key, { server: "", member: member.id }, reason, this.#now());
    }
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
