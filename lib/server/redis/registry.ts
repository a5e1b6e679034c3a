// The registry shared by every server of a chat (`--redis`): registrations
// and bans live in Redis hashes (registry_scripts.ts), and each server
// holds a local copy (a RegistryState) that reads are served from, so a
// login checks them without a round trip.
//
// Every change is one script that checks, writes, counts a version and
// publishes the change on a channel; every server applies the changes it
// hears in version order, its own included, so the copies agree. A change
// heard out of turn waits for the ones before it; one missed (a
// subscription cut while Redis was away) shows as a gap, and the server
// then reads everything again, as it does each time its subscription comes
// back. Listeners hear every change applied, wherever it was made: a ban
// on one server cuts its target off on all of them.
//
// While Redis is out of reach, reads go on from the copy, and changes are
// refused (Unavailable). A change resolves once Redis holds it and the
// local copy shows it (or, if the copy lags, after MIRROR_WAIT_MS: it is
// durable all the same).

import { withDeadline } from "../../deadline.ts";
import { errorReason, FatalError, Unavailable } from "../../errors.ts";
import type { Logger } from "../log.ts";
import {
  type Ban,
  NOT_REGISTERED,
  REGISTERED_ELSEWHERE,
  type Registration,
  type Registry,
  type RegistryChange,
  type RegistryResult,
  RegistryState,
} from "../registry.ts";
import { decodeChange, encodeChange } from "../registry_record.ts";
import { clientMaker, integerReply, redactUrl, type RedisClient } from "./client.ts";
import {
  BAN_SCRIPT,
  BANS_KEY,
  LOAD_SCRIPT,
  REFUSED,
  REGISTER_SCRIPT,
  REGISTERED_KEY,
  REGISTRY_CHANNEL,
  REGISTRY_VERSION_KEY,
  UNCHANGED,
  UNREGISTER_SCRIPT,
} from "./registry_scripts.ts";
import { runScript } from "./scripts.ts";

/** How long startup may try to reach Redis, by default. */
const CONNECT_TIMEOUT_MS = 5_000;
/** How long a change made here waits for the local copy to show it before resolving anyway. */
export const MIRROR_WAIT_MS = 2_000;
/** How long a change heard out of turn waits for those before it before everything is read again. */
export const GAP_WAIT_MS = 1_000;
/** The pause before a failed reading of everything is tried again. */
export const RESYNC_RETRY_MS = 1_000;
/** How long close() waits for the connections to close politely. */
const CLOSE_MS = 300;

/** Options of {@linkcode RedisRegistry.open}. */
export interface RedisRegistryOptions {
  /** `redis://HOST:PORT[/DB]` or `rediss://…` for TLS. */
  url: string;
  /** The wall clock timed bans end by. */
  clock: () => Date;
  logger: Logger;
  /** How long startup may try to reach Redis. */
  connectTimeoutMs?: number;
}

/**
 * Registrations and bans in Redis, shared by every server; see the top of this file.
 *
 * @example
 * ```ts
 * import { silentLogger } from "../log.ts";
 * const registry = await RedisRegistry.open({
 *   url: "redis://127.0.0.1:6379", clock: () => new Date(), logger: silentLogger,
 * });
 * await registry.ban("10.0.0.7", null, "spam", "alice"); // every server knows now
 * await registry.close();
 * ```
 */
export class RedisRegistry implements Registry {
  readonly #commands: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #clock: () => Date;
  readonly #logger: Logger;
  readonly #url: string;
  #state: RegistryState;
  /** The version of the copy: every change up to it is applied. */
  #version = 0;
  /** Changes heard ahead of their turn, by version. */
  readonly #ahead = new Map<number, RegistryChange>();
  /** Callers waiting for the copy to reach a version. */
  #waiters: { version: number; resolve: () => void }[] = [];
  readonly #listeners: ((change: RegistryChange) => void)[] = [];
  #gapTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #resyncing = false;
  /** True while everything is read: changes heard meanwhile wait, to follow the snapshot. */
  #loading = false;
  #started = false;
  #closed = false;
  #lastError = "";

