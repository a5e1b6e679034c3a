// Registered nicknames (PROTOCOL.md §12) and bans (§13): which identity a
// nickname belongs to, and who may not log in at all.
//
// `Registry` is what the server asks. Reads are synchronous, from local
// state, so a login checks them in the same step as it claims its
// nickname; changes are asynchronous and resolve once they are durable (so
// the caller answers `ok` only then), and are then visible to reads. Three
// implementations:
// - LocalRegistry, here: one server. In memory only, or (file_registry.ts,
//   `--data-dir`) with every change appended to registry.log and fsynced
//   before it counts.
// - RedisRegistry (redis/registry.ts, `--redis`): shared by every server,
//   each holding a local copy that follows Redis's.
// All of them keep their local state in a RegistryState, changed only by
// RegistryChange records (registry_record.ts writes them down), so a file's
// lines, Redis's notices and memory replay the same way.
//
// A timed ban ends by itself: reads drop it once its time has passed (the
// clock is injected), with no timer to keep or leak.

import { Unavailable } from "../errors.ts";

/** The reason a registration is refused: the nickname is another identity's. */
export const REGISTERED_ELSEWHERE = "nickname is registered to another identity";
/** The reason an unregistration is refused: there is none for this identity. */
export const NOT_REGISTERED = "nickname is not registered";

/** A nickname bound to an identity (§12). */
export interface Registration {
  /** The nickname's key (lib/nickname.ts nicknameKey): lookalikes share it. */
  nickKey: string;
  /** The nickname as it was registered. */
  nickname: string;
  /** The identity it belongs to: a certificate's SHA-256 fingerprint, `AB:CD:…`. */
  identity: string;
}

/** A ban (§13): an identity or an address that may not log in. */
export interface Ban {
  /** An identity (`AB:CD:…`) or an IP address. */
  target: string;
  /** When it ends; null: when an operator lifts it. */
  until: Date | null;
  reason: string;
  /** Who banned (the operator's nickname). */
  by: string;
}

/** One change of a registry: what its log holds, line by line, and what servers tell each other. */
export type RegistryChange =
  | ({ op: "register" } & Registration)
  | { op: "unregister"; nickKey: string }
  | ({ op: "ban" } & Ban)
  | { op: "unban"; target: string };

/** What a registration or an unregistration came to. */
export type RegistryResult = { ok: true } | { ok: false; reason: string };

/**
 * Registrations and bans, as the server uses them; see the top of this file.
 * Changes reject with Unavailable when they cannot be made durable.
 */
export interface Registry {
  /** The registration of a nickname key, if any. */
  lookup(nickKey: string): Registration | undefined;
  /**
   * Binds a nickname to `identity`; refused ({@linkcode REGISTERED_ELSEWHERE})
   * when it is another identity's. Registering it again is `ok`.
   */
  register(nickKey: string, nickname: string, identity: string): Promise<RegistryResult>;
  /** Frees a nickname registered to `identity`; refused ({@linkcode NOT_REGISTERED}) otherwise. */
  unregister(nickKey: string, identity: string): Promise<RegistryResult>;
  /** The ban on `target` (an identity or an address), unless there is none or it has ended. */
  banned(target: string): Ban | undefined;
  /** Bans `target` until `until` (null: until unbanned), replacing a ban it had. */
  ban(target: string, until: Date | null, reason: string, by: string): Promise<void>;
  /** Lifts the ban on `target`; false when there was none. */
  unban(target: string): Promise<boolean>;
  /** Every ban in force, oldest first. */
  bans(): Ban[];
  /**
   * Calls `listener` after every change that took effect, made here or (with
   * Redis) by another server: a new ban is when its target is cut off.
   */
  listen(listener: (change: RegistryChange) => void): void;
  /** Waits for the changes under way and lets go of the file or connection. */
  close(): Promise<void>;
}

/**
 * The registrations and bans a server holds, changed only through
 * {@linkcode RegistryState.apply}.
 *
 * @example
 * ```ts
 * const state = new RegistryState(() => new Date());
 * state.apply({ op: "ban", target: "10.0.0.7", until: null, reason: "spam", by: "op" });
 * state.banned("10.0.0.7")?.reason; // "spam"
 * ```
 */
export class RegistryState {
  readonly #registrations = new Map<string, Registration>();
  readonly #bans = new Map<string, Ban>();
  readonly #clock: () => Date;

  constructor(clock: () => Date) {
    this.#clock = clock;
  }

  /** How many registrations and bans in force it holds. */
  get size(): number {
    return this.#registrations.size + this.bans().length;
  }

  lookup(nickKey: string): Registration | undefined {
    return this.#registrations.get(nickKey);
  }

