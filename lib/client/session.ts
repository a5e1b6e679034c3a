// The conversation with one server over time: log in, keep going across
// dropped connections, and make sure what the user typed gets there once.
//
// - Login: the first frame on every connection. The first answer without an
//   `id` is the login's answer; a refusal asks for another nickname on a
//   terminal and is fatal without one.
// - Reconnect: when the connection drops without the user asking, wait
//   (1 s doubling to 30 s, with jitter), log in with the same nickname and
//   `since` = the last `seq` seen, so the replay neither repeats nor misses.
//   Against a server without `seq`, the replay is marked and its prefix of
//   messages already shown is skipped.
// - Outbox: lines typed while offline wait here and go out after the login.
//   Every message carries an `id`; a server with acks confirms it, and a
//   message that was in flight when the connection dropped is resent unless
//   the replay shows it arrived. Core-only servers never ack: nothing waits
//   for an ack before sending the next line.
//
// Nothing here touches the terminal: what to show goes to SessionEvents.

import { encodeLogin, encodeSend } from "../protocol.ts";
import {
  type ChatMessage,
  checkMessageText,
  decodeServerFrame,
  DEFAULT_MAX_MESSAGE_BYTES,
  type ServerFrame,
  type StatusFrame,
} from "../protocol.ts";
import { nicknameKey } from "../nickname.ts";
import { DialError, type Link, type LinkSink } from "./connect.ts";
import { truncate } from "./sanitize.ts";

/** The most typed messages waiting to be sent; beyond it a new line is refused with a notice. */
export const MAX_QUEUED_MESSAGES = 1000;
/** The most sent messages tracked until the server confirms them; older ones are forgotten. */
export const MAX_UNCONFIRMED = 1000;
/** Own messages remembered to recognise them in a replay after reconnecting. */
export const SENT_LOG_LIMIT = 200;
/** Messages remembered (as hashes) to skip them when a replay repeats them. */
export const SEEN_LIMIT = 5000;
/** First reconnect delay; it doubles per failed attempt. */
export const BACKOFF_INITIAL_MS = 1000;
/** Longest reconnect delay. */
export const BACKOFF_MAX_MS = 30_000;
/** After this long without a login answer, say that we are waiting. */
export const LOGIN_NOTICE_MS = 5000;
/** Without a terminal, give up when the login is not answered in this time. */
export const LOGIN_TIMEOUT_MS = 30_000;
/** The replay is taken as over when no message arrived for this long... */
export const REPLAY_QUIET_MS = 300;
/** ...or at the latest after this long; then waiting and unconfirmed messages are sent. */
export const REPLAY_MAX_WAIT_MS = 3000;
/** At end of input, how long to wait for outstanding acks before closing. */
export const FINISH_ACK_WAIT_MS = 5000;

/** A fatal problem for this run: the message is the whole story for the user. */
export class ClientError extends Error {
  override name = "ClientError";
}

/** Where the session is. */
export type Phase = "connecting" | "logging-in" | "online" | "waiting" | "closed";

/** What the status line shows. */
export interface SessionStatus {
  phase: Phase;
  nickname: string;
  /** With phase "waiting": the clock time of the next attempt. */
  retryAt?: number;
  /** Typed messages not yet sent. */
  queued: number;
  /** Messages sent and not yet confirmed (only counted once the server has acked one). */
  unconfirmed: number;
}

/** What the session reports to whoever shows it. */
export interface SessionEvents {
  /** A received message to show (duplicates from a replay are already left out). */
  message(message: ChatMessage, line: string): void;
  /** Any other frame as received (status, ack, unknown), after the session handled it. */
  frame(frame: ServerFrame, line: string): void;
  /** A sentence for the user; may quote server text (the view sanitises it). */
  notice(text: string): void;
  /** The status changed. */
  status(status: SessionStatus): void;
  /** One of our messages went out for the first time (the moment to echo it). */
  sent(text: string): void;
}

/** A pending timer of {@linkcode Timers}. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/** Clock and timers, injected so tests can control them. */
export interface Timers {
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock and timers. */
export const REAL_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};

