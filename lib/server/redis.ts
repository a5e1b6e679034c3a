// Several servers, one chat: `chat server --redis redis://HOST:PORT[/DB]`.
//
// Redis holds what the servers share, in three kinds of keys:
// - `chat:seq`, the global message counter, and `chat:history`, a stream
//   whose entry ids are `<seq>-0`. One script increments the counter and
//   appends the entry, so seq is one sequence across every server and the
//   stream is in seq order.
// - `chat:nick:<nickname key>`, one per logged-in nickname, set with NX and
//   a lease (PX) that its server renews while the connection lives. A
//   server that dies stops renewing, and its nicknames come free when their
//   leases end.
//
// Each server keeps a local copy of the stream in a MemoryStore, filled by a
// follower (XREAD BLOCK from the last seq it holds): replay and relay read
// that copy exactly as on a lone server, so a client's replay and its live
// messages join with no gap and no duplicate. A server's own clients' posts
// reach them through the follower too, like everyone else's.
//
// When Redis is unreachable, posts and logins are refused ("storage
// unavailable") while the connections stay open; the client library
// reconnects with backoff and the follower resumes from the last seq it
// holds. A post whose answer was lost with the connection is neither acked
// nor refused until the follower, back in step, has either seen it in the
// stream (ack) or read past where it would be (refusal): nothing acked is
// lost, and nothing refused was stored.

import { ClientClosedError, ClientOfflineError, createClient, ErrorReply } from "redis";
import { pause, withDeadline } from "../deadline.ts";
import { encodeChatMessage } from "../protocol.ts";
import { reason, StartupError } from "./cert.ts";
import { StorageUnavailable } from "./file_store.ts";
import type { Claim, Posted, SharedChat, SharedChatEvents } from "./shared_chat.ts";
import type { Logger } from "./log.ts";
import type { MemoryStore } from "./store.ts";

/** The key of the global seq counter. */
export const SEQ_KEY = "chat:seq";
/** The key of the history stream (entry ids are `<seq>-0`). */
export const HISTORY_KEY = "chat:history";
/** The prefix of nickname lease keys; the rest is the nickname's key (case folded). */
export const NICK_PREFIX = "chat:nick:";

/** The default nickname lease. */
export const DEFAULT_LEASE_MS = 10_000;
/** Entries read per XREAD/XRANGE. */
const PAGE = 1000;
/** How long one XREAD blocks before it is issued again. */
const BLOCK_MS = 5_000;
/** How long Redis may take to answer before it counts as down (it hangs, or its host died). */
export const HANG_MS = 3_000;
/** How often Redis is pinged to notice that. */
const HEALTH_MS = 1_000;
/** How long close() waits for Redis to take the last releases and the goodbye. */
const CLOSE_MS = 300;
/** With a history limit, the stream keeps this many more entries than it, for servers behind. */
export const STREAM_SLACK = 100_000;
/** Messages appended per script call. */
const APPEND_BATCH = 500;
/** Nickname leases renewed per script call. */
const RENEW_BATCH = 500;

const encoder = new TextEncoder();

// Appends messages: each gets seq = the counter + 1, kept above both `floor`
// (the newest seq the calling server holds: a Redis that lost its data must
// not hand out old seqs again) and the newest entry (XADD needs rising ids).
// Returns the first message's seq; the others follow it one by one.
// KEYS: seq, history. ARGV: floor, maxlen (0: none), then per message:
// from, message, time, origin.
const APPEND_SCRIPT = `
local floor = tonumber(ARGV[1])
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local last = tonumber(string.match(top[1][1], '^(%d+)'))
  if last > floor then floor = last end
end
local count = (#ARGV - 2) / 4
local seq = redis.call('INCRBY', KEYS[1], count) - count + 1
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], seq + count - 1)
end
local maxlen = tonumber(ARGV[2])
for i = 0, count - 1 do
  local at = 3 + i * 4
  local id = (seq + i) .. '-0'
  local fields = {'from', ARGV[at], 'message', ARGV[at + 1], 'time', ARGV[at + 2], 'origin', ARGV[at + 3]}
  if maxlen > 0 then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, id, unpack(fields))
  else
    redis.call('XADD', KEYS[2], id, unpack(fields))
  end
end
return seq
`;

