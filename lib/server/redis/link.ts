// Several servers, one chat: `chat server --redis redis://HOST:PORT[/DB]`.
//
// The Redis link is what the hub sees as its SharedChat (shared_chat.ts).
// One plain Redis (6.2 or newer) serves every server; Redis Cluster is not
// needed. The link holds four connections (one for commands, one for each
// follower's blocking reads, one given to pub/sub) and the state they share
// (is Redis up?); the work is in the files beside it:
// - scripts.ts: the keys in Redis and the Lua scripts that change them;
// - appends.ts: posts on their way into the shared history, each settled
//   once (stored, refused, or in doubt until the follower knows);
// - follower.ts: the local copy of the history, read from the stream;
// - leases.ts: nickname leases and roster entries, claimed, renewed and
//   given back;
// - roster.ts: the local copy of the roster (presence), read from its stream;
// - servers.ts: this server's heartbeat, and the roster cleared of dead ones;
// - direct_channel.ts: direct messages to and from the other servers;
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
import type { LeaveReason } from "../../protocol.ts";
import { formatWireTime } from "../../time.ts";
import type { Logger } from "../log.ts";
import {
  type Claim,
  type Claimant,
  DEFAULT_LEASE_MS,
  type Posted,
  type SharedChat,
  type SharedChatEvents,
} from "../shared_chat.ts";
import type { MemoryStore } from "../store.ts";
import { AppendQueue } from "./appends.ts";
import { clientMaker, redactUrl, type RedisClient } from "./client.ts";
import { DirectChannel } from "./direct_channel.ts";
import { StreamFollower } from "./follower.ts";
import { NicknameLeases } from "./leases.ts";
import { RosterFollower } from "./roster.ts";
import { ServerHeartbeat } from "./servers.ts";
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
  /** The wall clock (the roster's events are stamped with it). Defaults to the real one. */
  clock?: () => Date;
}