/** Options of a {@linkcode Session}. */
export interface SessionOptions {
  nickname: string;
  /** The server as the user knows it (`host:port`), for notices. */
  label: string;
  /** Opens a trusted connection whose lines go to the sink. */
  dial(sink: LinkSink): Promise<Link>;
  events: SessionEvents;
  /**
   * True when a person is at a terminal: a refused login asks for another
   * nickname (via `chooseNickname`), no login deadline applies, and a
   * connection lost before the first login is retried too.
   */
  interactive: boolean;
  /** Asks for another nickname after a refused login; undefined means leave. */
  chooseNickname?(reason: string): Promise<string | undefined>;
  /** @default REAL_TIMERS */
  timers?: Timers;
  /** Uniform in [0, 1), for jitter and ids. @default Math.random */
  random?: () => number;
}

/** The answer to {@linkcode Session.submit}. */
export type SubmitResult =
  | { ok: true; /** True when it waits for a connection. */ queued: boolean }
  | { ok: false; reason: string };

interface Outgoing {
  id: string;
  text: string;
  state: "queued" | "sent";
  /** Say "delivered" when confirmed: it waited offline or is being resent. */
  announce: boolean;
  /** It was in flight when the connection dropped: resend unless the replay shows it. */
  inDoubt: boolean;
  /** Already went out once (and was echoed). */
  echoed: boolean;
}

type Outcome = { reason: string; loggedIn: boolean };

/**
 * Reconnect delay for the `attempt`-th retry (0-based): 1 s doubling to 30 s,
 * with "equal jitter" (a random point in the upper half), so clients dropped
 * together do not come back together.
 */
export function backoffDelay(attempt: number, random: () => number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.min(attempt, 30));
  return Math.round(base / 2 + random() * (base / 2));
}

/** One user's session with one server. Call {@linkcode run}, then feed it lines. */
export class Session {
  readonly #options: SessionOptions;
  readonly #events: SessionEvents;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #idPrefix: string;
  #idCounter = 0;
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
  #finishing = false;

  #lastSeq: number | undefined;
  #seqSeen = false;
  #ackSeen = false;
  #outbox: Outgoing[] = [];
  #sentLog: string[] = [];
  #seen = new Set<string>();
  #seenOrder: string[] = [];
  /** After reconnecting to a server without `seq`: skip the replay's already-shown prefix. */
  #skipping = false;
  /** After reconnecting with messages in doubt: wait for the replay before sending. */
  #holding = false;
  #holdDeadline = 0;

  #loginTimers: TimerHandle[] = [];
  #holdTimer: TimerHandle | undefined;
  #finishTimer: TimerHandle | undefined;

  constructor(options: SessionOptions) {
    this.#options = options;
    this.#events = options.events;
    this.#timers = options.timers ?? REAL_TIMERS;
    this.#random = options.random ?? Math.random;
    this.#nickname = options.nickname;
    this.#idPrefix = Math.floor(this.#random() * 2 ** 32).toString(36);
  }

  /** The nickname in use (it changes when the user picks another after a refusal). */
  get nickname(): string {
    return this.#nickname;
  }

