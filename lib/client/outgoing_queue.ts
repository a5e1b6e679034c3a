// The messages the user typed, from the moment they are submitted until the
// server has them: their ids, the pace they go out at, the server's answers
// (acks), and what happens when the server says "too fast" or "cannot store
// right now".
//
// - Every message waits here until it is sent, and (with a server that acks)
//   until it is confirmed. Messages go out paced by a token bucket
//   (pacer.ts) well under the server's rate limit.
// - A message the server refuses for its rate limit is resent after a pause,
//   before the ones still waiting, and sending goes on more slowly; one
//   refused because the server cannot store it is resent after a pause, one
//   message at a time; one refused for any other reason is reported as not
//   delivered.
// - Whether the server acks is one piece of state (`serverAcks`): it decides
//   what a dropped connection leaves in doubt, what end of input waits for,
//   and what counts as delivered. Only an ack proves it: a server may number
//   its messages (`seq`), or list features at login, and still never ack.
//   Core-only servers never ack, and nothing waits for an ack before sending.
// - What did not get there is said in two ways: "not delivered" only of what
//   is known not to have arrived (refused, or never written), "not
//   confirmed" of what was written to a server that acks but did not ack it.
// - A message in flight when the connection dropped is in doubt: the replay
//   filter (replay_filter.ts) decides whether it arrived.
// - A direct message (§11) carries its recipient (`to`) from the moment it
//   is typed, so it can only ever go out as one; its recipient's server may
//   turn out not to speak `direct`, and then it is dropped as not delivered
//   (`dropDirect`), never sent as public text.
//
// Nothing here has a timer or a connection: the sending side (delivery.ts)
// asks what to send now (`next`), passing the clock, and arms the timers the
// answers call for.

import { type StatusFrame, STORAGE_UNAVAILABLE } from "../protocol.ts";
import { preview } from "../terminal_text.ts";
import { SEND_BURST, SEND_RATE_PER_SECOND, SendPacer } from "./pacer.ts";

/** The most typed messages waiting to be sent; beyond it `submit` refuses and input waits. */
export const MAX_QUEUED_MESSAGES = 1000;
/** The most sent messages tracked until the server confirms them; older ones are forgotten. */
export const MAX_UNCONFIRMED = 1000;
/** After the server refused a message for its rate limit: pause this long, then resend it first. */
export const RATE_LIMIT_PAUSE_MS = 1000;
/** Each rate-limit pause halves the sending rate, down to this (messages a second). */
export const MIN_SEND_RATE_PER_SECOND = 1;
/** After a refusal for storage: pause this long, then resend, one message at a time. */
export const STORAGE_PAUSE_MS = 2000;

/** The reason (prefix) of our server's refusal of a frame over its rate limit. */
export const RATE_LIMIT_REASON = "rate limit exceeded";
/** One typed message, as the sending side and the replay filter see it. */
export interface OutgoingMessage {
  /** The id it is sent with; the server's ack names it. */
  readonly id: string;
  readonly text: string;
  /** A direct message's recipient (§11); undefined for a public message. */
  readonly to?: string;
  /** Say "delivered" when confirmed: it waited offline or is being resent. */
  readonly announce: boolean;
  /** It was in flight when the connection dropped: resend unless the replay shows it. */
  readonly inDoubt: boolean;
}

interface Entry extends OutgoingMessage {
  /** Submission order, for reporting. */
  readonly order: number;
  state: "queued" | "sent";
  announce: boolean;
  inDoubt: boolean;
  /** Already went out once (and was echoed). */
  echoed: boolean;
  /** Written, and not refused since: it may have reached the server. */
  written: boolean;
}

/** What {@linkcode OutgoingQueue.next} says to do now. */
export type NextStep =
  | { kind: "send"; item: OutgoingMessage }
  /** The pacing allows the next message in this many milliseconds. */
  | { kind: "wait"; ms: number }
  /** Nothing to send now (empty, or one message at a time and one is in flight). */
  | { kind: "idle" };

/** What an ack meant for the message it names. */
export type AckOutcome =
  /** No message in flight has that id. */
  | { kind: "unknown" }
  /** Not stored: it goes out again, before the messages queued after it. */
  | { kind: "retry"; item: OutgoingMessage; why: "rate limit" | "storage" }
  | { kind: "confirmed"; item: OutgoingMessage }
  | { kind: "refused"; item: OutgoingMessage; reason: string };