  banned(target: string): Ban | undefined {
    const ban = this.#bans.get(target);
    if (ban === undefined || this.#inForce(ban)) return ban;
    this.#bans.delete(target);
    return undefined;
  }

  bans(): Ban[] {
    const now = this.#clock().getTime();
    const bans = [];
    for (const ban of this.#bans.values()) {
      if (this.#inForce(ban, now)) bans.push(ban);
      else this.#bans.delete(ban.target);
    }
    return bans;
  }

  /**
   * The change that registers `nickname` (key `nickKey`) to `identity`;
   * `ok` when there is nothing to change; a refusal when it is another's.
   */
  registerChange(
    nickKey: string,
    nickname: string,
    identity: string,
  ): RegistryChange | RegistryResult {
    const now = this.#registrations.get(nickKey);
    if (now !== undefined && now.identity !== identity) {
      return { ok: false, reason: REGISTERED_ELSEWHERE };
    }
    if (now?.nickname === nickname) return { ok: true };
    return { op: "register", nickKey, nickname, identity };
  }

  /** The change that frees `nickKey`, or a refusal when `identity` does not hold it. */
  unregisterChange(nickKey: string, identity: string): RegistryChange | RegistryResult {
    return this.#registrations.get(nickKey)?.identity === identity
      ? { op: "unregister", nickKey }
      : { ok: false, reason: NOT_REGISTERED };
  }

  /** Makes `change` (a replayed one too: applying a change twice is applying it once). */
  apply(change: RegistryChange): void {
    switch (change.op) {
      case "register": {
        const { nickKey, nickname, identity } = change;
        this.#registrations.set(nickKey, { nickKey, nickname, identity });
        break;
      }
      case "unregister":
        this.#registrations.delete(change.nickKey);
        break;
      case "ban": {
        const { target, until, reason, by } = change;
        // Re-inserted, so the list stays oldest first.
        this.#bans.delete(target);
        this.#bans.set(target, { target, until, reason, by });
        break;
      }
      case "unban":
        this.#bans.delete(change.target);
        break;
    }
  }

  /** Everything it holds, as the changes that would make it from nothing. */
  snapshot(): RegistryChange[] {
    return [
      ...[...this.#registrations.values()].map((r): RegistryChange => ({ op: "register", ...r })),
      ...this.bans().map((ban): RegistryChange => ({ op: "ban", ...ban })),
    ];
  }

  #inForce(ban: Ban, now = this.#clock().getTime()): boolean {
    return ban.until === null || ban.until.getTime() > now;
  }
}

/** Options of {@linkcode LocalRegistry}. */
export interface LocalRegistryOptions {
  /** The wall clock timed bans end by. */
  clock: () => Date;
  /** The state to start from (loaded from a file); empty by default. */
  state?: RegistryState;
  /** Makes a change durable; resolves once it is (rejects when it cannot). None: memory only. */
  persist?: (change: RegistryChange) => Promise<void>;
  /** Lets go of what `persist` writes to. */
  close?: () => Promise<void>;
}

/**
 * The registry of one server: in memory, or made durable by `persist`
 * (file_registry.ts). Changes go one at a time: each is checked against
 * the state left by the one before, made durable, and only then applied.
 *
 * @example
 * ```ts
 * const registry = new LocalRegistry({ clock: () => new Date() });
 * await registry.register("bob", "Bob", "AB:".repeat(31) + "AB"); // { ok: true }
 * registry.lookup("bob")?.nickname; // "Bob"
 * ```
 */
export class LocalRegistry implements Registry {
  readonly #state: RegistryState;
  readonly #persist: (change: RegistryChange) => Promise<void>;
  readonly #closeStore: () => Promise<void>;
  readonly #listeners: ((change: RegistryChange) => void)[] = [];
  /** The changes, one after another. */
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: LocalRegistryOptions) {
    this.#state = options.state ?? new RegistryState(options.clock);
    this.#persist = options.persist ?? (() => Promise.resolve());
    this.#closeStore = options.close ?? (() => Promise.resolve());
  }

  lookup(nickKey: string): Registration | undefined {
    return this.#state.lookup(nickKey);
  }

  register(nickKey: string, nickname: string, identity: string): Promise<RegistryResult> {
    return this.#change(() => this.#state.registerChange(nickKey, nickname, identity));
  }

  unregister(nickKey: string, identity: string): Promise<RegistryResult> {
    return this.#change(() => this.#state.unregisterChange(nickKey, identity));
  }

  banned(target: string): Ban | undefined {
    return this.#state.banned(target);
  }

  async ban(target: string, until: Date | null, reason: string, by: string): Promise<void> {
    await this.#change(() => ({ op: "ban", target, until, reason, by }));
  }

  async unban(target: string): Promise<boolean> {
    let had = false;
    await this.#change(() => {
      had = this.#state.banned(target) !== undefined;
      return had ? { op: "unban", target } : { ok: true };
    });
    return had;
  }

  bans(): Ban[] {
    return this.#state.bans();
  }

  listen(listener: (change: RegistryChange) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    await this.#closeStore();
  }

  /** Runs one change after those before it: decide, make durable, apply, tell. */
  #change(decide: () => RegistryChange | RegistryResult): Promise<RegistryResult> {
    if (this.#closed) return Promise.reject(new Unavailable("the registry is closed"));
    const done = this.#tail.then(async (): Promise<RegistryResult> => {
      const change = decide();
      if (!("op" in change)) return change;
      await this.#persist(change);
      this.#state.apply(change);
      for (const listener of this.#listeners) listener(change);
      return { ok: true };
    });
    this.#tail = done.catch(() => {});
    return done;
  }
}
