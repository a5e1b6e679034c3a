// Getting what the user typed to the server, on time: the timers around the
// outgoing queue (outgoing_queue.ts) and the replay filter
// (replay_filter.ts), which decide but have no clock.
//
// - After each login nothing is sent until the replay is over (quiet for
//   REPLAY_QUIET_MS, or REPLAY_MAX_WAIT_MS at most), so our messages come
//   after it on every screen, and a message in doubt is resent only when
//   the replay does not show it.
// - Then messages go out as fast as the pacing allows; a refusal for the
//   server's rate limit or its storage pauses sending, then resends.
// - End of input (pipes): send everything, wait for the acks (or, with a
//   server that never acks, a short drain), then leave; give up when nothing
//   moves for FINISH_WAIT_MS.
//
// The session (session.ts) owns the connection: it says when one is up,
// logged in, or gone, and hands over what arrives; frames go out through it.

import {
  type ChatMessage,
  checkMessageText,
  DEFAULT_MAX_MESSAGE_BYTES,
  encodeSend,
  type StatusFrame,
} from "../protocol.ts";
import { preview } from "../terminal_text.ts";
import {
  MAX_QUEUED_MESSAGES,
  type OutgoingMessage,
  OutgoingQueue,
  type Pause,
  RATE_LIMIT_REASON,
} from "./outgoing_queue.ts";
import { ReplayFilter } from "./replay_filter.ts";
import type { TimerHandle, Timers } from "./timers.ts";

/** The replay is taken as over when no message arrived for this long... */
export const REPLAY_QUIET_MS = 300;
/** ...or at the latest after this long; then waiting and unconfirmed messages are sent. */
export const REPLAY_MAX_WAIT_MS = 3000;
/** After end of input, give up when for this long no message went out or was confirmed. */
export const FINISH_WAIT_MS = 10_000;
/** After end of input, a server that has not acked yet gets this long to show that it acks. */
export const FINISH_DRAIN_MS = 1000;

/** The answer to {@linkcode Delivery.submit}. */
export type SubmitResult =
  | { ok: true; /** True when it waits for a connection. */ queued: boolean }
  | { ok: false; reason: string };

/** What a {@linkcode Delivery} needs from its session. */
export interface DeliveryHost {
  /** The server as the user knows it (`host:port`), for notices. */
  readonly label: string;
  readonly timers: Timers;
  /** Uniform in [0, 1), for the messages' ids. */
  readonly random: () => number;
  /** Our nickname now (our own messages come back under it; it may change after a refusal). */
  nickname(): string;
  /** Writes frames on the current connection. */
  write(text: string): void;
  /** A received message to show (repeats and our own already left out). */
  message(message: ChatMessage, line: string): void;
  /** One of our messages went out for the first time (the moment to echo it). */
  sent(text: string): void;
  /** A sentence for the user. */
  notice(text: string): void;
  /** What the status shows may have changed. */
  statusChanged(): void;
  /** End of input is done: everything got there, or nothing is left to wait for. */
  leave(): void;
  /** End of input: nothing moved for FINISH_WAIT_MS. */
  stalled(): void;
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
  #online = false;
  #everOnline = false;
  #stopped = false;
  #finishing = false;
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
  #drainTimer: TimerHandle | undefined;
  #finishTimer: TimerHandle | undefined;

  constructor(host: DeliveryHost) {
    this.#host = host;
    this.#timers = host.timers;
    this.#queue = new OutgoingQueue(host.random, this.#timers.now());
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
    return this.#finishing;
  }

  /** The last seq seen: the login's `since`. */
  get lastSeq(): number | undefined {
    return this.#replay.lastSeq;
  }

