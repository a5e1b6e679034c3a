// Nicknames across servers: one lease key per logged-in nickname in Redis
// (scripts.ts), held by the server whose member uses it, and its entry in
// the shared roster (presence), which the same scripts change with it.
//
// A claim sets the key with NX and a lease; the server renews every lease
// it holds every third of the lease, so a nickname stays taken for as long
// as its connection lives, and comes free by itself when its server dies.
// A renewal that finds the key held by another server (Redis was out of
// reach for longer than the lease, and someone else took the name) reports
// the nickname lost, and the hub cuts its member off. A claim whose answer
// was lost with the connection may have been set all the same: it is given
// back once Redis answers again, so a refused login never leaves its
// nickname taken. A release that could not reach Redis is sent again once
// it answers: a lease ends by itself, but a roster entry does not.

import { withDeadline } from "../../deadline.ts";
import { Unavailable } from "../../errors.ts";
import type { LeaveReason } from "../../protocol.ts";
import type { Claim, Claimant } from "../shared_chat.ts";
import { integerReply, mayHaveReachedRedis, type RedisClient } from "./client.ts";
import {
  CLAIM_SCRIPT,
  NICK_PREFIX,
  RELEASE_SCRIPT,
  RENEW_SCRIPT,
  rosterValue,
  runScript,
  SEQ_KEY,
} from "./scripts.ts";

/** Nickname leases renewed per script call. */
const RENEW_BATCH = 500;
/** The shortest pause between renewals, whatever the lease. */
const MIN_RENEW_MS = 50;

/** Options of {@linkcode NicknameLeases}. */
export interface LeaseOptions {
  /** The connection commands go over now. */
  client: () => RedisClient;
  /** Tags this process's leases: a key's value is `<serverId>/<member id>`. */
  serverId: string;
  leaseMs: number;
  /** False while Redis is known to be down, or the link is closed. */
  usable: () => boolean;
  /** Another server holds nickname `key` now, which local member `owner` had. */
  lost: (key: string, owner: number) => void;
  /** The wall clock as a wire time, for the roster's events. */
  time: () => string;
}

/** A nickname held here: its owner (member id) and its roster entry. */
interface Held {
  owner: number;
  value: string;
}

/** A release to send again: the owner, and why it left. */
interface Unreleased {
  owner: number;
  reason: LeaveReason;
  time: string;
}

/** The nickname leases of one Redis link; see the top of this file. */
export class NicknameLeases {
  readonly #options: LeaseOptions;
  /** Nicknames held by local members. */
  readonly #held = new Map<string, Held>();
  /** Claims whose answer was lost with the connection: released once Redis is back. */
  readonly #orphans = new Map<string, number>();
  /** Releases that did not reach Redis: sent again once it answers. */
  readonly #unreleased = new Map<string, Unreleased>();
  readonly #releases = new Set<Promise<unknown>>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: LeaseOptions) {
    this.#options = options;
  }

  /** Starts renewing every third of the lease. */
  start(): void {
    const every = Math.max(this.#options.leaseMs / 3, MIN_RENEW_MS);
    this.#timer = setInterval(() => this.#renew(), every);
  }

  /**
   * Claims nickname `key` for local member `owner`, joining the roster at
   * `time`; rejects when Redis cannot be asked.
   */
  async claim(key: string, owner: number, claimant: Claimant, time: string): Promise<Claim> {
    if (!this.#options.usable()) throw new Unavailable("Redis is unreachable");
    const value = rosterValue(this.#owner(owner), claimant.direct, claimant.nickname);
    let reply: unknown;
    try {
      reply = await runScript(
        this.#options.client(),
        CLAIM_SCRIPT,
        [NICK_PREFIX + key, SEQ_KEY],
        [this.#owner(owner), String(this.#options.leaseMs), key, value, time],
      );
    } catch (error) {
      // The key may be set all the same: give it back once Redis answers again.
      if (mayHaveReachedRedis(error)) this.#orphans.set(key, owner);
      throw error;
    }
    // [counter, presence event], or -1 when taken; counters that are no number count as 0.
    if (!Array.isArray(reply)) return { ok: false, reason: "nickname already in use" };
    this.#held.set(key, { owner, value });
    return { ok: true, seq: integerReply(reply[0]) ?? 0, presence: integerReply(reply[1]) ?? 0 };
  }

  /**
   * Gives up nickname `key` if `owner` holds it, leaving the roster for
   * `reason` at `time`. Never rejects: sent again once Redis answers.
   */
  release(key: string, owner: number, reason: LeaveReason = "lost", time?: string): void {
    if (this.#held.get(key)?.owner === owner) this.#held.delete(key);
    const at = time ?? this.#options.time();
    const done = runScript(this.#options.client(), RELEASE_SCRIPT, [NICK_PREFIX + key], [
      this.#owner(owner),
      key,
      reason,
      at,
    ])
      .catch(() => {
        // Unreachable: the lease ends by itself, the roster entry does not.
        if (!this.#held.has(key)) this.#unreleased.set(key, { owner, reason, time: at });
      })
      .finally(() => this.#releases.delete(done));
    this.#releases.add(done);
  }

  /**
   * Redis answers again: gives back the claims whose answer was lost and
   * sends the releases that did not arrive, and renews every lease at once
   * (some may have ended meanwhile).
   */
  recover(): void {
    for (const [key, owner] of this.#orphans) {
      if (this.#held.get(key)?.owner !== owner) this.release(key, owner);
    }
    this.#orphans.clear();
    const unreleased = [...this.#unreleased];
    this.#unreleased.clear();
    for (const [key, { owner, reason, time }] of unreleased) {
      if (!this.#held.has(key)) this.release(key, owner, reason, time);
    }
    void this.#renew();
  }

  /** Stops renewing, and waits up to `ms` for the releases already sent. */
  async close(ms: number): Promise<void> {
    clearInterval(this.#timer);
    await withDeadline(Promise.all(this.#releases), ms);
  }

  #owner(member: number): string {
    return `${this.#options.serverId}/${member}`;
  }

  /**
   * Renews this server's nickname leases; reports those that went
   * elsewhere. Every batch is sent at once, so a release issued meanwhile
   * reaches Redis after all of them and is never undone.
   */
  async #renew(): Promise<void> {
    if (this.#held.size === 0 || !this.#options.usable()) return;
    const held = [...this.#held];
    const batches: [string, Held][][] = [];
    for (let start = 0; start < held.length; start += RENEW_BATCH) {
      batches.push(held.slice(start, start + RENEW_BATCH));
    }
    const client = this.#options.client();
    await Promise.all(batches.map(async (batch) => {
      let lost: unknown;
      try {
        lost = await runScript(
          client,
          RENEW_SCRIPT,
          batch.map(([key]) => NICK_PREFIX + key),
          [
            String(this.#options.leaseMs),
            this.#options.time(),
            ...batch.flatMap(([key, { owner, value }]) => [this.#owner(owner), key, value]),
          ],
        );
      } catch {
        return; // Unreachable: tried again at the next tick.
      }
      for (const position of Array.isArray(lost) ? lost : []) {
        const entry = batch[(integerReply(position) ?? 0) - 1];
        if (entry === undefined) continue; // Not a position of ours.
        const [key, { owner }] = entry;
        if (this.#held.get(key)?.owner !== owner) continue;
        this.#held.delete(key);
        this.#options.lost(key, owner);
      }
    }));
  }
}
