// The answers one connection owes, in the order of the frames that caused
// them (docs/server.md). Some answers are known at once (an error for a bad
// line, a `who`), some only later (an ack once the message is stored, a
// register once the registry holds it); a client without ids, a person
// typing into `openssl s_client` above all, tells them apart by their order
// alone. So each frame that owes an answer takes its place here: an answer
// known now goes out at once when nothing is owed before it, else it waits
// behind the earlier ones. Only the answering waits: what a frame does (a
// message relayed to the others, a kick) happens when it is read. An answer
// that takes longer than ANSWER_WAIT_MS (storage that hangs) stops holding
// back the rest, and goes out once known.
//
// Also the log of refused frames, capped per connection so that a peer
// cannot flood the log: a team debugging its client wants to see why.

import type { StatusFrame } from "../protocol.ts";
import { ANSWER_WAIT_MS, LOGGED_REJECTIONS } from "./limits.ts";

/** What the answers of one connection need from it. */
export interface AnswersContext {
  /** Queues a frame on the connection's outbox, now. */
  send(frame: StatusFrame): void;
  /** Logs a refused frame's reason (at most {@linkcode LOGGED_REJECTIONS} times, then once more). */
  logRejection(reason: string): void;
  /** A monotonic clock in milliseconds. */
  now(): number;
}

/** One answer owed: its action once known. */
interface Owed {
  give: (() => void) | undefined;
  /** When its frame was read. */
  since: number;
  /** Waited longer than ANSWER_WAIT_MS: no longer in the queue, given once known. */
  late: boolean;
}

/**
 * Keeps a connection's answers in the order of its frames.
 *
 * @example
 * ```ts
 * declare const context: AnswersContext; // the connection's outbox, log and clock
 * const answers = new Answers(context);
 * answers.later(Promise.resolve(), () => answers.reply({ status: "ok" }));
 * answers.reject("malformed JSON"); // written after the ok above
 * await answers.owed(); // once both are queued
 * answers.stop(); // the connection is gone
 * ```
 */
export class Answers {
  readonly #context: AnswersContext;
  /** The answers not given yet, from #head on, in the order of their frames. */
  #queue: Owed[] = [];
  #head = 0;
  /** Answers still to come, late ones included. */
  #unsettled = 0;
  /** An answer's turn is being served: what it gives goes out at once. */
  #giving = false;
  #rejected = 0;
  #drained: (() => void)[] = [];
  /** Set while the head of the queue waits: fires when it has waited ANSWER_WAIT_MS. */
  #timer: ReturnType<typeof setTimeout> | undefined;

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
    else {
      this.#queue.push({ give, since: 0, late: false });
      this.#arm();
    }
  }

  /**
   * Keeps the next place for an answer that `answer` settles: `given`
   * (or `failed`, when it rejects) gives it in its turn. Everything
   * answered after this waits for it, up to ANSWER_WAIT_MS.
   */
  later<T>(
    answer: Promise<T>,
    given: (value: T) => void,
    failed: (error: unknown) => void = () => {},
  ): void {
    const owed: Owed = { give: undefined, since: this.#context.now(), late: false };
    this.#queue.push(owed);
    this.#unsettled++;
    this.#arm();
    answer.then(
      (value) => this.#settle(owed, () => given(value)),
      (error) => this.#settle(owed, () => failed(error)),
    );
  }

  /**
   * An answer that keeps no place: `failed` (when `answer` rejects) is
   * given once known, after the answers owed then; nothing when it
   * resolves. `owed()` still waits for it.
   */
  whenever<T>(answer: Promise<T>, failed: (error: unknown) => void): void {
    this.#unsettled++;
    answer.then(
      () => this.#settleUnplaced(),
      (error) => this.#settleUnplaced(() => failed(error)),
    );
  }

  #settleUnplaced(give?: () => void): void {
    this.#unsettled--;
    if (give !== undefined) this.now(give);
    if (this.#head === this.#queue.length) this.#flush();
  }

  /** Resolves once every answer owed has been given; undefined when none is owed now. */
  owed(): Promise<void> | undefined {
    if (this.#unsettled === 0 && this.#head === this.#queue.length) return undefined;
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** The connection is gone: no more waiting (answers still to come are given once known). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#late(Infinity);
  }

  #settle(owed: Owed, give: () => void): void {
    this.#unsettled--;
    if (owed.late) this.#give(give);
    else owed.give = give;
    this.#flush();
  }

  /** Gives every answer known from the head on; stops at the first still to come. */
  #flush(): void {
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const owed = queue[this.#head];
      if (owed.late) {
        this.#head++;
        continue;
      }
      if (owed.give === undefined) {
        // A client that keeps sending may always owe one: drop what was given.
        if (this.#head > 1024 && this.#head * 2 > queue.length) {
          this.#queue = queue.slice(this.#head);
          this.#head = 0;
        }
        this.#arm();
        return;
      }
      this.#head++;
      this.#give(owed.give);
    }
    this.#queue = [];
    this.#head = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#unsettled > 0) return;
    const drained = this.#drained;
    this.#drained = [];
    for (const resolve of drained) resolve();
  }

  #give(give: () => void): void {
    this.#giving = true;
    try {
      give();
    } finally {
      this.#giving = false;
    }
  }

  /**
   * Starts the wait of the answer at the head, unless it is already running
   * or nothing waits behind it: the common case, one message at a time
   * stored before the next, then costs no timer (a timer per message cost
   * 10-20 % of the deliveries at N=10 fan-out).
   */
  #arm(): void {
    if (this.#timer !== undefined || this.#queue.length - this.#head < 2) return;
    const head = this.#queue[this.#head];
    const left = head.since + ANSWER_WAIT_MS - this.#context.now();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#late(this.#context.now() - ANSWER_WAIT_MS);
    }, Math.max(0, left));
  }

  /** Answers still to come whose frames were read by `cutoff` stop holding back the rest. */
  #late(cutoff: number): void {
    const queue = this.#queue;
    for (let i = this.#head; i < queue.length && queue[i].since <= cutoff; i++) {
      if (queue[i].give === undefined) queue[i].late = true;
    }
    this.#flush();
  }
}
