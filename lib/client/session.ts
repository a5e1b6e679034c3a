// The conversation with one server over time: connect, log in, and keep
// going across dropped connections.
//
// - Login: the first frame on every connection. The first answer without an
//   `id` is the login's answer; a refusal asks for another nickname on a
//   terminal and is fatal without one.
// - Reconnect: when the connection drops without the user asking, wait
//   (backoff.ts), log in with the same nickname and `since` = the last `seq`
//   seen, so the replay neither repeats nor misses.
// - Heartbeat: a blank line after a while without sending (heartbeat.ts),
//   so a server notices soon when we vanish.
// - What the user typed, and what the server says about it, goes to the
//   sending side (delivery.ts): the outgoing queue with its ids, acks and
//   pacing, and the replay filter that skips repeats and recognises our own
//   messages. `undelivered` says what did not get there.
// - The room (room.ts): every login asks for the features the client
//   speaks (§9); presence events and direct messages (§10, §11) go to the
//   caller as they come, and /who and /msg are refused, with nothing sent,
//   unless the server listed their feature.
// - Commands of §12–§13 wait for their answers in order
//   (pending_commands.ts); a ban or a kick ends the run (refusals.ts).
//
// This file owns the connection, the login's timers and the wait between
// attempts. Nothing here touches the terminal: what to show goes to
// SessionEvents.

import { decodeServerFrame, encodeLogin, type StatusFrame } from "../protocol.ts";
import { FatalError, Unavailable } from "../errors.ts";
import type { Link, LinkSink } from "./connect.ts";
import { Delivery, type SubmitResult } from "./delivery.ts";
import { stallReport } from "./end_of_input.ts";
import { backoffDelay } from "./backoff.ts";
import { Heartbeat, HEARTBEAT_LINE, HEARTBEAT_MS } from "./heartbeat.ts";
import { type CommandResult, type OpsCommand, PendingCommands } from "./pending_commands.ts";
import { cutReason, loginRefusal } from "./refusals.ts";
import { CLIENT_FEATURES, Room, type WhoResult } from "./room.ts";
import type { Phase, SessionEvents, SessionOptions, SessionStatus } from "./session_types.ts";
import { REAL_TIMERS, type TimerHandle, type Timers, wakeableSleep } from "./timers.ts";

export type { Phase, SessionEvents, SessionOptions, SessionStatus };

/** After this long without a login answer, say that we are waiting. */
export const LOGIN_NOTICE_MS = 5000;
/** Without a terminal, give up when the login is not answered in this time. */
export const LOGIN_TIMEOUT_MS = 30_000;

type Outcome = { reason: string; loggedIn: boolean };

/** One user's session with one server. Call {@linkcode run}, then feed it lines. */
export class Session {
  readonly #options: SessionOptions;
  readonly #events: SessionEvents;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #delivery: Delivery;
  readonly #heartbeat: Heartbeat;
  readonly #room = new Room((frame) => this.#write(frame));
  readonly #commands: PendingCommands;
  #nickname: string;

  #phase: Phase = "connecting";
  #retryAt: number | undefined;
  #link: Link | undefined;
  /** Settles the wait of the current connection or sleep. */
  #wake: (() => void) | undefined;
  #fail: ((error: Error) => void) | undefined;
  #awaitingLogin = false;
  #loggedIn = false;
  #everLoggedIn = false;
  #stopping = false;
  /** Why the run failed after it was asked to end (a login never answered): thrown by run(). */
  #failure: FatalError | undefined;
  /** When the current login went out, to say how long it waited. */
  #loginSentAt = 0;
  /** The last status reported, to report only changes. */
  #lastStatus = "";
  #loginTimers: TimerHandle[] = [];