  /** The current status. */
  get status(): SessionStatus {
    const queued = this.#outbox.filter((item) => item.state === "queued").length;
    const sent = this.#outbox.length - queued;
    return {
      phase: this.#phase,
      nickname: this.#nickname,
      retryAt: this.#phase === "waiting" ? this.#retryAt : undefined,
      queued,
      unconfirmed: this.#ackSeen ? sent : 0,
    };
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
          throw new ClientError(outcome.reason);
        }
        if (outcome.loggedIn) attempt = 0;
        const delay = backoffDelay(attempt++, this.#random);
        this.#retryAt = this.#timers.now() + delay;
        this.#notice(`${outcome.reason}; reconnecting in ${Math.ceil(delay / 1000)} s`);
        this.#setPhase("waiting");
        await this.#sleep(delay);
      }
    } catch (error) {
      if (!this.#stopping) throw error;
    } finally {
      this.#stopping = true;
      this.#clearTimers();
      this.#setPhase("closed");
    }
  }

  /**
   * Sends a message now, or queues it until logged in. Refuses an empty or
   * too long message and one that would overflow the queue.
   */
  submit(text: string): SubmitResult {
    const invalid = checkMessageText(text, DEFAULT_MAX_MESSAGE_BYTES);
    if (invalid) return { ok: false, reason: invalid };
    if (this.#stopping || this.#finishing) return { ok: false, reason: "the session is ending" };
    const queued = this.#outbox.filter((item) => item.state === "queued").length;
    if (queued >= MAX_QUEUED_MESSAGES) {
      return {
        ok: false,
        reason: `${MAX_QUEUED_MESSAGES} messages are already waiting to be sent`,
      };
    }
    const sendNow = this.#loggedIn && !this.#holding;
    const item: Outgoing = {
      id: `${this.#idPrefix}-${(++this.#idCounter).toString(36)}`,
      text,
      state: "queued",
      // Lines waiting for the first login are ordinary; lines typed while cut off are news.
      announce: !sendNow && this.#everLoggedIn,
      inDoubt: false,
      echoed: false,
    };
    this.#outbox.push(item);
    if (sendNow) this.#send(item);
    this.#emitStatus();
    return { ok: true, queued: !sendNow };
  }

  /** Leaves: closes the connection politely (close_notify) and ends {@linkcode run}. */
  async quit(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#clearTimers();
    const unsent = this.#outbox.filter((item) => item.state === "queued").length;
    if (unsent > 0) this.#notice(`${unsent} message(s) were not sent`);
    const link = this.#link;
    this.#wake?.();
    if (link) await link.end();
  }

  /** End of input: send what is pending, wait briefly for acks, then leave politely. */
  finish(): void {
    this.#finishing = true;
    this.#maybeFinish();
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
        bad: (reason) => this.#notice(`dropped a line from the server: ${reason}`),
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
        this.#login();
      }, (error) => {
        if (error instanceof DialError) {
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
    this.#link.write(encodeLogin(this.#nickname, this.#lastSeq));
    this.#setPhase("logging-in");
    this.#clearLoginTimers();
    this.#loginTimers.push(this.#timers.setTimeout(() => {
      this.#notice(
        `still waiting for ${this.#options.label} to answer the login` +
          (this.#options.interactive ? " (/quit to leave)" : ""),
      );
    }, LOGIN_NOTICE_MS));
    if (!this.#options.interactive) {
      this.#loginTimers.push(this.#timers.setTimeout(() => {
        this.#fail?.(
          new ClientError(
            `${this.#options.label} did not answer the login within ${LOGIN_TIMEOUT_MS / 1000} s`,
          ),
        );
      }, LOGIN_TIMEOUT_MS));
    }
  }

  #onLine(text: string): void {
    const frame = decodeServerFrame(text);
    if (frame.type === "error") {
      this.#notice(`ignored a frame from the server: ${frame.reason}`);
      return;
    }
    if (frame.type === "message") {
      this.#onMessage(frame, text);
      return;
    }
    if (frame.type === "status") this.#onStatus(frame);
    this.#events.frame(frame, text);
  }

  #onStatus(frame: StatusFrame): void {
    if (frame.id !== undefined) {
      this.#onAck(frame);
    } else if (this.#awaitingLogin) {
      this.#awaitingLogin = false;
      this.#clearLoginTimers();
      if (frame.status === "ok") this.#onLoginOk();
      else this.#onLoginRefused(frame.reason);
    } else if (frame.status === "error") {
      this.#notice(`server: ${frame.reason ?? "error (no reason given)"}`);
    }
  }

  #onLoginOk(): void {
    const first = !this.#everLoggedIn;
    this.#loggedIn = true;
    this.#everLoggedIn = true;
    this.#notice(
      first
        ? `logged in to ${this.#options.label} as ${this.#nickname}`
        : `reconnected to ${this.#options.label}`,
    );
    if (!first && !this.#seqSeen && this.#seen.size > 0) {
      this.#skipping = true;
      this.#notice("the server's replay begins here (messages already shown are skipped)");
    }
    this.#setPhase("online");
    // Waiting lines go out after the replay, so they come after it on every screen
    // (and a message in doubt is resent only when the replay does not show it).
    if (this.#outbox.length > 0) {
      this.#holding = true;
      this.#holdDeadline = this.#timers.now() + REPLAY_MAX_WAIT_MS;
      this.#armHold();
    } else {
      this.#flush();
    }
  }

  #onLoginRefused(reason: string | undefined): void {
    const why = reason ?? "nickname taken or not allowed";
    if (this.#everLoggedIn) {
      // Often the server has not yet noticed our old connection: retry later.
      this.#notice(`login as ${this.#nickname} refused: ${why}`);
      this.#link?.end();
      return;
    }
    const choose = this.#options.chooseNickname;
    if (!choose) {
      this.#fail?.(new ClientError(`login as ${this.#nickname} refused: ${why}`));
      return;
    }
    this.#notice(`login as ${this.#nickname} refused: ${why}`);
    choose(why).then((next) => {
      if (next === undefined) {
        this.quit();
        return;
      }
      this.#nickname = next;
      this.#emitStatus();
      this.#login(); // Same connection (PROTOCOL.md §2); if it closed, the reconnect uses `next`.
    }, (error) => this.#fail?.(error));
  }

  #onMessage(message: ChatMessage, line: string): void {
    if (this.#holding) this.#armHold();
    const key = messageKey(message);
    if (message.seq !== undefined) {
      this.#seqSeen = true;
      if (this.#lastSeq !== undefined && message.seq <= this.#lastSeq) {
        if (this.#seen.has(key)) return; // A replay that ignored `since`.
        this.#notice("the server's message numbers restarted");
      }
      this.#lastSeq = message.seq;
      if (this.#isOwnReplay(message)) return;
    } else if (this.#skipping) {
      if (this.#seen.has(key) || this.#isOwnReplay(message) || this.#isOwn(message)) return;
      this.#skipping = false;
    }
    this.#remember(key);
    this.#events.message(message, line);
  }

  #isOwn(message: ChatMessage): boolean {
    return nicknameKey(message.from) === nicknameKey(this.#nickname);
  }

  /** True for our own message coming back in a replay (we showed it when it was typed). */
  #isOwnReplay(message: ChatMessage): boolean {
    if (!this.#isOwn(message)) return false;
    const index = this.#sentLog.indexOf(message.message);
    if (index === -1) return false;
    this.#sentLog.splice(index, 1);
    const doubt = this.#outbox.findIndex((item) => item.inDoubt && item.text === message.message);
    if (doubt !== -1) {
      const [item] = this.#outbox.splice(doubt, 1);
      this.#notice(`delivered: "${preview(item.text)}"`);
      this.#emitStatus();
    }
    return true;
  }

  #onAck(frame: StatusFrame): void {
    this.#ackSeen = true;
    const index = this.#outbox.findIndex((item) => item.id === frame.id && item.state === "sent");
    if (index === -1) return;
    const [item] = this.#outbox.splice(index, 1);
    if (frame.status === "ok") {
      if (item.announce) this.#notice(`delivered: "${preview(item.text)}"`);
    } else {
      const logged = this.#sentLog.lastIndexOf(item.text);
      if (logged !== -1) this.#sentLog.splice(logged, 1);
      this.#notice(
        `not delivered: "${preview(item.text)}": ${frame.reason ?? "refused by the server"}`,
      );
    }
    this.#emitStatus();
    this.#maybeFinish();
  }

  #armHold(): void {
    if (this.#holdTimer !== undefined) this.#timers.clearTimeout(this.#holdTimer);
    const wait = Math.max(0, Math.min(REPLAY_QUIET_MS, this.#holdDeadline - this.#timers.now()));
    this.#holdTimer = this.#timers.setTimeout(() => {
      this.#holdTimer = undefined;
      this.#holding = false;
      const doubtful = this.#outbox.filter((item) => item.inDoubt);
      if (doubtful.length > 0) {
        this.#notice(`resending ${doubtful.length} message(s) the server had not confirmed`);
        for (const item of doubtful) item.inDoubt = false;
      }
      this.#flush();
    }, wait);
  }

  #flush(): void {
    if (!this.#loggedIn || this.#holding) return;
    let announced = 0;
    for (const item of this.#outbox) {
      if (item.state !== "queued") continue;
      if (item.announce) announced++;
      this.#send(item);
    }
    if (announced > 0 && !this.#ackSeen) this.#notice(`sent ${announced} queued message(s)`);
    this.#emitStatus();
    this.#maybeFinish();
  }

  #send(item: Outgoing): void {
    this.#link?.write(encodeSend(item.text, item.id));
    item.state = "sent";
    if (!item.echoed) {
      item.echoed = true;
      this.#events.sent(item.text);
    }
    this.#sentLog.push(item.text);
    if (this.#sentLog.length > SENT_LOG_LIMIT) this.#sentLog.shift();
    let sent = this.#outbox.filter((entry) => entry.state === "sent").length;
    while (sent > MAX_UNCONFIRMED) {
      this.#outbox.splice(this.#outbox.findIndex((entry) => entry.state === "sent"), 1);
      sent--;
    }
  }

  #onClosed(): void {
    this.#link = undefined;
    this.#loggedIn = false;
    this.#awaitingLogin = false;
    this.#holding = false;
    this.#clearTimers();
    // In flight when the line dropped: with acks we know what is unconfirmed
    // and send it again; without, what was written counts as sent.
    this.#outbox = this.#outbox.filter((item) => item.state === "queued" || this.#ackSeen);
    for (const item of this.#outbox) {
      if (item.state === "sent") {
        item.state = "queued";
        item.inDoubt = true;
        item.announce = true;
      }
    }
    this.#emitStatus();
  }

  #maybeFinish(): void {
    if (!this.#finishing || this.#stopping || !this.#loggedIn || this.#holding) return;
    if (this.#outbox.some((item) => item.state === "queued")) return;
    const unconfirmed = this.#outbox.length;
    if (unconfirmed > 0 && (this.#ackSeen || this.#seqSeen)) {
      this.#finishTimer ??= this.#timers.setTimeout(() => {
        this.#notice(`${this.#outbox.length} message(s) not confirmed by the server`);
        this.quit();
      }, FINISH_ACK_WAIT_MS);
      return;
    }
    this.quit();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle = this.#timers.setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        this.#timers.clearTimeout(handle);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #remember(key: string): void {
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#seenOrder.push(key);
    if (this.#seenOrder.length > SEEN_LIMIT) this.#seen.delete(this.#seenOrder.shift()!);
  }

  #setPhase(phase: Phase): void {
    this.#phase = phase;
    this.#emitStatus();
  }

  #emitStatus(): void {
    this.#events.status(this.status);
  }

  #notice(text: string): void {
    this.#events.notice(text);
  }

  #clearLoginTimers(): void {
    for (const handle of this.#loginTimers) this.#timers.clearTimeout(handle);
    this.#loginTimers = [];
  }

  #clearTimers(): void {
    this.#clearLoginTimers();
    if (this.#holdTimer !== undefined) this.#timers.clearTimeout(this.#holdTimer);
    if (this.#finishTimer !== undefined) this.#timers.clearTimeout(this.#finishTimer);
    this.#holdTimer = undefined;
    this.#finishTimer = undefined;
  }
}

/** A short quote of a message for notices. */
function preview(text: string): string {
  return truncate(text.replace(/\s+/g, " "), 40);
}

/** A compact fingerprint of a message (two FNV-1a hashes), so the memory holds no texts. */
function messageKey(message: ChatMessage): string {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  const text = `${message.from}\u0000${message.time}\u0000${message.message}`;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return `${a.toString(36)}.${b.toString(36)}.${text.length}`;
}
