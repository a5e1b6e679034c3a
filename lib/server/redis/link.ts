// Several servers, one chat: `chat server --redis redis://HOST:PORT[/DB]`.
//
// The Redis link is what the hub sees as its SharedChat (shared_chat.ts).
// One plain Redis (6.2 or newer) serves every server; Redis Cluster is not
// needed. The link holds two connections, one for commands and one for the
// follower's blocking reads, and the state they share (is Redis up?); the
// work is in the files beside it:
// - scripts.ts: the keys in Redis and the Lua scripts that change them;
// - appends.ts: posts on their way into the shared history, each settled
//   once (stored, refused, or in doubt until the follower knows);
// - follower.ts: the local copy of the history, read from the stream;
// - leases.ts: nickname leases, claimed, renewed and given back;
// - watchdog.ts: a Redis that hangs counts as down;
// - client.ts: how a connection is made, and which errors may have
//   reached Redis.
//
// When Redis is unreachable, posts and logins are refused ("storage
// unavailable") while the connections to clients stay open; the client
// library reconnects with backoff and the follower resumes from the last
// seq it holds.

import { withDeadline } from "../../deadline.ts";
import { errorReason, FatalError, Unavailable } from "../../errors.ts";
import type { Logger } from "../log.ts";
import {
  type Claim,
  DEFAULT_LEASE_MS,
  type Posted,
  type SharedChat,
  type SharedChatEvents,
} from "../shared_chat.ts";
import type { MemoryStore } from "../store.ts";
import { AppendQueue } from "./appends.ts";
import { clientMaker, redactUrl, type RedisClient } from "./client.ts";
import { StreamFollower } from "./follower.ts";
import { NicknameLeases } from "./leases.ts";
import { HANG_MS, HealthWatchdog } from "./watchdog.ts";

/** How long startup may try to reach Redis, by default. */
const CONNECT_TIMEOUT_MS = 5_000;
/** How long close() waits for Redis to take the last releases and the goodbye. */
const CLOSE_MS = 300;

/** Options of {@linkcode RedisLink.open}. */
export interface RedisLinkOptions {
  /** `redis://HOST:PORT[/DB]` or `rediss://…` for TLS. */
  url: string;
  /** The local copy of the stream; must be empty. */
  store: MemoryStore;
  logger: Logger;
  /** Nickname lease; renewed every third of it. */
  leaseMs?: number;
  /** Keep the stream near this many entries (MAXLEN ~); 0 for all. */
  historyLimit?: number;
  /** How long startup may try to reach Redis. */
  connectTimeoutMs?: number;
}

/**
 * A chat shared with other servers through one Redis; see the top of this file.
 *
 * @example
 * ```ts
 * import { Hub } from "../hub.ts";
 * import { silentLogger } from "../log.ts";
 * import { MemoryStore } from "../store.ts";
 *
 * const store = new MemoryStore();
 * const link = await RedisLink.open({ url: "redis://127.0.0.1:6379", store, logger: silentLogger });
 * const hub = new Hub({ store, shared: link, maxMessageBytes: 16384, clock: () => new Date() });
 * // … serve …
 * await link.close();
 * ```
 */
export class RedisLink implements SharedChat {
  /** Makes a client; the two below are replaced when Redis stops answering. */
  readonly #make: () => RedisClient;
  #commandClient: RedisClient;
  #followerClient: RedisClient;
  readonly #url: string;
  readonly #logger: Logger;
  readonly #appends: AppendQueue;
  readonly #follower: StreamFollower;
  readonly #leases: NicknameLeases;
  readonly #watchdog: HealthWatchdog;
  #events: SharedChatEvents | undefined;
  #up = true;
  /** Set once open() succeeded: before that, failures are the FatalError's to report. */
  #started = false;
  #closed = false;
  /** The last connection error, for the startup error's sentence. */
  #lastError = "";