  private constructor(
    commands: RedisClient,
    subscriber: RedisClient,
    options: RedisRegistryOptions,
  ) {
    this.#commands = commands;
    this.#subscriber = subscriber;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#url = redactUrl(options.url);
    this.#state = new RegistryState(options.clock);
    for (const client of [commands, subscriber]) {
      // Without a listener an "error" event would end the process; the copy serves meanwhile.
      client.on("error", (error: Error) => this.#lastError = errorReason(error));
    }
    // The subscription is back after Redis was away: what was said meanwhile is lost.
    subscriber.on("ready", () => this.#started && this.#resync());
  }

  /**
   * Connects to Redis, subscribes to the changes and loads the registry. A
   * Redis that cannot be reached is a FatalError.
   */
  static async open(options: RedisRegistryOptions): Promise<RedisRegistry> {
    let connected = false;
    const make = clientMaker({
      url: options.url,
      startupDeadline: Date.now() + (options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS),
      started: () => connected,
    });
    const registry = new RedisRegistry(make(), make(), options);
    try {
      await registry.#commands.connect();
      await registry.#subscriber.connect();
      connected = true;
      await registry.#subscriber.subscribe(REGISTRY_CHANNEL, (message) => registry.#heard(message));
      await registry.#load();
    } catch (error) {
      registry.#commands.destroy();
      registry.#subscriber.destroy();
      throw new FatalError(
        `cannot load the registry from Redis at ${registry.#url}: ${
          registry.#lastError || errorReason(error)
        }`,
      );
    }
    registry.#started = true;
    return registry;
  }

  lookup(nickKey: string): Registration | undefined {
    return this.#state.lookup(nickKey);
  }

  banned(target: string): Ban | undefined {
    return this.#state.banned(target);
  }

  bans(): Ban[] {
    return this.#state.bans();
  }

  listen(listener: (change: RegistryChange) => void): void {
    this.#listeners.push(listener);
  }

  register(nickKey: string, nickname: string, identity: string): Promise<RegistryResult> {
    const change: RegistryChange = { op: "register", nickKey, nickname, identity };
    return this.#registration(REGISTER_SCRIPT, change, identity, REGISTERED_ELSEWHERE);
  }

  unregister(nickKey: string, identity: string): Promise<RegistryResult> {
    const change: RegistryChange = { op: "unregister", nickKey };
    return this.#registration(UNREGISTER_SCRIPT, change, identity, NOT_REGISTERED);
  }

  async ban(target: string, until: Date | null, reason: string, by: string): Promise<void> {
    const change: RegistryChange = { op: "ban", target, until, reason, by };
    const answer = await this.#run(BAN_SCRIPT, [BANS_KEY, REGISTRY_VERSION_KEY], [
      target,
      record(change),
      record(change),
      REGISTRY_CHANNEL,
    ]);
    await this.#made(answer, change);
  }