// Claims a nickname: its key set to `owner` with NX and a lease. Returns the
// newest seq (the replay must reach it), or -1 when the nickname is taken.
// KEYS: nick, seq. ARGV: owner, lease ms.
const CLAIM_SCRIPT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
return -1
`;

// Deletes a nickname's key if `owner` still holds it. KEYS: nick. ARGV: owner.
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

// Renews the leases of nicknames this server holds, taking back any that
// expired meanwhile (Redis was unreachable for longer than the lease).
// Returns the 1-based positions of those another server holds now.
// KEYS: nicks. ARGV: lease ms, then one owner per key.
const RENEW_SCRIPT = `
local lost = {}
for i, key in ipairs(KEYS) do
  local owner = ARGV[i + 1]
  local now = redis.call('GET', key)
  if now == owner then
    redis.call('PEXPIRE', key, ARGV[1])
  elseif not now then
    redis.call('SET', key, owner, 'PX', ARGV[1])
  else
    table.insert(lost, i)
  end
end
return lost
`;

const SCRIPTS = {
  append: APPEND_SCRIPT,
  claim: CLAIM_SCRIPT,
  release: RELEASE_SCRIPT,
  renew: RENEW_SCRIPT,
};

/** Options of {@linkcode RedisCluster.open}. */
export interface RedisClusterOptions {
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

interface Append {
  resolve(seq: number): void;
  reject(error: Error): void;
  /**
   * Set when the connection died with the command in flight, so Redis may or
   * may not hold it: the count of such losses so far, this one included.
   */
  uncertain: number;
}

type Client = ReturnType<typeof createClient>;

/**
 * A chat shared through Redis; see the top of this file.
 *
 * @example
 * ```ts
 * const cluster = await RedisCluster.open({ url: "redis://127.0.0.1:6379", store, logger });
 * const hub = new Hub({ store, shared: cluster, maxMessageBytes, clock });
 * // … serve …
 * await cluster.close();
 * ```
 */
export class RedisCluster implements SharedChat {
  /** Makes a client; the two below are replaced when Redis stops answering. */
  readonly #make: () => Client;
  #command: Client;
  #follower: Client;
  readonly #store: MemoryStore;
  readonly #logger: Logger;
  readonly #leaseMs: number;
  readonly #historyLimit: number;
  readonly #url: string;
  /** Tags this process's posts and nickname leases. */
  readonly #serverId = crypto.randomUUID().slice(0, 8);
  #events: SharedChatEvents | undefined;
  #nextAppend = 1;
  readonly #appends = new Map<number, Append>();
  /** Appends waiting for this turn's script call: four fields each, and their numbers. */
  #queued: string[] = [];
  #queuedNumbers: number[] = [];
  /** Nicknames held by local members: key → owner (member id). */
  readonly #held = new Map<string, number>();
  /** Claims whose answer was lost with the connection: released once Redis is back. */
  readonly #orphans = new Map<string, number>();
  #waiters: { seq: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  /** Set after a lost connection: the follower reads the counter and catches up to it. */
  #resync = false;
  /** Appends lost in flight so far (see Append.uncertain). */
  #losses = 0;
  #up = true;
  /** Set once open() succeeded: before that, failures are the StartupError's to report. */
  #started = false;
  #closed = false;
  #following: Promise<void> | undefined;
  /** Cuts the follower's pause between attempts short (on close). */
  #wakeFollower: (() => void) | undefined;
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  #healthTimer: ReturnType<typeof setInterval> | undefined;
  #pinging = false;
  /** The last connection error, for the startup error's sentence. */
  #lastError = "";
  readonly #releases = new Set<Promise<unknown>>();

  private constructor(make: () => Client, options: RedisClusterOptions) {
    this.#make = make;
    this.#command = this.#connectable(make());
    this.#follower = this.#connectable(make());
    this.#store = options.store;
    this.#logger = options.logger;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#historyLimit = options.historyLimit ?? 0;
    this.#url = options.url;
  }

  /**
   * Connects to Redis, loads the history into `options.store` and starts
   * following the stream. A Redis that cannot be reached is a StartupError.
   */
  static async open(options: RedisClusterOptions): Promise<RedisCluster> {
    const shown = redactUrl(options.url);
    let connected = false;
    const deadline = Date.now() + (options.connectTimeoutMs ?? 5_000);
    const make = (): Client =>
      createClient({
        url: options.url,
        disableOfflineQueue: true,
        socket: {
          connectTimeout: 2_000,
          keepAlive: true,
          noDelay: true,
          // At startup, give up at the deadline; later, retry for ever with backoff up to 2 s.
          reconnectStrategy: (retries: number, cause: Error) =>
            !connected && Date.now() >= deadline ? cause : Math.min(100 * 2 ** retries, 2_000),
        },
      });
    const cluster = new RedisCluster(make, options);
    try {
      await cluster.#command.connect();
      await cluster.#follower.connect();
      connected = true;
      await cluster.#load();
    } catch (error) {
      cluster.#command.destroy();
      cluster.#follower.destroy();
      throw new StartupError(
        `Cannot reach Redis at ${shown}: ${cluster.#lastError || reason(error)}.`,
      );
    }
    cluster.#started = true;
    cluster.#following = cluster.#follow();
    cluster.#renewTimer = setInterval(() => cluster.#renew(), Math.max(cluster.#leaseMs / 3, 50));
    cluster.#healthTimer = setInterval(() => cluster.#checkHealth(), HEALTH_MS);
    return cluster;
  }

  /** Wires a new client's events to this link. */
  #connectable(client: Client): Client {
    client.on("error", (error: Error) => {
      if (client !== this.#command && client !== this.#follower) return; // A replaced one.
      this.#lastError = reason(error);
      this.#down(this.#lastError);
    });
    client.on("ready", () => this.#ready());
    return client;
  }

  /** The URL, with any password left out, for messages. */
  get url(): string {
    return redactUrl(this.#url);
  }

  /** Appends whose connection died while they were in flight (each settled by the follower). */
  get lostInFlight(): number {
    return this.#losses;
  }

  listen(events: SharedChatEvents): void {
    this.#events = events;
  }

  async claim(key: string, owner: number): Promise<Claim> {
    if (!this.#up || this.#closed) throw new StorageUnavailable("Redis is unreachable");
    let seq: number;
    try {
      seq = Number(
        await this.#script("claim", [NICK_PREFIX + key, SEQ_KEY], [
          this.#owner(owner),
          String(this.#leaseMs),
        ]),
      );
    } catch (error) {
      // The key may be set all the same: give it back once Redis answers again.
      if (this.#inFlight(error)) this.#orphans.set(key, owner);
      throw error;
    }
    if (seq < 0) return { ok: false, reason: "nickname already in use" };
    this.#held.set(key, owner);
    return { ok: true, seq };
  }

  release(key: string, owner: number): void {
    if (this.#held.get(key) === owner) this.#held.delete(key);
    const done = this.#script("release", [NICK_PREFIX + key], [this.#owner(owner)])
      .catch(() => {}) // Unreachable: the lease ends by itself.
      .finally(() => this.#releases.delete(done));
    this.#releases.add(done);
  }

  append(message: Posted, author: number): Promise<number> {
    // Known to be down: refuse now rather than write to a socket that may
    // not have noticed yet (its appends would be in doubt until Redis is back).
    if (!this.#up || this.#closed) {
      return Promise.reject(new StorageUnavailable("Redis is unreachable"));
    }
    const number = this.#nextAppend++;
    return new Promise<number>((resolve, reject) => {
      this.#appends.set(number, { resolve, reject, uncertain: 0 });
      // Everything posted in this turn of the event loop (a read's worth of
      // frames, from every connection) goes to Redis in one script call.
      if (this.#queued.length === 0) queueMicrotask(() => this.#flush());
      this.#queued.push(
        message.from,
        message.message,
        message.time,
        `${this.#serverId}/${author}/${number}`,
      );
      this.#queuedNumbers.push(number);
    });
  }

  /** Sends the queued appends, up to APPEND_BATCH per script call. */
  #flush(): void {
    while (this.#queuedNumbers.length > 0) {
      const numbers = this.#queuedNumbers.splice(0, APPEND_BATCH);
      const fields = this.#queued.splice(0, numbers.length * 4);
      this.#script("append", [SEQ_KEY, HISTORY_KEY], [
        String(this.#store.lastSeq),
        // Some slack, so a server that falls behind for a moment misses nothing.
        String(this.#historyLimit > 0 ? this.#historyLimit + STREAM_SLACK : 0),
        ...fields,
      ]).then(
        (first) => numbers.forEach((number, i) => this.#settle(number, Number(first) + i)),
        (error) => {
          const definite = !this.#inFlight(error);
          // The answer was lost with the connection: the follower decides.
          const loss = definite ? 0 : ++this.#losses;
          for (const number of numbers) {
            const entry = this.#appends.get(number);
            // Seen by the follower already, or put in doubt when the link was replaced.
            if (entry === undefined || entry.uncertain > 0) continue;
            if (definite) {
              this.#appends.delete(number);
              entry.reject(new StorageUnavailable(reason(error)));
            } else {
              entry.uncertain = loss;
            }
          }
          if (!definite) this.#resync = true;
        },
      );
    }
  }

  caughtUp(seq: number, timeoutMs: number): Promise<void> {
    if (this.#store.lastSeq >= seq) return Promise.resolve();
    if (this.#closed) return Promise.reject(new StorageUnavailable("closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        reject(new StorageUnavailable("the history did not catch up"));
      }, timeoutMs);
      const entry = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#waiters.push(entry);
    });
  }

  /**
   * Stops following, gives up this server's nicknames, and disconnects,
   * within about a second even when Redis does not answer.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renewTimer);
    clearInterval(this.#healthTimer);
    for (const waiter of this.#waiters) waiter.reject(new StorageUnavailable("closed"));
    this.#waiters = [];
    await withDeadline(Promise.all(this.#releases), CLOSE_MS);
    // The follower is blocked in XREAD: cut it rather than wait for the block to end.
    this.#follower.destroy();
    this.#wakeFollower?.();
    await this.#following;
    for (const entry of this.#appends.values()) {
      entry.reject(new StorageUnavailable("server shutting down"));
    }
    this.#appends.clear();
    const command = this.#command;
    if (await withDeadline(command.close().then(() => true, () => false), CLOSE_MS) !== true) {
      command.destroy();
    }
  }

  #owner(member: number): string {
    return `${this.#serverId}/${member}`;
  }

  /** True when `error` may have come after the command reached Redis. */
  #inFlight(error: unknown): boolean {
    return !(error instanceof ErrorReply || error instanceof ClientOfflineError ||
      error instanceof ClientClosedError);
  }

  #settle(number: number, seq: number): void {
    const entry = this.#appends.get(number);
    if (entry === undefined) return;
    this.#appends.delete(number);
    entry.resolve(seq);
  }

  /**
   * Runs a script. EVAL with the script's text rather than EVALSHA: Redis
   * caches it by its hash all the same, and a Redis that restarted (and lost
   * its script cache) never refuses it, so nothing needs sending twice.
   */
  #script(name: keyof typeof SCRIPTS, keys: string[], args: string[]): Promise<unknown> {
    return this.#command.sendCommand([
      "EVAL",
      SCRIPTS[name],
      String(keys.length),
      ...keys,
      ...args,
    ]);
  }

  /** Reads the whole stream into the local store. */
  async #load(): Promise<void> {
    for (;;) {
      const start = `${this.#store.lastSeq + 1}-0`;
      const page = await this.#follower.sendCommand([
        "XRANGE",
        HISTORY_KEY,
        start,
        "+",
        "COUNT",
        String(PAGE * 10),
      ]);
      const entries = streamEntries(page);
      if (entries.length === 0) return;
      this.#apply(entries, true);
    }
  }

  /**
   * Sends `command` on the follower, and gives up on the connection when no
   * answer comes `HANG_MS` after it was due (a Redis that hangs, a dead host).
   */
  async #follow1(command: string[], dueMs: number): Promise<unknown> {
    const follower = this.#follower;
    const answer = follower.sendCommand(command);
    const answered = await withDeadline(answer.then(() => true), dueMs + HANG_MS);
    if (answered === undefined) {
      answer.catch(() => {});
      this.#hung("the stream follower got no answer");
      throw new Error("Redis did not answer");
    }
    return await answer;
  }

  /** Follows the stream until closed, surviving any number of Redis outages. */
  async #follow(): Promise<void> {
    let backoff = 100;
    while (!this.#closed) {
      try {
        let target: number | undefined;
        /** Appends lost before the counter was read: the stream up to it tells their fate. */
        let settles = 0;
        if (this.#resync) {
          this.#resync = false;
          settles = this.#losses;
          target = Number(await this.#follow1(["GET", SEQ_KEY], 0) ?? 0);
        }
        for (;;) {
          const block = target === undefined ? BLOCK_MS : 1;
          const reply = await this.#follow1([
            "XREAD",
            "COUNT",
            String(PAGE),
            "BLOCK",
            String(block),
            "STREAMS",
            HISTORY_KEY,
            `${this.#store.lastSeq}-0`,
          ], block);
          const entries = streamEntries(reply);
          if (!this.#up) this.#ready(); // An error that was not the connection's has passed.
          if (entries.length > 0) this.#apply(entries);
          if (target !== undefined && (entries.length === 0 || this.#store.lastSeq >= target)) {
            // In step again: posts lost in flight and not in the stream were never stored.
            this.#refuseUncertain(settles);
            target = undefined;
          }
          if (this.#resync || this.#closed) break;
        }
        backoff = 100;
      } catch (error) {
        if (this.#closed) return;
        this.#down(reason(error));
        this.#resync = true;
        const wait = pause(backoff);
        this.#wakeFollower = wait.wake;
        await wait.done;
        this.#wakeFollower = undefined;
        backoff = Math.min(backoff * 2, 2_000);
      }
    }
  }

  /**
   * Adds entries, in seq order, to the local store and tells the hub.
   * `loading`: the history at start, which may begin past seq 1 (trimmed).
   */
  #apply(entries: StreamEntry[], loading = false): void {
    const authored: [number, number][] = [];
    for (const entry of entries) {
      const seq = entry.seq;
      if (seq <= this.#store.lastSeq) continue;
      if (seq > this.#store.lastSeq + 1 && !loading) {
        this.#logger.log("warning", {
          reason: `messages ${this.#store.lastSeq + 1}..${
            seq - 1
          } are not in Redis (trimmed before this server read them, or Redis lost them)`,
        });
      }
      this.#store.skipTo(seq, loading);
      const fields = entry.fields;
      const [server, author, number] = (fields.origin ?? "").split("/");
      const local = server === this.#serverId;
      const authorId = local ? Number(author) : 0;
      if (
        typeof fields.from !== "string" || typeof fields.message !== "string" ||
        typeof fields.time !== "string"
      ) {
        this.#logger.log("warning", { reason: `skipped a malformed history entry ${seq}-0` });
        this.#store.skipTo(seq + 1);
        continue;
      }
      const { from, message, time } = fields;
      this.#store.append(
        () => encoder.encode(encodeChatMessage({ from, message, time, seq })),
        authorId,
      );
      if (local) {
        authored.push([authorId, seq]);
        this.#settle(Number(number), seq);
      }
    }
    const last = this.#store.lastSeq;
    if (this.#waiters.length > 0) {
      const ready = this.#waiters.filter((waiter) => waiter.seq <= last);
      this.#waiters = this.#waiters.filter((waiter) => waiter.seq > last);
      for (const waiter of ready) waiter.resolve();
    }
    this.#events?.arrived(authored);
  }

  /**
   * Refuses the appends lost in flight up to loss number `upTo`: the
   * follower has read the stream up to a counter read after their
   * connection died, and they were not in it. Later losses may still be
   * stored after that counter; they wait for the next round.
   */
  #refuseUncertain(upTo: number): void {
    for (const [number, entry] of this.#appends) {
      if (entry.uncertain === 0 || entry.uncertain > upTo) continue;
      this.#appends.delete(number);
      entry.reject(new StorageUnavailable("the connection to Redis was lost"));
    }
  }

  /**
   * Renews this server's nickname leases; cuts off members whose nickname
   * went elsewhere. Every batch is sent at once, so a release issued
   * meanwhile reaches Redis after all of them and is never undone.
   */
  async #renew(): Promise<void> {
    if (this.#held.size === 0 || !this.#up || this.#closed) return;
    const held = [...this.#held];
    const batches: [string, number][][] = [];
    for (let start = 0; start < held.length; start += RENEW_BATCH) {
      batches.push(held.slice(start, start + RENEW_BATCH));
    }
    await Promise.all(batches.map(async (batch) => {
      let lost: unknown;
      try {
        lost = await this.#script(
          "renew",
          batch.map(([key]) => NICK_PREFIX + key),
          [String(this.#leaseMs), ...batch.map(([, owner]) => this.#owner(owner))],
        );
      } catch {
        return; // Unreachable: tried again at the next tick.
      }
      for (const position of Array.isArray(lost) ? lost : []) {
        const [key, owner] = batch[Number(position) - 1];
        if (this.#held.get(key) !== owner) continue;
        this.#held.delete(key);
        this.#events?.lost(key, owner);
      }
    }));
  }

  /** Pings Redis now and then: a Redis that hangs (or a dead host) counts as down. */
  #checkHealth(): void {
    if (!this.#up || this.#pinging || this.#closed) return;
    this.#pinging = true;
    const command = this.#command;
    const ping = command.sendCommand(["PING"]).then(() => true, () => true);
    withDeadline(ping, HANG_MS).then((answered) => {
      this.#pinging = false;
      if (answered === undefined && command === this.#command) this.#hung("no answer to PING");
    });
  }

  /**
   * Redis stopped answering while the connections look open: drop both
   * connections (whatever was in flight on them is in doubt, for the
   * follower to settle) and start new ones, which retry until Redis is back.
   */
  #hung(why: string): void {
    if (this.#closed) return;
    this.#down(`${why} within ${HANG_MS / 1000} s`);
    const loss = ++this.#losses;
    for (const entry of this.#appends.values()) {
      if (entry.uncertain === 0) entry.uncertain = loss;
    }
    this.#resync = true;
    const old = [this.#command, this.#follower];
    this.#command = this.#connectable(this.#make());
    this.#follower = this.#connectable(this.#make());
    for (const client of old) client.destroy();
    for (const client of [this.#command, this.#follower]) client.connect().catch(() => {});
  }

  #down(why: string): void {
    if (!this.#up || this.#closed || !this.#started) return;
    this.#up = false;
    this.#logger.log("redis unavailable", { redis: this.url, reason: why });
  }

  #ready(): void {
    if (this.#up || this.#closed) return;
    if (!this.#command.isReady || !this.#follower.isReady) return;
    this.#up = true;
    this.#logger.log("redis connected", { redis: this.url });
    for (const [key, owner] of this.#orphans) {
      if (this.#held.get(key) !== owner) this.release(key, owner);
    }
    this.#orphans.clear();
    void this.#renew();
  }
}

interface StreamEntry {
  seq: number;
  fields: Record<string, string>;
}

/**
 * The entries of an XRANGE or XREAD reply (one stream), in order. Accepts
 * both shapes the client library gives: arrays (RESP2) and maps (RESP3).
 */
export function streamEntries(reply: unknown): StreamEntry[] {
  if (reply === null || reply === undefined) return [];
  let list: unknown = reply;
  // XREAD: { stream: entries } or [[stream, entries]].
  if (!Array.isArray(reply)) {
    list = reply instanceof Map ? [...reply.values()][0] : Object.values(reply)[0];
  } else if (
    reply.length > 0 && Array.isArray(reply[0]) && typeof reply[0][0] === "string" &&
    Array.isArray(reply[0][1]) && Array.isArray(reply[0][1][0])
  ) {
    list = reply[0][1];
  }
  const entries: StreamEntry[] = [];
  for (const item of Array.isArray(list) ? list : []) {
    if (!Array.isArray(item)) continue;
    const [id, raw] = item as [unknown, unknown];
    const seq = Number.parseInt(String(id), 10);
    if (!Number.isSafeInteger(seq)) continue;
    const fields: Record<string, string> = {};
    if (Array.isArray(raw)) {
      for (let i = 0; i + 1 < raw.length; i += 2) fields[String(raw[i])] = String(raw[i + 1]);
    } else if (raw !== null && typeof raw === "object") {
      for (const [k, v] of Object.entries(raw)) fields[k] = String(v);
    }
    entries.push({ seq, fields });
  }
  return entries;
}

/** `url` without its password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}