/** The link's connections: commands, the two followers' blocking reads, and pub/sub. */
interface Clients {
  commands: RedisClient;
  follower: RedisClient;
  roster: RedisClient;
  subscriber: RedisClient;
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
  /** Tags this process's posts, nickname leases and roster entries. */
  readonly serverId: string = crypto.randomUUID().slice(0, 8);
  /** Makes a client; the ones below are replaced when Redis stops answering. */
  readonly #make: () => RedisClient;
  #clients: Clients;
  readonly #url: string;
  readonly #logger: Logger;
  readonly #appends: AppendQueue;
  readonly #follower: StreamFollower;
  readonly #leases: NicknameLeases;
  readonly #roster: RosterFollower;
  readonly #heartbeat: ServerHeartbeat;
  readonly #direct: DirectChannel;
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
    this.#clients = this.#newClients();
    this.#url = options.url;
    this.#logger = options.logger;
    const serverId = this.serverId;
    const store = options.store;
    const commands = () => this.#clients.commands;
    const usable = () => this.#up && !this.#closed;
    const clock = options.clock ?? (() => new Date());
    const time = () => formatWireTime(clock());
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
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
      client: () => this.#clients.follower,
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
      leaseMs,
      usable,
      lost: (key, owner) => this.#events?.lost(key, owner),
      time,
    });
    this.#roster = new RosterFollower({
      client: () => this.#clients.roster,
      closed: () => this.#closed,
      up: () => this.#up,
      down: (why) => this.#down(why),
      ready: () => this.#ready(),
      hung: (why) => this.#hung(why),
      time,
    });
    this.#heartbeat = new ServerHeartbeat({ client: commands, serverId, leaseMs, usable, time });
    this.#direct = new DirectChannel({
      client: commands,
      serverId,
      arrived: (member, line) => this.#events?.direct(member, line),
      ordered: (member, order) => this.#events?.ordered(member, order),
      hung: (why) => this.#hung(why),
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
      for (const client of Object.values(link.#clients)) await client.connect();
      connected = true;
      await link.#direct.listen(link.#clients.subscriber);
      await link.#follower.load();
      // A first heartbeat clears the roster of servers that died before the roster is read.
      await link.#heartbeat.start();
      await link.#roster.load();
    } catch (error) {
      await link.#heartbeat.stop(0);
      for (const client of Object.values(link.#clients)) client.destroy();
      throw new FatalError(
        `cannot reach Redis at ${link.url}: ${link.#lastError || errorReason(error)}`,
      );
    }
    link.#started = true;
    link.#follower.start();
    link.#roster.start();
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
    this.#roster.listen(events);
  }

  claim(key: string, owner: number, claimant: Claimant, time: string): Promise<Claim> {
    return this.#leases.claim(key, owner, claimant, time);
  }

  release(key: string, owner: number, reason: LeaveReason, time: string): void {
    this.#leases.release(key, owner, reason, time);
  }

  append(message: Posted, author: number): Promise<number> {
    // Known to be down: refuse now rather than write to a socket that may
    // not have noticed yet (its appends would be in doubt until Redis is back).
    if (!this.#up || this.#closed) {
      return Promise.reject(new Unavailable("Redis is unreachable"));
    }
    return this.#appends.add(message, author);
  }

  async caughtUp(seq: number, presence: number, timeoutMs: number): Promise<void> {
    await Promise.all([
      this.#follower.caughtUp(seq, timeoutMs),
      this.#roster.caughtUp(presence, timeoutMs),
    ]);
  }

  direct(server: string, member: number, line: string): Promise<boolean> {
    if (!this.#up || this.#closed) {
      return Promise.reject(new Unavailable("Redis is unreachable"));
    }
    return this.#direct.send(server, member, line);
  }

  order(server: string, member: number, order: string): Promise<boolean> {
    if (!this.#up || this.#closed) {
      return Promise.reject(new Unavailable("Redis is unreachable"));
    }
    return this.#direct.order(server, member, order);
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
    await Promise.all([this.#leases.close(CLOSE_MS), this.#heartbeat.stop(CLOSE_MS)]);
    // The followers are blocked in XREAD: cut them rather than wait for the block to end.
    const { commands, follower, roster, subscriber } = this.#clients;
    for (const client of [follower, roster, subscriber]) client.destroy();
    await this.#follower.stop();
    await this.#roster.stop();
    this.#appends.refuseAll("server shutting down");
    if (await withDeadline(commands.close().then(() => true, () => false), CLOSE_MS) !== true) {
      commands.destroy();
    }
  }

  /** A fresh set of connections, not yet connected. */
  #newClients(): Clients {
    return {
      commands: this.#connectable(this.#make()),
      follower: this.#connectable(this.#make()),
      roster: this.#connectable(this.#make()),
      subscriber: this.#connectable(this.#make()),
    };
  }

  /** True when `client` is one of the link's connections now. */
  #current(client: RedisClient): boolean {
    return Object.values(this.#clients).includes(client);
  }

  /** Wires a new client's events to this link. */
  #connectable(client: RedisClient): RedisClient {
    client.on("error", (error: Error) => {
      // A replaced one.
      if (!this.#current(client)) return;
      this.#lastError = errorReason(error);
      this.#down(this.#lastError);
    });
    client.on("ready", () => this.#ready());
    return client;
  }

  /**
   * Redis stopped answering while the connections look open: drop every
   * connection (whatever was in flight on them is in doubt, for the
   * followers to settle) and start new ones, which retry until Redis is back.
   */
  #hung(why: string): void {
    if (this.#closed) return;
    this.#down(`${why} within ${HANG_MS / 1000} s`);
    this.#appends.doubtAll();
    this.#follower.resync();
    this.#roster.resync();
    const old = Object.values(this.#clients);
    this.#clients = this.#newClients();
    for (const client of old) client.destroy();
    const subscriber = this.#clients.subscriber;
    for (const client of Object.values(this.#clients)) {
      client.connect().then(
        () => client === subscriber ? this.#direct.listen(client) : undefined,
      ).catch(() => {});
    }
  }

  #down(why: string): void {
    if (!this.#up || this.#closed || !this.#started) return;
    this.#up = false;
    this.#logger.log("redis unavailable", { redis: this.url, reason: why });
  }

  #ready(): void {
    if (this.#up || this.#closed) return;
    if (Object.values(this.#clients).some((client) => !client.isReady)) return;
    this.#up = true;
    this.#logger.log("redis connected", { redis: this.url });
    this.#leases.recover();
  }
}
