// Posts on their way into the shared history, and how each one's fate is
// decided.
//
// Everything posted in one turn of the event loop (a read's worth of
// frames, from every connection) goes to Redis in one script call, up to
// APPEND_BATCH. Each append is settled exactly once:
// - stored, with its seq: the script answered, or the stream follower saw
//   the entry (its origin tag names this server and the append's number),
//   whichever comes first;
// - refused (Unavailable): Redis answered with an error, or the
//   command never left (the client was offline);
// - in doubt: the connection died with the command in flight, so Redis may
//   or may not hold it. It is neither acked nor refused until the follower,
//   back in step, has read the stream up to a counter read after the loss:
//   there → stored, not there → refused. Nothing acked is lost, and nothing
//   refused was stored.

import { errorReason, Unavailable } from "../../errors.ts";
import type { Posted } from "../shared_chat.ts";
import { integerReply, mayHaveReachedRedis, type RedisClient } from "./client.ts";
import { APPEND_SCRIPT, HISTORY_KEY, runScript, SEQ_KEY } from "./scripts.ts";

/** Messages appended per script call. */
export const APPEND_BATCH = 500;
/** With a history limit, the stream keeps this many more entries than it, for servers behind. */
export const STREAM_SLACK = 100_000;

interface Pending {
  resolve(seq: number): void;
  reject(error: Error): void;
  /**
   * Set when the connection died with the append possibly in flight, so
   * Redis may or may not hold it: the count of such losses so far, this one
   * included. 0 while its fate is still the script's answer.
   */
  uncertain: number;
}

/** Options of {@linkcode AppendQueue}. */
export interface AppendQueueOptions {
  /** The connection commands go over now. */
  client: () => RedisClient;
  /** Tags this process's entries, so the follower knows its own. */
  serverId: string;
  /** The newest seq held locally: Redis never hands out one at or below it. */
  lastSeq: () => number;
  /** Keep the stream near this many entries (plus STREAM_SLACK); 0 for all. */
  historyLimit: number;
  /** An append was lost in flight: the follower must read the counter and catch up to it. */
  inDoubt: () => void;
}

/** An entry this server appended, as named by its origin tag. */
export interface OwnEntry {
  /** The local member who posted it. */
  author: number;
  /** The append's number, for settle(). */
  number: number;
}

/** The appends of one Redis link, batched, and each settled once; see the top of this file. */
export class AppendQueue {
  readonly #options: AppendQueueOptions;
  #next = 1;
  readonly #pending = new Map<number, Pending>();
  /** Appends waiting for this turn's script call: four fields each, and their numbers. */
  #queued: string[] = [];
  #queuedNumbers: number[] = [];
  #losses = 0;

  constructor(options: AppendQueueOptions) {
    this.#options = options;
  }

  /** Appends lost in flight so far (each settled by the follower). */
  get losses(): number {
    return this.#losses;
  }

  /** Queues a message from local member `author`; resolves to its seq once Redis holds it. */
  add(message: Posted, author: number): Promise<number> {
    const number = this.#next++;
    return new Promise<number>((resolve, reject) => {
      this.#pending.set(number, { resolve, reject, uncertain: 0 });
      if (this.#queued.length === 0) queueMicrotask(() => this.#flush());
      this.#queued.push(
        message.from,
        message.message,
        message.time,
        `${this.#options.serverId}/${author}/${number}`,
      );
      this.#queuedNumbers.push(number);
    });
  }

  /** The author and number of an entry whose `origin` tag is this server's; undefined otherwise. */
  ownEntry(origin: string | undefined): OwnEntry | undefined {
    const [server, authorTag, numberTag] = (origin ?? "").split("/");
    if (server !== this.#options.serverId) return undefined;
    const author = integerReply(authorTag), number = integerReply(numberTag);
    // A tag that names this server but no append of it was not written by it.
    if (author === undefined || number === undefined) return undefined;
    return { author, number };
  }

  /** Append `number` is stored as `seq` (the script said so, or the follower saw it). */
  settle(number: number, seq: number): void {
    const entry = this.#pending.get(number);
    if (entry === undefined) return;
    this.#pending.delete(number);
    entry.resolve(seq);
  }

  /**
   * The connection was dropped with these appends possibly in flight: every
   * one not in doubt yet is now, for the follower to settle.
   */
  doubtAll(): void {
    const loss = ++this.#losses;
    for (const entry of this.#pending.values()) {
      if (entry.uncertain === 0) entry.uncertain = loss;
    }
  }

  /**
   * Refuses the appends in doubt up to loss number `upTo`: the follower has
   * read the stream up to a counter read after their connection died, and
   * they were not in it. Later losses may still be stored after that
   * counter; they wait for the next round.
   */
  refuseInDoubt(upTo: number): void {
    for (const [number, entry] of this.#pending) {
      if (entry.uncertain === 0 || entry.uncertain > upTo) continue;
      this.#pending.delete(number);
      entry.reject(new Unavailable("the connection to Redis was lost"));
    }
  }

  /** Refuses every append not settled yet (the link is closing). */
  refuseAll(why: string): void {
    for (const entry of this.#pending.values()) entry.reject(new Unavailable(why));
    this.#pending.clear();
  }

  /** Sends the queued appends, up to APPEND_BATCH per script call. */
  #flush(): void {
    const { historyLimit } = this.#options;
    while (this.#queuedNumbers.length > 0) {
      const numbers = this.#queuedNumbers.splice(0, APPEND_BATCH);
      const fields = this.#queued.splice(0, numbers.length * 4);
      runScript(this.#options.client(), APPEND_SCRIPT, [SEQ_KEY, HISTORY_KEY], [
        String(this.#options.lastSeq()),
        // Some slack, so a server that falls behind for a moment misses nothing.
        String(historyLimit > 0 ? historyLimit + STREAM_SLACK : 0),
        ...fields,
      ]).then(
        (reply) => {
          // Anything but a seq: the follower settles them from the stream.
          const first = integerReply(reply);
          if (first !== undefined) numbers.forEach((number, i) => this.settle(number, first + i));
        },
        (error) => this.#failed(numbers, error),
      );
    }
  }

  /** A script call failed: refuse its appends, or leave them in doubt if it may have run. */
  #failed(numbers: number[], error: unknown): void {
    const definite = !mayHaveReachedRedis(error);
    // The answer was lost with the connection: the follower decides.
    const loss = definite ? 0 : ++this.#losses;
    for (const number of numbers) {
      const entry = this.#pending.get(number);
      // Seen by the follower already, or put in doubt when the link was replaced.
      if (entry === undefined || entry.uncertain > 0) continue;
      if (definite) {
        this.#pending.delete(number);
        entry.reject(new Unavailable(errorReason(error)));
      } else {
        entry.uncertain = loss;
      }
    }
    if (!definite) this.#options.inDoubt();
  }
}
