// The local copy of the shared history: each server keeps the stream in a
// MemoryStore, filled by a follower (XREAD BLOCK from the last seq it
// holds). Replay and relay read that copy exactly as on a lone server, so a
// client's replay and its live messages join with no gap and no duplicate.
// A server's own members' posts reach them through the follower too, like
// everyone else's; the follower is also what settles appends whose answer
// was lost (appends.ts).
//
// The follower survives any number of Redis outages: it reports the link
// down, pauses with backoff, and resumes from the last seq it holds. After
// a lost connection it first reads the counter, and once the stream is read
// up to it, the appends lost in flight before that read and not in the
// stream are refused.

import { pause } from "../../deadline.ts";
import { encodeChatMessage } from "../../protocol.ts";
import { errorReason, Unavailable } from "../../errors.ts";
import type { Logger } from "../log.ts";
import type { MemoryStore } from "../store.ts";
import type { AppendQueue } from "./appends.ts";
import { integerReply, type RedisClient } from "./client.ts";
import { HISTORY_KEY, SEQ_KEY } from "./scripts.ts";
import { answerWithin } from "./watchdog.ts";

/** Entries read per XREAD (and ten times that per XRANGE while loading). */
const PAGE = 1000;
/** How long one XREAD blocks before it is issued again. */
const BLOCK_MS = 5_000;
/** The first pause after a failure; it doubles up to MAX_BACKOFF_MS. */
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2_000;

/**
 * What a loop that reads from Redis needs from the link (link.ts): this
 * follower's and the roster's (roster.ts).
 */
export interface LinkReading {
  /** The connection the loop reads on now (the link replaces it after a hang). */
  client: () => RedisClient;
  closed: () => boolean;
  /** False while Redis is known to be down. */
  up: () => boolean;
  /** A command failed: Redis counts as down. */
  down: (why: string) => void;
  /** A read succeeded while Redis counted as down. */
  ready: () => void;
  /** Redis did not answer in time (watchdog.ts). */
  hung: (why: string) => void;
}

/** Options of {@linkcode StreamFollower}. */
export interface FollowerOptions extends LinkReading {
  /** The local copy; filled only by the follower. */
  store: MemoryStore;
  logger: Logger;
  appends: AppendQueue;
  /** Entries were added; `authored` lists local members' as [member id, seq]. */
  arrived: (authored: [number, number][]) => void;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** An entry of the history stream, as the `redis` package gives it. */
interface StreamEntry {
  id: string;
  message: Record<string, string>;
}

const encoder = new TextEncoder();

/** Follows the history stream into the local store; see the top of this file. */
export class StreamFollower {
  readonly #options: FollowerOptions;
  #waiters: Waiter[] = [];
  /** Set after a lost connection: read the counter and catch up to it. */
  #resync = false;
  #running: Promise<void> | undefined;
  /** Cuts the pause between attempts short (on close). */
  #wake: (() => void) | undefined;

  constructor(options: FollowerOptions) {
    this.#options = options;
  }