  /**
   * Queues a message; it goes out as soon as the connection, the replay and
   * the pacing allow. Refuses an empty or too long message and one that
   * would overflow the queue.
   */
  submit(text: string): SubmitResult {
    const invalid = checkMessageText(text, DEFAULT_MAX_MESSAGE_BYTES);
    if (invalid) return { ok: false, reason: invalid };
    if (this.#stopped || this.#finishing) return { ok: false, reason: "the session is ending" };
    if (!this.#queue.hasRoom) {
      return {
        ok: false,
        reason: `${MAX_QUEUED_MESSAGES} messages are already waiting to be sent`,
      };
    }
    const connected = this.#online;
    // Lines waiting for the first login are ordinary; lines typed while cut off are news.
    this.#queue.add(text, !connected && this.#everOnline);
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
    if (this.#finishing) return;
    this.#finishing = true;
    this.#progress();
    this.#maybeFinish();
  }

  /** A connection is open (before its login). */
  connected(): void {
    this.#replay.connected();
    this.#here = { sent: 0, unnamed: 0 };
  }

  /** The login succeeded: hold the messages until its replay is over. */
  online(first: boolean): void {
    this.#online = true;
    this.#everOnline = true;
    if (this.#replay.loggedIn(first)) {
      this.#host.notice("the server's replay begins here (messages already shown are skipped)");
    }
    // Messages go out after the replay, so they come after it on every screen,
    // and a message in doubt is resent only when the replay does not show it.
    this.#holding = true;
    this.#holdDeadline = this.#timers.now() + REPLAY_MAX_WAIT_MS;
    this.#armHold();
  }

  /** A message from the server: shown unless the replay filter leaves it out. */
  message(message: ChatMessage, line: string): void {
    if (this.#holding) this.#armHold();
    const verdict = this.#replay.accept(message, this.#host.nickname());
    if (verdict.restarted) this.#host.notice("the server's message numbers restarted");
    if (verdict.arrived) {
      this.#queue.arrived(verdict.arrived);
      this.#host.notice(`delivered: "${preview(verdict.arrived.text)}"`);
      this.#progress();
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
      else this.#storageUnavailable(item.text);
      this.#settleUnnamedRefusals();
      this.#host.statusChanged();
      return;
    }
    if (outcome.kind === "confirmed") {
      this.#replay.confirmed(item);
      if (item.announce) this.#host.notice(`delivered: "${preview(item.text)}"`);
    } else {
      this.#replay.withdrawn(item);
      this.#host.notice(`not delivered: "${preview(item.text)}": ${outcome.reason}`);
    }
    this.#settleUnnamedRefusals();
    this.#progress();
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
    this.#maybeFinish(); // Cut off with nothing left to send: no need to come back.
  }

  /** The session ends: no more timers, and whoever waits for room goes on. */
  stop(): void {
    this.#stopped = true;
    this.#clearTimers();
    this.#clearFinishTimer();
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
  #storageUnavailable(text: string): void {
    const pause = this.#queue.storageUnavailable();
    if (!pause) return;
    this.#host.notice(
      `the server cannot store messages right now; resending "${preview(text)}" in ${
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
    this.#maybeFinish();
  }

  #send(item: OutgoingMessage): void {
    this.#host.write(encodeSend(item.text, item.id));
    this.#here.sent++;
    if (this.#queue.sent(item)) this.#host.sent(item.text);
    this.#replay.sent(item);
    this.#progress();
  }

  #maybeFinish(): void {
    if (!this.#finishing || this.#stopped) return;
    const step = this.#queue.finishStep({
      loggedIn: this.#online,
      everLoggedIn: this.#everOnline,
      holding: this.#holding,
    });
    if (step === "leave") {
      this.#host.leave();
    } else if (step === "drain") {
      this.#drainTimer ??= this.#timers.setTimeout(() => {
        this.#drainTimer = undefined;
        if (!this.#queue.serverAcks) this.#host.leave();
      }, FINISH_DRAIN_MS);
    }
  }

  /** After end of input, something moved: the deadline starts again. */
  #progress(): void {
    if (!this.#finishing || this.#stopped) return;
    this.#clearFinishTimer();
    this.#finishTimer = this.#timers.setTimeout(() => {
      this.#finishTimer = undefined;
      this.#host.stalled();
    }, FINISH_WAIT_MS);
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

  #clearFinishTimer(): void {
    if (this.#finishTimer !== undefined) this.#timers.clearTimeout(this.#finishTimer);
    this.#finishTimer = undefined;
  }

  /** The timers of one connection (the finish deadline outlives a connection). */
  #clearTimers(): void {
    this.#clearPumpTimer();
    for (const handle of [this.#holdTimer, this.#pauseTimer, this.#drainTimer]) {
      if (handle !== undefined) this.#timers.clearTimeout(handle);
    }
    this.#holdTimer = undefined;
    this.#pauseTimer = undefined;
    this.#drainTimer = undefined;
  }
}