  async unban(target: string): Promise<boolean> {
    // An ended ban may still be in the hash: it goes, but it was no ban to lift.
    const had = this.#state.banned(target) !== undefined;
    const change: RegistryChange = { op: "unban", target };
    const answer = await this.#run(BAN_SCRIPT, [BANS_KEY, REGISTRY_VERSION_KEY], [
      target,
      "",
      record(change),
      REGISTRY_CHANNEL,
    ]);
    if (answer === UNCHANGED) return false;
    await this.#made(answer, change);
    return had;
  }

  /** Unsubscribes and disconnects, within about a second even when Redis does not answer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#gapTimer);
    clearTimeout(this.#retryTimer);
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters = [];
    await Promise.all([this.#subscriber, this.#commands].map(async (client) => {
      if (await withDeadline(client.close().then(() => true, () => false), CLOSE_MS) !== true) {
        client.destroy();
      }
    }));
  }

  /** A (un)registration by `identity`: its script, and `refusal` when the script refuses. */
  async #registration(
    script: string,
    change: RegistryChange & { nickKey: string },
    identity: string,
    refusal: string,
  ): Promise<RegistryResult> {
    const answer = await this.#run(script, [REGISTERED_KEY, REGISTRY_VERSION_KEY], [
      change.nickKey,
      identity,
      record(change),
      REGISTRY_CHANNEL,
    ]);
    if (answer === REFUSED) return { ok: false, reason: refusal };
    if (answer !== UNCHANGED) await this.#made(answer, change);
    return { ok: true };
  }

  /** Runs a script; its integer answer, or Unavailable when Redis could not be asked. */
  async #run(script: string, keys: string[], args: string[]): Promise<number> {
    if (this.#closed) throw new Unavailable("the registry is closed");
    let reply: unknown;
    try {
      reply = await runScript(this.#commands, script, keys, args);
    } catch (error) {
      throw new Unavailable(`Redis: ${errorReason(error)}`);
    }
    const answer = integerReply(reply);
    if (answer === undefined) throw new Unavailable(`Redis: an answer that is no number`);
    return answer;
  }

  /** A change made here, at `version`: applied in turn, and waited for (within MIRROR_WAIT_MS). */
  async #made(version: number, change: RegistryChange): Promise<void> {
    this.#take(version, change);
    if (this.#version >= version) return;
    await withDeadline(
      new Promise<void>((resolve) => this.#waiters.push({ version, resolve })),
      MIRROR_WAIT_MS,
    );
  }

  /** A message on the channel: "VERSION RECORD". */
  #heard(message: string): void {
    const space = message.indexOf(" ");
    const version = integerReply(message.slice(0, space));
    const change = space === -1 ? "no record" : decodeChange(message.slice(space + 1));
    if (version === undefined || typeof change === "string") {
      this.#logger.log("warning", {
        reason: `a registry change from Redis that does not read (${
          typeof change === "string" ? change : "no version"
        }): reading the registry again`,
      });
      this.#resync();
      return;
    }
    this.#take(version, change);
  }

  /** Applies `change` if it is next; keeps it for later if it is ahead; drops it if it is known. */
  #take(version: number, change: RegistryChange): void {
    if (this.#closed || version <= this.#version) return;
    this.#ahead.set(version, change);
    if (this.#loading) return;
    let next: RegistryChange | undefined;
    while ((next = this.#ahead.get(this.#version + 1)) !== undefined) {
      this.#ahead.delete(++this.#version);
      this.#state.apply(next);
      for (const listener of this.#listeners) listener(next);
    }
    this.#wake();
    clearTimeout(this.#gapTimer);
    this.#gapTimer = this.#ahead.size === 0 || this.#resyncing
      ? undefined
      : setTimeout(() => this.#resync(), GAP_WAIT_MS);
  }

  /** Reads everything again (a gap, a damaged message, a subscription that came back). */
  #resync(): void {
    if (this.#closed || this.#resyncing) return;
    this.#resyncing = true;
    clearTimeout(this.#gapTimer);
    this.#load().then(() => {
      this.#resyncing = false;
      // What is known now, told again: a ban made while we were not listening cuts off here too.
      for (const change of this.#state.snapshot()) {
        for (const listener of this.#listeners) listener(change);
      }
    }, () => {
      this.#resyncing = false;
      if (!this.#closed) this.#retryTimer = setTimeout(() => this.#resync(), RESYNC_RETRY_MS);
    });
  }

  /** Loads the whole registry (one script: a consistent moment) into a fresh copy. */
  async #load(): Promise<void> {
    this.#loading = true;
    let reply: [unknown, unknown, unknown];
    try {
      reply = await runScript(this.#commands, LOAD_SCRIPT, [
        REGISTERED_KEY,
        BANS_KEY,
        REGISTRY_VERSION_KEY,
      ], []) as [unknown, unknown, unknown];
    } finally {
      this.#loading = false;
    }
    const version = integerReply(reply[0]) ?? 0;
    const state = new RegistryState(this.#clock);
    for (const list of [reply[1], reply[2]]) {
      const fields = Array.isArray(list) ? list : [];
      for (let i = 1; i < fields.length; i += 2) {
        const change = decodeChange(String(fields[i]));
        if (typeof change === "string") {
          this.#logger.log("warning", {
            reason: `a registry entry in Redis that does not read (${change}): left out`,
          });
        } else state.apply(change);
      }
    }
    if (this.#closed) return;
    // The snapshot's version even when lower than ours: a Redis that lost its data starts again.
    this.#state = state;
    this.#version = version;
    // Heard while loading and after its moment: still to apply, in turn.
    const rest = [...this.#ahead.entries()].filter(([known]) => known > version);
    this.#ahead.clear();
    for (const [known, change] of rest.sort(([a], [b]) => a - b)) this.#take(known, change);
    this.#wake();
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const waiting = [];
    for (const waiter of this.#waiters) {
      if (waiter.version <= this.#version) waiter.resolve();
      else waiting.push(waiter);
    }
    this.#waiters = waiting;
  }
}

/** A change as it is stored and published: its record, without the newline. */
function record(change: RegistryChange): string {
  return encodeChange(change).slice(0, -1);
}
