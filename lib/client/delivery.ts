// Getting what the user typed to the server, on time: the timers around the
// outgoing queue (outgoing_queue.ts) and the replay filter
// (replay_filter.ts), which decide but have no clock.
//
// - After each login nothing is sent until the replay is over (the `who`
//   event of §10 marks its end; without presence, quiet for REPLAY_QUIET_MS,
//   or REPLAY_MAX_WAIT_MS at most), so our messages come after it on every
//   screen, and a message in doubt is resent only when the replay does not
//   show it.
// - Then messages go out as fast as the pacing allows; a refusal for the
//   server's rate limit or its storage pauses sending, then resends.
// - End of input (pipes): send everything, wait for the acks, then leave
//   (end_of_input.ts has its timers).
// - A direct message (§11) goes the same way, with its id and ack, but
//   only to a server that listed `direct`; the replay filter never sees it
//   (never replayed, so no public line can be taken for one).
//
// The session (session.ts) owns the connection: it says when one is up,
// logged in, or gone, and hands over what arrives; frames go out through it.

import {
  type ChatMessage,
  checkMessageText,
  DEFAULT_MAX_MESSAGE_BYTES,
  encodeDirectSend,
  encodeSend,
  type StatusFrame,
} from "../protocol.ts";
import { EndOfInput, type EndOfInputHost } from "./end_of_input.ts";
import {
  MAX_QUEUED_MESSAGES,
  type OutgoingMessage,
  OutgoingQueue,
  type Pause,
  quoted,
  RATE_LIMIT_REASON,
} from "./outgoing_queue.ts";
import { ReplayFilter } from "./replay_filter.ts";
import type { TimerHandle, Timers } from "./timers.ts";

/** The replay is taken as over when no message arrived for this long... */
export const REPLAY_QUIET_MS = 300;
/** ...or at the latest after this long; then waiting and unconfirmed messages are sent. */
export const REPLAY_MAX_WAIT_MS = 3000;
export { FINISH_DRAIN_MS, FINISH_WAIT_MS } from "./end_of_input.ts";

/** Why a direct message is not sent: the server did not list `direct` (§9). */
export const NO_DIRECT_REASON = "this server does not support direct messages (/msg)";

/** The answer to {@linkcode Delivery.submit}. */
export type SubmitResult =
  | { ok: true; /** True when it waits for a connection. */ queued: boolean }
  | { ok: false; reason: string };

/** What a {@linkcode Delivery} needs from its session (`leave` and `stalled`: end of input). */
export interface DeliveryHost extends EndOfInputHost {
  /** The server as the user knows it (`host:port`), for notices. */
  readonly label: string;
  /** Uniform in [0, 1), for the messages' ids. */
  readonly random: () => number;
  /** Our nickname now (our own messages come back under it; it may change after a refusal). */
  nickname(): string;
  /** True while a command waits for its answer (end of input waits for it too). */
  awaitingAnswer(): boolean;
  /** Writes frames on the current connection. */
  write(text: string): void;
  /** A received message to show (repeats and our own already left out). */
  message(message: ChatMessage, line: string): void;
  /** One of our messages went out for the first time (the moment to echo it); `to` for a direct one. */
  sent(text: string, to?: string): void;
  /** A sentence for the user. */
  notice(text: string): void;
  /** What the status shows may have changed. */
  statusChanged(): void;
}

/**
 * The sending side of one session.
 *
 * @example
 * ```ts
 * import { REAL_TIMERS } from "./timers.ts";
 *
 * const delivery = new Delivery({
 *   label: "localhost:1337",
 *   timers: REAL_TIMERS,
 *   random: Math.random,
 *   nickname: () => "bob",
 *   awaitingAnswer: () => false,
 *   write: (text) => console.log(text),
 *   message: () => {},
 *   sent: () => {},
 *   notice: () => {},
 *   statusChanged: () => {},
 *   leave: () => {},
 *   stalled: () => {},
 * });
 * delivery.submit("hello"); // { ok: true, queued: true }: waits for a login
 * delivery.stop();
 * ```
 */