/** A pause the queue started: the caller waits `ms`, then calls {@linkcode OutgoingQueue.resume}. */
export interface Pause {
  ms: number;
  /** True the first time the server's rate limit was hit (worth a notice). */
  firstRateLimit: boolean;
}

/** Where the connection is, for {@linkcode OutgoingQueue.finishStep}. */
export interface LinkState {
  loggedIn: boolean;
  everLoggedIn: boolean;
  /** Waiting for the login's replay before sending. */
  holding: boolean;
  /** A command (/who) waits for its answer. */
  awaitingAnswer?: boolean;
}

/** What end of input does next: leave now, wait for more to happen, or give a server that may never ack a short drain. */
export type FinishStep = "leave" | "wait" | "drain";

/**
 * The outgoing queue of one session.
 *
 * @example
 * ```ts
 * const queue = new OutgoingQueue(Math.random, 0);
 * queue.add("hello", false);
 * const step = queue.next(0); // { kind: "send", item: { id: "…-1", text: "hello", … } }
 * if (step.kind === "send") queue.sent(step.item); // true: the first time, echo it
 * ```
 */
export class OutgoingQueue {
  readonly #idPrefix: string;
  #idCounter = 0;
  #items: Entry[] = [];
  /** Messages the server refused (other than for its rate limit or storage), for `undelivered`. */
  #refused: { order: number; text: string; to?: string }[] = [];
  /** The server acked a message: the one proof that it acks. */
  #acked = false;

  #pacer: SendPacer;
  /** Sending is paused after a refusal, until {@linkcode resume}. */
  #paused = false;
  /** The slower rate the rate-limit pause resumes at. */
  #resumeRate: number | undefined;
  /** After a refusal: slower, without bursts, until the queue is empty. */
  #recovering = false;
  /** ...and, with a server that answers every message, one message in flight at a time. */
  #oneAtATime = false;
  /** Rate-limit refusals without an id (an older server) not yet matched to messages. */
  #unnamedRefusals = 0;
  #rateLimitSeen = false;

  /**
   * @param random Uniform in [0, 1), for the ids' prefix.
   * @param nowMs The current time, for the pacing.
   */
  constructor(random: () => number, nowMs: number) {
    this.#idPrefix = Math.floor(random() * 2 ** 32).toString(36);
    this.#pacer = new SendPacer(SEND_RATE_PER_SECOND, SEND_BURST, nowMs);
  }

  /**
   * Whether the server acks our messages: true once it acked one (a `seq`
   * proves only `seq`). The one place that decides it.
   */
  get serverAcks(): boolean {
    return this.#acked;
  }