  private constructor(make: () => RedisClient, options: RedisLinkOptions) {
    this.#make = make;
    this.#commandClient = this.#connectable(make());
    this.#followerClient = this.#connectable(make());
    this.#url = options.url;
    this.#logger = options.logger;
    /** Tags this process's posts and nickname leases. */
    const serverId = crypto.randomUUID().slice(0, 8);
    const store = options.store;
    const commands = () => this.#commandClient;
    const usable = () => this.#up && !this.#closed;
    this.#appends = new AppendQueue({
      client: commands,
      serverId,
      lastSeq: () => store.lastSeq,
      historyLimit: options.historyLimit ?? 0,
      inDoubt: () => this.#follower.resync(),
    });
    this.#follower = new StreamFollower({
      store,
      logger: options.logger,
      appends: this.#appends,
      client: () => this.#followerClient,
      closed: () => this.#closed,
      up: () => this.#up,
      down: (why) => this.#down(why),
      ready: () => this.#ready(),
      hung: (why) => this.#hung(why),
      arrived: (authored) => this.#events?.arrived(authored),
    });
    this.#leases = new NicknameLeases({
      client: commands,
      serverId,
      leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS,
      usable,
      lost: (key, owner) => this.#events?.lost(key, owner),
    });
    this.#watchdog = new HealthWatchdog({
      client: commands,
      active: usable,
      hung: (why) => this.#hung(why),
    });
  }

  /**
   * Connects to Redis, loads the history into `options.store` and starts
   * following the stream. A Redis that cannot be reached is a FatalError.
   */
  static async open(options: RedisLinkOptions): Promise<RedisLink> {
    let connected = false;
    const make = clientMaker({
      url: options.url,
      startupDeadline: Date.now() + (options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS),
      started: () => connected,
    });
    const link = new RedisLink(make, options);
    try {
      await link.#commandClient.connect();
      await link.#followerClient.connect();
      connected = true;
      await link.#follower.load();
    } catch (error) {
      link.#commandClient.destroy();
      link.#followerClient.destroy();
      throw new FatalError(
        `cannot reach Redis at ${link.url}: ${link.#lastError || errorReason(error)}`,
      );
    }
    link.#started = true;
    link.#follower.start();
    link.#leases.start();
    link.#watchdog.start();
    return link;
  }

  /** The URL, with any password left out, for messages. */
  get url(): string {
    return redactUrl(this.#url);
  }

  /** Appends whose connection died while they were in flight (each settled by the follower). */
  get lostInFlight(): number {
    return this.#appends.losses;
  }

  listen(events: SharedChatEvents): void {
    this.#events = events;
  }

  claim(key: string, owner: number): Promise<Claim> {
    return this.#leases.claim(key, owner);
  }

  release(key: string, owner: number): void {
    this.#leases.release(key, owner);
  }

  append(message: Posted, author: number): Promise<number> {
    // Known to be down: refuse now rather than write to a socket that may
    // not have noticed yet (its appends would be in doubt until Redis is back).
    if (!this.#up || this.#closed) {
      return Promise.reject(new Unavailable("Redis is unreachable"));
    }
    return this.#appends.add(message, author);
  }

  caughtUp(seq: number, timeoutMs: number): Promise<void> {
    return this.#follower.caughtUp(seq, timeoutMs);
  }

  /**
   * Stops following, gives up this server's nicknames, and disconnects,
   * within about a second even when Redis does not answer.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchdog.stop();
    this.#follower.rejectWaiters();
    await this.#leases.close(CLOSE_MS);
    // The follower is blocked in XREAD: cut it rather than wait for the block to end.
    this.#followerClient.destroy();
    await this.#follower.stop();
    this.#appends.refuseAll("server shutting down");
    const command = this.#commandClient;
    if (await withDeadline(command.close().then(() => true, () => false), CLOSE_MS) !== true) {
      command.destroy();
    }
  }

  /** Wires a new client's events to this link. */
  #connectable(client: RedisClient): RedisClient {
    client.on("error", (error: Error) => {
      // A replaced one.
      if (client !== this.#commandClient && client !== this.#followerClient) return;
      this.#lastError = errorReason(error);
      this.#down(this.#lastError);
    });
    client.on("ready", () => this.#ready());
    return client;
  }

  /**
   * Redis stopped answering while the connections look open: drop both
   * connections (whatever was in flight on them is in doubt, for the
   * follower to settle) and start new ones, which retry until Redis is back.
   */
  #hung(why: string): void {
    if (this.#closed) return;
    this.#down(`${why} within ${HANG_MS / 1000} s`);
    this.#appends.doubtAll();
    this.#follower.resync();
    const old = [this.#commandClient, this.#followerClient];
    this.#commandClient = this.#connectable(this.#make());
    this.#followerClient = this.#connectable(this.#make());
    for (const client of old) client.destroy();
    for (const client of [this.#commandClient, this.#followerClient]) {
      client.connect().catch(() => {});
    }
  }

  #down(why: string): void {
    if (!this.#up || this.#closed || !this.#started) return;
    this.#up = false;
    this.#logger.log("redis unavailable", { redis: this.url, reason: why });
  }

  #ready(): void {
    if (this.#up || this.#closed) return;
    if (!this.#commandClient.isReady || !this.#followerClient.isReady) return;
    this.#up = true;
    this.#logger.log("redis connected", { redis: this.url });
    this.#leases.recover();
  }
}