  constructor(options: SessionOptions) {
    this.#options = options;
    this.#events = options.events;
    this.#timers = options.timers ?? REAL_TIMERS;
    this.#random = options.random ?? Math.random;
    this.#nickname = options.nickname;
    this.#delivery = new Delivery({
      label: options.label,
      timers: this.#timers,
      random: this.#random,
      nickname: () => this.#nickname,
      awaitingAnswer: () => this.#room.awaitingAnswer || this.#commands.awaiting,
      write: (text) => this.#write(text),
      message: (message, line) => this.#events.message(message, line),
      sent: (text, to) => this.#events.sent(text, to),
      notice: (text) => this.#events.notice(text),
      statusChanged: () => this.#emitStatus(),
      leave: () => this.quit(),
      stalled: () => this.#giveUp(),
    });
    this.#commands = new PendingCommands({
      write: (text) => this.#write(text),
      known: () => this.#room.known,
      supports: (feature) => this.#room.supports(feature),
      online: () => this.#loggedIn,
      done: (command, line, outcome, frame) => this.#events.answer(command, line, outcome, frame),
    });
    this.#heartbeat = new Heartbeat(
      this.#timers,
      options.heartbeatMs ?? HEARTBEAT_MS,
      () => this.#link?.write(HEARTBEAT_LINE),
    );
  }

  /** The nickname in use (it changes when the user picks another after a refusal). */
  get nickname(): string {
    return this.#nickname;
  }

  /** The features and the people of the room, as the server of the last login showed them. */
  get here(): Pick<Room, "known" | "supports" | "features" | "names"> {
    return this.#room;
  }

  /** The current status. */
  get status(): SessionStatus {
    return {
      phase: this.#phase,
      nickname: this.#nickname,
      retryAt: this.#phase === "waiting" ? this.#retryAt : undefined,
      queued: this.#delivery.queued,
      // Only once the server has acked: a server may number its messages and never ack.
      unconfirmed: this.#delivery.unconfirmed,
    };
  }

  /** What did not get there: {@linkcode Delivery.undelivered}, `notConfirmed`, `unnamedRefusals`. */
  get delivery(): Pick<Delivery, "undelivered" | "notConfirmed" | "unnamedRefusals"> {
    return this.#delivery;
  }

  /**
   * Connects and keeps the session going until {@linkcode quit}, or until
   * {@linkcode finish} has sent everything. Rejects on a fatal problem
   * (untrusted certificate, refused login without a terminal).
   */
  async run(): Promise<void> {
    let attempt = 0;
    try {
      while (!this.#stopping) {
        this.#setPhase("connecting");
        const outcome = await this.#connectOnce();
        if (this.#stopping) break;
        if (!this.#everLoggedIn && !this.#options.interactive) {
          throw new FatalError(outcome.reason);
        }
        if (outcome.loggedIn) attempt = 0;
        const delay = backoffDelay(attempt++, this.#random);
        this.#retryAt = this.#timers.now() + delay;
        this.#events.notice(`${outcome.reason}; reconnecting in ${Math.ceil(delay / 1000)} s`);
        this.#setPhase("waiting");
        const sleep = wakeableSleep(this.#timers, delay);
        this.#wake = sleep.wake;
        await sleep.done;
        this.#wake = undefined;
      }
    } catch (error) {
      if (!this.#stopping) throw error;
    } finally {
      this.#stopping = true;
      this.#clearLoginTimers();
      this.#heartbeat.stop();
      this.#delivery.stop();
      this.#commands.stop();
      this.#setPhase("closed");
    }
    if (this.#failure) throw this.#failure;
  }

  /** Queues a message (with `to`, a direct one), or says why not ({@linkcode Delivery.submit}). */
  submit(text: string, to?: string): SubmitResult {
    return this.#delivery.submit(text, to);
  }

  /** Asks the server who is here, or says why not ({@linkcode Room.who}). */
  who(): WhoResult {
    return this.#room.who();
  }

  /** Sends a command of §12–§13 (typed as `line`), or says why not ({@linkcode PendingCommands.submit}). */
  command(command: OpsCommand, line: string): CommandResult {
    return this.#commands.submit(command, line);
  }

  /** Resolves when the queue has room (or the session ended): a long pipe waits, never overflows. */
  room(): Promise<void> {
    return this.#delivery.room();
  }

  /** Leaves: closes the connection politely (close_notify) and ends {@linkcode run}. */
  async quit(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#clearLoginTimers();
    this.#heartbeat.stop();
    this.#delivery.stop();
    // At the end of input the caller lists what was not delivered.
    const unsent = this.#delivery.queued;
    if (unsent > 0 && !this.#delivery.finishing) {
      this.#events.notice(`${unsent} message(s) were not sent`);
    }
    const link = this.#link;
    this.#wake?.();
    if (link) await link.end();
  }

  /**
   * End of input: send what is pending, wait for the server to confirm it,
   * then leave politely. Gives up (and leaves) when for FINISH_WAIT_MS
   * nothing was sent or confirmed, e.g. because the server is gone.
   */
  finish(): void {
    this.#delivery.finish();
  }

  #connectOnce(): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        this.#wake = undefined;
        this.#fail = undefined;
        resolve(outcome);
      };
      this.#wake = () => settle({ reason: "stopped", loggedIn: false });
      this.#fail = (error) => {
        if (settled) return;
        settled = true;
        this.#link?.end();
        reject(error);
      };
      const sink: LinkSink = {
        line: (text) => this.#onLine(text),
        bad: (reason) => this.#events.notice(`dropped a line from the server: ${reason}`),
        closed: (reason) => {
          const loggedIn = this.#loggedIn;
          this.#onClosed();
          settle({
            reason: `connection to ${this.#options.label} lost (${
              reason ?? "closed by the server"
            })`,
            loggedIn,
          });
        },
      };
      this.#options.dial(sink).then((link) => {
        if (settled || this.#stopping) {
          link.end().then(() => settle({ reason: "stopped", loggedIn: false }));
          return;
        }
        this.#wake = () => {}; // From now on the link's close settles the wait.
        this.#link = link;
        this.#delivery.connected();
        this.#login();
      }, (error) => {
        if (error instanceof Unavailable) {
          settle({
            reason: `cannot connect to ${this.#options.label}: ${error.message}`,
            loggedIn: false,
          });
        } else {
          this.#fail?.(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
  }

  #login(): void {
    if (!this.#link) return;
    this.#awaitingLogin = true;
    this.#loginSentAt = this.#timers.now();
    this.#write(encodeLogin(this.#nickname, this.#delivery.lastSeq, CLIENT_FEATURES));
    this.#setPhase("logging-in");
    this.#clearLoginTimers();
    const label = this.#options.label;
    const leave = this.#options.interactive ? " (/quit to leave)" : "";
    this.#loginTimers.push(this.#timers.setTimeout(
      () => this.#events.notice(`still waiting for ${label} to answer the login${leave}`),
      LOGIN_NOTICE_MS,
    ));
    if (!this.#options.interactive) {
      const seconds = LOGIN_TIMEOUT_MS / 1000;
      this.#loginTimers.push(this.#timers.setTimeout(
        () => this.#fail?.(new FatalError(`${label} did not answer the login within ${seconds} s`)),
        LOGIN_TIMEOUT_MS,
      ));
    }
  }

  #onLine(text: string): void {
    const frame = decodeServerFrame(text);
    if (frame.type === "error") {
      this.#events.notice(`ignored a frame from the server: ${frame.reason}`);
      return;
    }
    if (frame.type === "direct" && !this.#room.supports("direct")) {
      // A server that did not list `direct` relayed it to everybody (a core server keeps a `to`).
      this.#delivery.message({ from: frame.from, message: frame.message, time: frame.time }, text);
    } else if (frame.type === "message") {
      this.#delivery.message(frame, text);
    } else if (frame.type === "direct") {
      this.#events.direct(frame, text);
    } else if (frame.type === "who" || frame.type === "join" || frame.type === "leave") {
      const atLogin = this.#room.apply(frame);
      this.#events.presence(frame, text, atLogin);
      if (frame.type === "who") this.#delivery.answered(atLogin);
    } else if (frame.type !== "status" || !this.#onStatus(frame, text)) {
      this.#events.frame(frame, text);
    }
  }

  /** Handles a status frame; true when it was an answer to a command, shown as such. */
  #onStatus(frame: StatusFrame, line: string): boolean {
    if (frame.id !== undefined) {
      this.#delivery.ack(frame);
    } else if (this.#awaitingLogin) {
      this.#awaitingLogin = false;
      this.#clearLoginTimers();
      if (frame.status === "ok") this.#onLoginOk(frame.features);
      else this.#onLoginRefused(frame.reason);
    } else if (cutReason(frame) !== undefined) {
      // An operator cut us off (§13); the server closes the connection. Shown as a frame too.
      this.#failure = new FatalError(`${frame.reason} (${this.#options.label}; not reconnecting)`);
      this.quit();
    } else if (this.#commands.answer(frame, line)) {
      this.#delivery.answered(false);
      return true;
    } else if (frame.status === "error" && this.#heartbeat.lastWasBeat) {
      // PROTOCOL.md §1 says to skip blank lines; this server does not.
      this.#heartbeat.disable();
      this.#events.notice(
        `${this.#options.label} answers a blank line with an error ` +
          `(${frame.reason ?? "no reason given"}): no more heartbeats to it`,
      );
    } else if (frame.status === "error") {
      this.#delivery.refused(frame.reason);
    }
    return false;
  }

  #onLoginOk(features: string[] | undefined): void {
    const first = !this.#everLoggedIn;
    const unasked = this.#room.loggedIn(features);
    this.#loggedIn = true;
    this.#everLoggedIn = true;
    this.#events.notice(
      first
        ? `logged in to ${this.#options.label} as ${this.#nickname}`
        : `reconnected to ${this.#options.label}`,
    );
    this.#delivery.online(first, this.#room.supports("direct"));
    this.#commands.loggedIn();
    if (unasked) this.#events.notice(unasked);
    // Only once logged in: a server that wrongly answers a blank line would
    // have its error taken for the login's answer.
    this.#heartbeat.start();
    this.#setPhase("online");
  }

  #onLoginRefused(reason: string | undefined): void {
    const choose = this.#options.chooseNickname;
    const refusal = loginRefusal(reason, this.#nickname, {
      everLoggedIn: this.#everLoggedIn,
      interactive: this.#options.interactive,
      canChoose: choose !== undefined,
    });
    if (refusal.then === "fail") {
      this.#fail?.(new FatalError(refusal.text));
      return;
    }
    this.#events.notice(refusal.text);
    if (refusal.then === "retry") {
      // Often the server has not yet noticed our old connection: retry later.
      this.#link?.end();
      return;
    }
    choose!(refusal.why).then((next) => {
      if (next === undefined) {
        this.quit();
        return;
      }
      this.#nickname = next;
      this.#emitStatus();
      this.#login(); // Same connection (PROTOCOL.md §2); if it closed, the reconnect uses `next`.
    }, (error) => this.#fail?.(error));
  }

  #onClosed(): void {
    this.#link = undefined;
    this.#loggedIn = false;
    this.#awaitingLogin = false;
    this.#clearLoginTimers();
    this.#heartbeat.stop();
    this.#room.offline();
    this.#delivery.offline();
    this.#commands.offline();
    this.#emitStatus();
  }

  /** Writes on the current connection; the heartbeat counts from the last write. */
  #write(text: string): void {
    if (!this.#link) return;
    this.#link.write(text);
    this.#heartbeat.wrote();
  }

  /** After end of input, nothing moved for FINISH_WAIT_MS: say where it got stuck, and leave. */
  #giveUp(): void {
    const report = stallReport({
      label: this.#options.label,
      everLoggedIn: this.#everLoggedIn,
      loggedIn: this.#loggedIn,
      awaitingLogin: this.#awaitingLogin,
      loginWaitedMs: this.#timers.now() - this.#loginSentAt,
    });
    if (report.fatal) this.#failure = new FatalError(report.text);
    else this.#events.notice(report.text);
    this.quit();
  }

  #setPhase(phase: Phase): void {
    this.#phase = phase;
    this.#emitStatus();
  }

  /** Reports the status when it changed (each report may redraw the prompt). */
  #emitStatus(): void {
    const status = this.status;
    const text = JSON.stringify(status);
    if (text === this.#lastStatus) return;
    this.#lastStatus = text;
    this.#events.status(status);
  }

  #clearLoginTimers(): void {
    for (const handle of this.#loginTimers) this.#timers.clearTimeout(handle);
    this.#loginTimers = [];
  }
}