  /** Reads the whole stream into the local store (at startup, before following). */
  async load(): Promise<void> {
    const store = this.#options.store;
    for (;;) {
      const start = `${store.lastSeq + 1}-0`;
      const page = await this.#options.client().xRange(HISTORY_KEY, start, "+", {
        COUNT: PAGE * 10,
      });
      if (page === null || page.length === 0) return;
      this.#apply(page, true);
    }
  }

  /** Follows the stream until the link closes. */
  start(): void {
    this.#running = this.#follow();
  }

  /** Appends were lost in flight: read the counter, and settle them once caught up to it. */
  resync(): void {
    this.#resync = true;
  }

  /** Resolves once the local store holds `seq`; rejects after `timeoutMs`, or on close. */
  caughtUp(seq: number, timeoutMs: number): Promise<void> {
    if (this.#options.store.lastSeq >= seq) return Promise.resolve();
    if (this.#options.closed()) return Promise.reject(new Unavailable("closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        reject(new Unavailable("the history did not catch up"));
      }, timeoutMs);
      const entry: Waiter = {
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

  /** Refuses what waits for the copy to catch up. */
  rejectWaiters(): void {
    for (const waiter of this.#waiters) waiter.reject(new Unavailable("closed"));
    this.#waiters = [];
  }

  /**
   * Ends following, once the link is closed and the follower's connection
   * destroyed (it may be blocked in XREAD): cuts a pause short and waits
   * for the loop to end.
   */
  async stop(): Promise<void> {
    this.#wake?.();
    await this.#running;
  }

  async #follow(): Promise<void> {
    const { closed, store, appends } = this.#options;
    const hang = () => this.#options.hung("the stream follower got no answer");
    let backoff = MIN_BACKOFF_MS;
    while (!closed()) {
      try {
        let target: number | undefined;
        /** Appends lost before the counter was read: the stream up to it tells their fate. */
        let settles = 0;
        if (this.#resync) {
          this.#resync = false;
          settles = appends.losses;
          const counter = await answerWithin(this.#options.client().get(SEQ_KEY), 0, hang);
          target = integerReply(counter) ?? 0;
        }
        for (;;) {
          const block = target === undefined ? BLOCK_MS : 1;
          const reply = await answerWithin(
            this.#options.client().xRead(
              { key: HISTORY_KEY, id: `${store.lastSeq}-0` },
              { COUNT: PAGE, BLOCK: block },
            ),
            block,
            hang,
          );
          const entries: StreamEntry[] = reply?.[0]?.messages ?? [];
          // An error that was not the connection's has passed.
          if (!this.#options.up()) this.#options.ready();
          if (entries.length > 0) this.#apply(entries);
          if (target !== undefined && (entries.length === 0 || store.lastSeq >= target)) {
            // In step again: posts lost in flight and not in the stream were never stored.
            appends.refuseInDoubt(settles);
            target = undefined;
          }
          if (this.#resync || closed()) break;
        }
        backoff = MIN_BACKOFF_MS;
      } catch (error) {
        if (closed()) return;
        this.#options.down(errorReason(error));
        this.#resync = true;
        const wait = pause(backoff);
        this.#wake = wait.wake;
        await wait.done;
        this.#wake = undefined;
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /**
   * Adds entries, in seq order, to the local store and reports them.
   * `loading`: the history at start, which may begin past seq 1 (trimmed).
   */
  #apply(entries: StreamEntry[], loading = false): void {
    const { store, logger, appends } = this.#options;
    const authored: [number, number][] = [];
    for (const entry of entries) {
      const seq = Number.parseInt(entry.id, 10);
      if (seq <= store.lastSeq) continue;
      if (seq > store.lastSeq + 1 && !loading) {
        logger.log("warning", {
          reason: `messages ${store.lastSeq + 1}..${
            seq - 1
          } are not in Redis (trimmed before this server read them, or Redis lost them)`,
        });
      }
      store.skipTo(seq, loading);
      const { from, message, time, origin } = entry.message;
      const own = appends.ownEntry(origin);
      if (typeof from !== "string" || typeof message !== "string" || typeof time !== "string") {
        logger.log("warning", { reason: `skipped a malformed history entry ${seq}-0` });
        store.skipTo(seq + 1);
        continue;
      }
      store.append(
        () => encoder.encode(encodeChatMessage({ from, message, time, seq })),
        own?.author ?? 0,
      );
      if (own !== undefined) {
        authored.push([own.author, seq]);
        appends.settle(own.number, seq);
      }
    }
    const last = store.lastSeq;
    if (this.#waiters.length > 0) {
      const ready = this.#waiters.filter((waiter) => waiter.seq <= last);
      this.#waiters = this.#waiters.filter((waiter) => waiter.seq > last);
      for (const waiter of ready) waiter.resolve();
    }
    this.#options.arrived(authored);
  }
}
