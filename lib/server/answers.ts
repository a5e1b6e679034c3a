// The answers one connection owes, in the order of the frames that caused
// them (docs/server.md). Some answers are known at once (an error for a bad
// line, a `who`), some only later (an ack once the message is stored, a
// register once the registry holds it); a client without ids, a person
// typing into `openssl s_client` above all, tells them apart by their order
// alone. So each frame that owes an answer takes its place here: an answer
// known now goes out at once when nothing is owed before it, else it waits
// behind the earlier ones. Only the answering waits: what a frame does (a
// message relayed to the others, a kick) happens when it is read.
//
// Also the log of refused frames, capped per connection so that a peer
// cannot flood the log: a team debugging its client wants to see why.

import type { StatusFrame } from "../protocol.ts";
import { LOGGED_REJECTIONS } from "./limits.ts";

/** What the answers of one connection need from it. */
export interface AnswersContext {
  /** Queues a frame on the connection's outbox, now. */
  send(frame: StatusFrame): void;
  /** Logs a refused frame's reason (at most {@linkcode LOGGED_REJECTIONS} times, then once more). */
  logRejection(reason: string): void;
}

/** One answer owed: its action once known. */
interface Owed {
  give: (() => void) | undefined;
}

/**
 * Keeps a connection's answers in the order of its frames.
 *
 * @example
 * ```ts
 * declare const context: AnswersContext; // the connection's outbox and log
 * const answers = new Answers(context);
 * answers.later(Promise.resolve(), () => answers.reply({ status: "ok" }));
 * answers.reject("malformed JSON"); // written after the ok above
 * await answers.owed(); // once both are queued
 * ```
 */
export class Answers {
  readonly #context: AnswersContext;
  /** The answers not given yet, from #head on, in the order of their frames. */
  #queue: Owed[] = [];
  #head = 0;
  /** An answer's turn is being served: what it gives goes out at once. */
  #giving = false;
  #rejected = 0;
  #drained: (() => void)[] = [];

  constructor(context: AnswersContext) {
    this.#context = context;
  }

  /** Answers with `frame`: at once, or after the answers owed before it. */
  reply(frame: StatusFrame): void {
    this.now(() => this.#context.send(frame));
  }

  /** Refuses a frame: an error with its reason (and `id`, if it had one), logged. */
  reject(reason: string, id?: string): void {
    this.#rejected++;
    if (this.#rejected <= LOGGED_REJECTIONS) {
      this.#context.logRejection(reason);
      if (this.#rejected === LOGGED_REJECTIONS) {
        this.#context.logRejection(
          "further rejected frames from this connection are not logged",
        );
      }
    }
    this.reply({ status: "error", reason, id });
  }

  /**
   * Gives an answer known now (`give` queues it: replies, or a `who`
   * event): at once when nothing is owed before it, else in its turn.
   */
  now(give: () => void): void {
    if (this.#giving || this.#head === this.#queue.length) give();
    else this.#queue.push({ give });
  }

  /**
   * Keeps the next place for an answer that `answer` settles: `given`
   * (or `failed`, when it rejects) gives it in its turn. Everything
   * answered after this waits for it.
   */
  later<T>(
    answer: Promise<T>,
    given: (value: T) => void,
    failed: (error: unknown) => void = () => {},
  ): void {
    const owed: Owed = { give: undefined };
    this.#queue.push(owed);
    answer.then(
      (value) => this.#settle(owed, () => given(value)),
      (error) => this.#settle(owed, () => failed(error)),
    );
  }

  /** Resolves once every answer owed has been given; undefined when none is owed now. */
  owed(): Promise<void> | undefined {
    if (this.#head === this.#queue.length) return undefined;
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  #settle(owed: Owed, give: () => void): void {
    owed.give = give;
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const next = queue[this.#head].give;
      if (next === undefined) {
        // A client that keeps sending may always owe one: drop what was given.
        if (this.#head > 1024 && this.#head * 2 > queue.length) {
          this.#queue = queue.slice(this.#head);
          this.#head = 0;
        }
        return;
      }
      this.#head++;
      this.#giving = true;
      try {
        next();
      } finally {
        this.#giving = false;
      }
    }
    this.#queue = [];
    this.#head = 0;
    const drained = this.#drained;
    this.#drained = [];
    for (const resolve of drained) resolve();
  }
}