  /** Typed messages not yet sent. */
  get queued(): number {
    let queued = 0;
    for (const item of this.#items) if (item.state === "queued") queued++;
    return queued;
  }

  /** Messages sent and not yet confirmed (only counted once the server has acked one). */
  get unconfirmed(): number {
    return this.#acked ? this.#items.length - this.queued : 0;
  }

  /** True when no message is queued or waits for its ack. */
  get empty(): boolean {
    return this.#items.length === 0;
  }

  /** True when another message fits ({@linkcode MAX_QUEUED_MESSAGES}). */
  get hasRoom(): boolean {
    return this.queued < MAX_QUEUED_MESSAGES;
  }

  /** True while sending is paused after a refusal. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * The messages known not to have reached the server, in the order they
   * were submitted: refused by it, or never written (a refusal for its rate
   * limit or storage that was not resent counts as never written).
   */
  get undelivered(): string[] {
    const lost = this.#items.filter((item) => !item.written);
    return [...this.#refused, ...lost].sort((a, b) => a.order - b.order).map(asTyped);
  }

  /**
   * The messages written to a server that acks (it acked another) that it
   * did not ack: they may or may not have been stored. With a server that
   * never acks, a message written to the connection counts as delivered.
   */
  get notConfirmed(): string[] {
    if (!this.#acked) return [];
    return this.#items.filter((item) => item.written).map(asTyped);
  }

  /**
   * Queues a message (the caller checked {@linkcode hasRoom}); `announce`:
   * say when it is delivered; `to`: a direct message's recipient.
   */
  add(text: string, announce: boolean, to?: string): void {
    const order = ++this.#idCounter;
    this.#items.push({
      order,
      id: `${this.#idPrefix}-${order.toString(36)}`,
      text,
      ...(to === undefined ? {} : { to }),
      state: "queued",
      announce,
      inDoubt: false,
      echoed: false,
      written: false,
    });
  }

  /** What to send now, as far as the queue, the pacing and the server's limit allow. */
  next(nowMs: number): NextStep {
    const item = this.#items.find((entry) => entry.state === "queued");
    if (!item) {
      if (this.#recovering) {
        // Caught up: back to the usual pace, its burst building up again.
        this.#recovering = false;
        this.#oneAtATime = false;
        this.#pacer = new SendPacer(SEND_RATE_PER_SECOND, SEND_BURST, nowMs);
        this.#pacer.empty(nowMs);
      }
      return { kind: "idle" };
    }
    if (this.#oneAtATime && this.#items.some((entry) => entry.state === "sent")) {
      return { kind: "idle" };
    }
    if (!this.#pacer.take(nowMs)) return { kind: "wait", ms: Math.max(1, this.#pacer.wait(nowMs)) };
    return { kind: "send", item };
  }

  /** The message from {@linkcode next} was written. True the first time (the moment to echo it). */
  sent(message: OutgoingMessage): boolean {
    const item = this.#entry(message);
    if (!item) return false;
    item.state = "sent";
    item.written = true;
    const first = !item.echoed;
    item.echoed = true;
    let sent = this.#items.filter((entry) => entry.state === "sent").length;
    while (sent > MAX_UNCONFIRMED) {
      this.#items.splice(this.#items.findIndex((entry) => entry.state === "sent"), 1);
      sent--;
    }
    return first;
  }

  /** The server answered the message with `frame.id`. */
  ack(frame: StatusFrame): AckOutcome {
    // An ack of one of our ids: an ack of an id we never made proves nothing.
    if (frame.id?.startsWith(`${this.#idPrefix}-`)) this.#acked = true;
    const index = this.#items.findIndex((item) => item.id === frame.id && item.state === "sent");
    if (index === -1) return { kind: "unknown" };
    const item = this.#items[index];
    const rateLimited = frame.status === "error" && frame.reason?.startsWith(RATE_LIMIT_REASON);
    if (rateLimited || (frame.status === "error" && frame.reason === STORAGE_UNAVAILABLE)) {
      item.state = "queued";
      item.written = false;
      return { kind: "retry", item, why: rateLimited ? "rate limit" : "storage" };
    }
    this.#items.splice(index, 1);
    if (frame.status === "ok") return { kind: "confirmed", item };
    this.#refuse(item);
    return { kind: "refused", item, reason: frame.reason ?? "refused by the server" };
  }

  /**
   * The server does not speak `direct`: every direct message not yet sent
   * leaves the queue as not delivered (and is returned), so none can ever
   * reach a server that would relay it publicly.
   */
  dropDirect(): OutgoingMessage[] {
    const dropped = this.#items.filter((item) => item.to !== undefined);
    this.#items = this.#items.filter((item) => item.to === undefined);
    for (const item of dropped) this.#refuse(item);
    return dropped;
  }

  /** The server refused a message over its rate limit without saying which (an older server). */
  unnamedRefusal(): void {
    this.#unnamedRefusals++;
  }

  /**
   * An older server refuses a message over its rate limit without its id.
   * A server that acks answers every message once, so when as many messages
   * are in flight as there are such refusals, those messages are the ones
   * refused: they go back to the queue, in their order (and are returned).
   */
  settleUnnamedRefusals(): OutgoingMessage[] {
    if (this.#unnamedRefusals === 0 || !this.#acked) return [];
    const inFlight = this.#items.filter((item) => item.state === "sent");
    const refusals = this.#unnamedRefusals;
    if (inFlight.length > refusals) return []; // Answers still on their way.
    this.#unnamedRefusals = 0;
    if (inFlight.length < refusals) return []; // Not a server we understand: leave them unconfirmed.
    for (const item of inFlight) {
      item.state = "queued";
      item.written = false;
    }
    return inFlight;
  }

  /**
   * The server refused a message for its rate limit: pause, then go on more
   * slowly. With a server that answers every message, also keep one message
   * in flight at a time, so a refusal can only concern that one and the
   * order holds. Returns the pause to take, or undefined while one is on
   * (the refusals of one burst make one pause).
   */
  rateLimited(): Pause | undefined {
    this.#recovering = true;
    this.#oneAtATime = this.#acked;
    if (this.#paused) return undefined;
    this.#paused = true;
    this.#resumeRate = Math.max(MIN_SEND_RATE_PER_SECOND, this.#pacer.rate / 2);
    const firstRateLimit = !this.#rateLimitSeen;
    this.#rateLimitSeen = true;
    return { ms: RATE_LIMIT_PAUSE_MS, firstRateLimit };
  }

  /**
   * The server could not store a message: pause, then resend it, one message
   * at a time (so the order holds) until everything waiting has gone out.
   * Returns the pause to take, or undefined while one is on.
   */
  storageUnavailable(): Pause | undefined {
    this.#recovering = true;
    this.#oneAtATime = true;
    if (this.#paused) return undefined;
    this.#paused = true;
    return { ms: STORAGE_PAUSE_MS, firstRateLimit: false };
  }

  /** The pause is over: after a rate limit, no burst while recovering, one message per interval. */
  resume(nowMs: number): void {
    this.#paused = false;
    if (this.#resumeRate === undefined) return;
    this.#pacer = new SendPacer(this.#resumeRate, 1, nowMs);
    this.#pacer.empty(nowMs);
    this.#resumeRate = undefined;
  }

  /**
   * The connection dropped. In flight: with acks we know what is unconfirmed
   * and send it again (in doubt, the replay may show it arrived); without,
   * what was written counts as sent. A pause ends with the connection.
   */
  connectionLost(): void {
    this.#unnamedRefusals = 0;
    this.#paused = false;
    this.#resumeRate = undefined;
    const acks = this.serverAcks;
    this.#items = this.#items.filter((item) => item.state === "queued" || acks);
    for (const item of this.#items) {
      if (item.state === "sent") {
        item.state = "queued";
        item.inDoubt = true;
        item.announce = true;
      }
    }
  }

  /** The replay is over: messages still in doubt are resent. Returns how many. */
  resendInDoubt(): number {
    let count = 0;
    for (const item of this.#items) {
      if (item.inDoubt) {
        item.inDoubt = false;
        count++;
      }
    }
    return count;
  }

  /** The replay showed that `message` arrived: it leaves the queue. */
  arrived(message: OutgoingMessage): void {
    const index = this.#items.findIndex((item) => item === message);
    if (index !== -1) this.#items.splice(index, 1);
  }

  /** After end of input: what to do next, given the connection. */
  finishStep(link: LinkState): FinishStep {
    // Cut off with nothing left to send: no need to come back.
    if (this.empty && link.everLoggedIn && !link.loggedIn) return "leave";
    // Otherwise wait for the login and its replay (`--json < /dev/null` prints the history).
    if (!link.loggedIn || link.holding || link.awaitingAnswer) return "wait";
    if (this.queued > 0) return "wait";
    if (this.empty) return "leave";
    // Sent, not confirmed: a server that acks will (or FINISH_WAIT_MS gives up).
    if (this.serverAcks) return "wait";
    // Maybe a core-only server: an ack within the drain shows otherwise.
    return "drain";
  }

  #entry(message: OutgoingMessage): Entry | undefined {
    return this.#items.find((item) => item === message);
  }

  #refuse(item: Entry): void {
    this.#refused.push({ order: item.order, text: item.text, to: item.to });
    if (this.#refused.length > MAX_UNCONFIRMED) this.#refused.shift();
  }
}

/** A message as the user typed it: the text, or `/msg NICK text` for a direct one. */
export function asTyped(message: { text: string; to?: string }): string {
  return message.to === undefined ? message.text : `/msg ${message.to} ${message.text}`;
}

/** A message as notices quote it: `"text…"`, or `-> alice: "text…"` for a direct one. */
export function quoted(message: { text: string; to?: string }): string {
  const text = `"${preview(message.text)}"`;
  return message.to === undefined ? text : `-> ${message.to}: ${text}`;
}