export class Delivery {
  readonly #host: DeliveryHost;
  readonly #timers: Timers;
  readonly #queue: OutgoingQueue;
  readonly #replay = new ReplayFilter<OutgoingMessage>();
  readonly #end: EndOfInput;
  #online = false;
  #everOnline = false;
  #stopped = false;
  /** Whether the server of the last login listed `direct`; undefined before the first login. */
  #direct: boolean | undefined;
  /** After a login: wait for the replay before sending. */
  #holding = false;
  #holdDeadline = 0;
  #roomWaiters: (() => void)[] = [];
  /** See {@linkcode unnamedRefusals}. */
  #unnamed = { count: 0, reason: "" };
  /** On this connection: messages written, and refusals naming none (one answer per frame at most). */
  #here = { sent: 0, unnamed: 0 };

  #holdTimer: TimerHandle | undefined;
  #pumpTimer: TimerHandle | undefined;
  #pauseTimer: TimerHandle | undefined;

  constructor(host: DeliveryHost) {
    this.#host = host;
    this.#timers = host.timers;
    this.#queue = new OutgoingQueue(host.random, this.#timers.now());
    this.#end = new EndOfInput(host, this.#queue, () => ({
      loggedIn: this.#online,
      everLoggedIn: this.#everOnline,
      holding: this.#holding,
      awaitingAnswer: host.awaitingAnswer(),
    }));
  }

  /** Typed messages not yet sent. */
  get queued(): number {
    return this.#queue.queued;
  }

  /** Messages sent and not yet confirmed (only counted once the server has acked one). */
  get unconfirmed(): number {
    return this.#queue.unconfirmed;
  }

  /** See {@linkcode OutgoingQueue.undelivered}. */
  get undelivered(): string[] {
    return this.#queue.undelivered;
  }

  /** See {@linkcode OutgoingQueue.notConfirmed}. */
  get notConfirmed(): string[] {
    return this.#queue.notConfirmed;
  }

  /** True after end of input ({@linkcode finish}). */
  get finishing(): boolean {
    return this.#end.finishing;
  }

  /** The last seq seen: the login's `since`. */
  get lastSeq(): number | undefined {
    return this.#replay.lastSeq;
  }

  /**
   * Queues a message (a direct one with its recipient `to`); it goes out as
   * soon as the connection, the replay and the pacing allow. Refuses an
   * empty or too long message, one that would overflow the queue, and a
   * direct one when the server did not list `direct`.
   */
  submit(text: string, to?: string): SubmitResult {
    const invalid = checkMessageText(text, DEFAULT_MAX_MESSAGE_BYTES);
    if (invalid) return { ok: false, reason: invalid };
    if (this.#stopped || this.finishing) return { ok: false, reason: "the session is ending" };
    // Before the first login nobody knows: it waits, and goes only where `direct` is listed.
    if (to !== undefined && this.#direct === false) return { ok: false, reason: NO_DIRECT_REASON };
    if (!this.#queue.hasRoom) {
      return {
        ok: false,
        reason: `${MAX_QUEUED_MESSAGES} messages are already waiting to be sent`,
      };
    }
    const connected = this.#online;
    // Lines waiting for the first login are ordinary; lines typed while cut off are news.
    this.#queue.add(text, !connected && this.#everOnline, to);
    this.#pump();
    return { ok: true, queued: !connected };
  }

  /** Resolves when the queue has room for another message, or sending stopped. */
  room(): Promise<void> {
    if (this.#stopped || this.#queue.hasRoom) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /** End of input: send what is pending, wait for it to be confirmed, then leave. */
  finish(): void {
    this.#end.begin();
  }

  /** A connection is open (before its login). */
  connected(): void {
    this.#replay.connected();
    this.#here = { sent: 0, unnamed: 0 };
  }

  /**
   * The login succeeded: hold the messages until its replay is over.
   * `direct`: whether the server listed it; if not, waiting direct
   * messages are not delivered (never sent as public text).
   */
  online(first: boolean, direct: boolean): void {
    this.#online = true;
    this.#everOnline = true;
    this.#direct = direct;
    if (!direct) {
      for (const item of this.#queue.dropDirect()) {
        this.#host.notice(`not delivered: ${quoted(item)}: ${NO_DIRECT_REASON}`);
      }
    }
    if (this.#replay.loggedIn(first)) {
      this.#host.notice("the server's replay begins here (messages already shown are skipped)");
    }
    // Messages go out after the replay, so they come after it on every screen,
    // and a message in doubt is resent only when the replay does not show it.
    this.#holding = true;
    this.#holdDeadline = this.#timers.now() + REPLAY_MAX_WAIT_MS;
    this.#armHold();
  }

  /**
   * An answer came: a `who` event (§10; the one after a login, `atLogin`,
   * ends its replay) or a command's (§12–§13). End of input may be done.
   */
  answered(atLogin: boolean): void {
    if (atLogin && this.#holding) {
      this.#holdDeadline = this.#timers.now();
      this.#armHold();
    }
    this.#end.check();
  }

  /** A message from the server: shown unless the replay filter leaves it out. */
  message(message: ChatMessage, line: string): void {
    if (this.#holding) this.#armHold();
    const verdict = this.#replay.accept(message, this.#host.nickname());
    if (verdict.restarted) this.#host.notice("the server's message numbers restarted");
    if (verdict.arrived) {
      this.#queue.arrived(verdict.arrived);
      this.#host.notice(`delivered: ${quoted(verdict.arrived)}`);
      this.#end.progress();
      this.#host.statusChanged();
    }
    if (verdict.show) this.#host.message(message, line);
  }

  /** The server answered one of our messages (a status frame with its id). */
  ack(frame: StatusFrame): void {
    const outcome = this.#queue.ack(frame);
    if (outcome.kind === "unknown") return;
    const item = outcome.item;
    if (outcome.kind === "retry") {
      this.#replay.withdrawn(item);
      if (outcome.why === "rate limit") this.#rateLimited();
      else this.#storageUnavailable(item);
      this.#settleUnnamedRefusals();
      this.#host.statusChanged();
      return;
    }
    if (outcome.kind === "confirmed") {
      this.#replay.confirmed(item);
      if (item.announce) this.#host.notice(`delivered: ${quoted(item)}`);
    } else {
      this.#replay.withdrawn(item);
      this.#host.notice(`not delivered: ${quoted(item)}: ${outcome.reason}`);
    }
    this.#settleUnnamedRefusals();
    this.#end.progress();
    this.#pump();
  }

  /** An error status without an id after the login: a refusal not tied to one message. */
  refused(reason: string | undefined): void {
    if (reason === RATE_LIMIT_REASON) {
      // An older server's refusal without the id (#rateLimited says it once).
      this.#queue.unnamedRefusal();
      this.#rateLimited();
      this.#settleUnnamedRefusals();
      return;
    }
    this.#host.notice(`server: ${reason ?? "error (no reason given)"}`);
    // "…: closing the connection": the reconnect sends more slowly.
    if (reason?.startsWith(RATE_LIMIT_REASON)) {
      this.#rateLimited();
      return;
    }
    // A core server refuses a message this way (it knows no ids): one of ours
    // was not stored, and we cannot tell which. Only when one may be meant.
    if (this.#here.unnamed >= this.#here.sent) return;
    this.#here.unnamed++;
    this.#unnamed = { count: this.#unnamed.count + 1, reason: reason ?? "no reason given" };
  }

  /** Refusals after the login that named no message (not rate limits): some message was not stored. */
  get unnamedRefusals(): { count: number; reason: string } {
    return this.#unnamed;
  }

  /** The connection is gone: what was in flight is in doubt (or, without acks, sent). */
  offline(): void {
    this.#online = false;
    this.#holding = false;
    this.#clearTimers();
    this.#queue.connectionLost();
    this.#replay.connectionLost(); // After the queue marked what is in doubt.
    this.#end.check(); // Cut off with nothing left to send: no need to come back.
  }

  /** The session ends: no more timers, and whoever waits for room goes on. */
  stop(): void {
    this.#stopped = true;
    this.#clearTimers();
    this.#end.stop();
    this.#wakeRoomWaiters();
  }

  /** Messages an older server refused without their ids go back to the queue. */
  #settleUnnamedRefusals(): void {
    for (const item of this.#queue.settleUnnamedRefusals()) this.#replay.withdrawn(item);
  }

  /** The server refused a message for its rate limit: pause, then go on more slowly. */
  #rateLimited(): void {
    const pause = this.#queue.rateLimited();
    if (!pause) return;
    if (pause.firstRateLimit) {
      this.#host.notice(
        `${this.#host.label} limits how fast we may send: pausing ${
          pause.ms / 1000
        } s, then resending more slowly`,
      );
    }
    this.#pauseSending(pause);
  }

  /** The server could not store a message: pause, then resend one message at a time. */
  #storageUnavailable(item: OutgoingMessage): void {
    const pause = this.#queue.storageUnavailable();
    if (!pause) return;
    this.#host.notice(
      `the server cannot store messages right now; resending ${quoted(item)} in ${
        pause.ms / 1000
      } s`,
    );
    this.#pauseSending(pause);
  }

  #pauseSending(pause: Pause): void {
    this.#clearPumpTimer();
    this.#pauseTimer = this.#timers.setTimeout(() => {
      this.#pauseTimer = undefined;
      this.#queue.resume(this.#timers.now());
      this.#pump();
    }, pause.ms);
  }

  #armHold(): void {
    if (this.#holdTimer !== undefined) this.#timers.clearTimeout(this.#holdTimer);
    const wait = Math.max(0, Math.min(REPLAY_QUIET_MS, this.#holdDeadline - this.#timers.now()));
    this.#holdTimer = this.#timers.setTimeout(() => {
      this.#holdTimer = undefined;
      this.#holding = false;
      this.#replay.replayOver();
      const doubtful = this.#queue.resendInDoubt();
      if (doubtful > 0) {
        this.#host.notice(`resending ${doubtful} message(s) the server had not confirmed`);
      }
      this.#pump();
    }, wait);
  }

  /** Sends what the connection, the replay, the pacing and the server's limit allow. */
  #pump(): void {
    this.#clearPumpTimer();
    if (this.#stopped) return;
    if (!this.#online || this.#holding || this.#queue.paused) {
      this.#host.statusChanged();
      return;
    }
    let announced = 0;
    while (true) {
      const step = this.#queue.next(this.#timers.now());
      if (step.kind === "idle") break;
      if (step.kind === "wait") {
        this.#pumpTimer = this.#timers.setTimeout(() => {
          this.#pumpTimer = undefined;
          this.#pump();
        }, step.ms);
        break;
      }
      if (step.item.announce) announced++;
      this.#send(step.item);
    }
    if (announced > 0 && !this.#queue.serverAcks) {
      this.#host.notice(`sent ${announced} queued message(s)`);
    }
    this.#wakeRoomWaiters();
    this.#host.statusChanged();
    this.#end.check();
  }

  #send(item: OutgoingMessage): void {
    const to = item.to;
    this.#host.write(
      to === undefined ? encodeSend(item.text, item.id) : encodeDirectSend(to, item.text, item.id),
    );
    this.#here.sent++;
    if (this.#queue.sent(item)) this.#host.sent(item.text, to);
    // Only public messages come back in a replay.
    if (to === undefined) this.#replay.sent(item);
    this.#end.progress();
  }

  #wakeRoomWaiters(): void {
    if (this.#roomWaiters.length === 0) return;
    if (!this.#stopped && !this.#queue.hasRoom) return;
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #clearPumpTimer(): void {
    if (this.#pumpTimer !== undefined) this.#timers.clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
  }

  /** The timers of one connection (the finish deadline outlives a connection). */
  #clearTimers(): void {
    this.#clearPumpTimer();
    for (const handle of [this.#holdTimer, this.#pauseTimer]) {
      if (handle !== undefined) this.#timers.clearTimeout(handle);
    }
    this.#holdTimer = undefined;
    this.#pauseTimer = undefined;
    this.#end.connectionGone();
  }
}
