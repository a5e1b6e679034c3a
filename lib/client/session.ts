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
// - Outbox: every message waits here until it is sent, and (with a server
//   that acks) until it is confirmed. Messages go out after the login's
//   replay, paced by a token bucket (pacer.ts) well under the server's rate
//   limit. A message the server refuses for its rate limit is resent after a
//   pause, before the ones still waiting; one refused for any other reason
//   is reported as not delivered. A message in flight when the connection
//   dropped is resent unless the replay shows it arrived (#matchOwnReplay).
//   A server that has acked, or numbers its messages, is taken to ack every
//   message (ours does); core-only servers never ack, and nothing waits for
//   an ack before sending.
// - End of input (pipes): send everything, wait for the acks (or, with a
//   server that never acks, a short drain), then leave; give up when nothing
//   moves for FINISH_WAIT_MS. `undelivered` says what did not get there.
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
import { SEND_BURST, SEND_RATE_PER_SECOND, SendPacer } from "./pacer.ts";
import { preview } from "../terminal_text.ts";

/** The most typed messages waiting to be sent; beyond it `submit` refuses and input waits ({@linkcode Session.room}). */
export const MAX_QUEUED_MESSAGES = 1000;
/** The most sent messages tracked until the server confirms them; older ones are forgotten. */
export const MAX_UNCONFIRMED = 1000;
/** Own messages remembered (as fingerprints) to recognise them in a replay; beyond it a resend may repeat one. */
export const SENT_LOG_LIMIT = 5000;
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
/** After the server refused a message for its rate limit: pause this long, then resend it first. */
export const RATE_LIMIT_PAUSE_MS = 1000;
/** Each rate-limit pause halves the sending rate, down to this (messages a second). */
export const MIN_SEND_RATE_PER_SECOND = 1;
/** After end of input, give up when for this long no message went out or was confirmed. */
export const FINISH_WAIT_MS = 10_000;
/** After end of input, a server that has not acked yet gets this long to show that it acks. */
export const FINISH_DRAIN_MS = 1000;

/** The reason (prefix) of our server's refusal of a frame over its rate limit. */
const RATE_LIMIT_REASON = "rate limit exceeded";
/**
 * Our server's refusal while it cannot store messages (a failing disk, or
 * Redis unreachable): nothing was stored, so the message is sent again later.
 */
const STORAGE_REASON = "storage unavailable";
/** After a refusal for storage: pause this long, then resend, one message at a time. */
export const STORAGE_PAUSE_MS = 2000;

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
  /** Submission order, for reporting. */
  order: number;
  id: string;
  text: string;
  state: "queued" | "sent";
  /** Say "delivered" when confirmed: it waited offline or is being resent. */
  announce: boolean;
  /** It was in flight when the connection dropped: resend unless the replay shows it. */
  inDoubt: boolean;
  /** Already went out once (and was echoed). */
  echoed: boolean;
  /** The record of its latest sending. */
  record?: SentRecord;
}

/** One own message written to the server, kept to recognise it in a later replay. */
interface SentRecord {
  /** Fingerprint of the text. */
  key: string;
  /** The connection it was written on. */
  conn: number;
  /** Its place among the messages written on that connection (0-based). */
  index: number;
  /** The outbox entry while the server may still refuse it; undefined once stored (or taken as stored). */
  item?: Outgoing;
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
  /** Messages the server refused (other than for its rate limit), for `undelivered`. */
  #refused: { order: number; text: string }[] = [];
  #seen = new Set<string>();
  #seenOrder: string[] = [];
  /** After reconnecting to a server without `seq`: skip the replay's already-shown prefix. */
  #skipping = false;
  /** After a login: wait for the replay before sending. */
  #holding = false;
  #holdDeadline = 0;

  // Recognising own messages in a replay (#matchOwnReplay).
  /** Counts connections; the current one's number. */
  #conn = 0;
  #sentLog: SentRecord[] = [];
  /** Records of connections up to this one were dropped for room: their matches are unsure. */
  #trimmedConn = -1;
  /** The last seq seen before the connection dropped: only newer replayed messages can be ours in doubt. */
  #floor: number | undefined;
  /** On this connection: messages written, the last seq received, seqs skipped. */
  #connSent = 0;
  #connSeq: number | undefined;
  #connGaps = 0;

  // Pacing (pacer.ts) and the server's rate limit.
  #pacer: SendPacer;
  /** After a rate-limit refusal: slower, without bursts, until the queue is empty. */
  #recovering = false;
  /** ...and, with a server that answers every message, one message in flight at a time. */
  #oneAtATime = false;
  /** Rate-limit refusals without an id (an older server) not yet matched to messages. */
  #unnamedRefusals = 0;
  #rateNoticeShown = false;
  #roomWaiters: (() => void)[] = [];
  /** The last status reported, to report only changes. */
  #lastStatus = "";

  #loginTimers: TimerHandle[] = [];
  #holdTimer: TimerHandle | undefined;
  #pumpTimer: TimerHandle | undefined;
  #pauseTimer: TimerHandle | undefined;
  #drainTimer: TimerHandle | undefined;
  #finishTimer: TimerHandle | undefined;

  constructor(options: SessionOptions) {
    this.#options = options;
    this.#events = options.events;
    this.#timers = options.timers ?? REAL_TIMERS;
    this.#random = options.random ?? Math.random;
    this.#nickname = options.nickname;
    this.#idPrefix = Math.floor(this.#random() * 2 ** 32).toString(36);
    this.#pacer = new SendPacer(SEND_RATE_PER_SECOND, SEND_BURST, this.#timers.now());
  }

  /** The nickname in use (it changes when the user picks another after a refusal). */
  get nickname(): string {
    return this.#nickname;
  }

  /** The current status. */
  get status(): SessionStatus {
    const queued = this.#queuedCount();
    const sent = this.#outbox.length - queued;
    return {
      phase: this.#phase,
      nickname: this.#nickname,
      retryAt: this.#phase === "waiting" ? this.#retryAt : undefined,
      queued,
      // Only once the server has acked: a server may number messages and never ack.
      unconfirmed: this.#ackSeen ? sent : 0,
    };
  }

  /**
   * The messages that did not (knowingly) reach the server, in the order
   * they were submitted: refused by it, never sent, or sent to a server that
   * acks and never confirmed. With a server that never acks, a message
   * written to the connection counts as delivered.
   */
  get undelivered(): string[] {
    const lost = this.#outbox.filter((item) => item.state === "queued" || this.#acksExpected);
    return [...this.#refused, ...lost].sort((a, b) => a.order - b.order).map((item) => item.text);
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
      this.#clearFinishTimer();
      this.#wakeRoomWaiters();
      this.#setPhase("closed");
    }
  }

  /**
   * Queues a message; it goes out as soon as the connection, the replay and
   * the pacing allow. Refuses an empty or too long message and one that
   * would overflow the queue.
   */
  submit(text: string): SubmitResult {
    const invalid = checkMessageText(text, DEFAULT_MAX_MESSAGE_BYTES);
    if (invalid) return { ok: false, reason: invalid };
    if (this.#stopping || this.#finishing) return { ok: false, reason: "the session is ending" };
    if (this.#queuedCount() >= MAX_QUEUED_MESSAGES) {
      return {
        ok: false,
        reason: `${MAX_QUEUED_MESSAGES} messages are already waiting to be sent`,
      };
    }
    const connected = this.#loggedIn;
    const order = ++this.#idCounter;
    this.#outbox.push({
      order,
      id: `${this.#idPrefix}-${order.toString(36)}`,
      text,
      state: "queued",
      // Lines waiting for the first login are ordinary; lines typed while cut off are news.
      announce: !connected && this.#everLoggedIn,
      inDoubt: false,
      echoed: false,
    });
    this.#pump();
    return { ok: true, queued: !connected };
  }

  /**
   * Resolves when the queue has room for another message (or the session
   * ended), so a reader of a long pipe waits instead of overflowing it.
   */
  room(): Promise<void> {
    if (this.#stopping || this.#queuedCount() < MAX_QUEUED_MESSAGES) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /** Leaves: closes the connection politely (close_notify) and ends {@linkcode run}. */
  async quit(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#clearTimers();
    this.#clearFinishTimer();
    this.#wakeRoomWaiters();
    // At the end of input the caller lists what was not delivered.
    const unsent = this.#queuedCount();
    if (unsent > 0 && !this.#finishing) this.#notice(`${unsent} message(s) were not sent`);
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
    if (this.#finishing) return;
    this.#finishing = true;
    this.#progress();
    this.#maybeFinish();
  }

  /** A server that acked, or numbers its messages (ours does both), answers every message with an id. */
  get #acksExpected(): boolean {
    return this.#ackSeen || this.#seqSeen;
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
        this.#conn++;
        this.#connSent = 0;
        this.#connSeq = undefined;
        this.#connGaps = 0;
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
      if (frame.reason === RATE_LIMIT_REASON) {
        // An older server's refusal without the id (#rateLimited says it once).
        this.#unnamedRefusals++;
        this.#rateLimited();
        this.#settleUnnamedRefusals();
        return;
      }
      this.#notice(`server: ${frame.reason ?? "error (no reason given)"}`);
      // "…: closing the connection": the reconnect sends more slowly.
      if (frame.reason?.startsWith(RATE_LIMIT_REASON)) this.#rateLimited();
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
    // Messages go out after the replay, so they come after it on every screen,
    // and a message in doubt is resent only when the replay does not show it.
    this.#holding = true;
    this.#holdDeadline = this.#timers.now() + REPLAY_MAX_WAIT_MS;
    this.#armHold();
  }

  #onLoginRefused(reason: string | undefined): void {
    const why = reason ?? "nickname taken or not allowed";
    if (this.#everLoggedIn || (why === STORAGE_REASON && this.#options.interactive)) {
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
      this.#noteSeq(message.seq);
      if (this.#lastSeq !== undefined && message.seq <= this.#lastSeq) {
        // A replay that ignored `since`: what we showed, and our own (shown when sent).
        if (this.#seen.has(key) || this.#isOwn(message)) return;
        this.#notice("the server's message numbers restarted");
      }
      this.#lastSeq = message.seq;
      if (this.#isOwn(message) && this.#matchOwnReplay(message)) return;
    } else if (this.#skipping) {
      if (this.#seen.has(key) || this.#isOwn(message)) return;
      this.#skipping = false;
    }
    this.#remember(key);
    this.#events.message(message, line);
  }

  #isOwn(message: ChatMessage): boolean {
    return nicknameKey(message.from) === nicknameKey(this.#nickname);
  }

  /**
   * True for our own message coming back in a replay after a reconnect: it
   * was shown when it was typed, so it is not shown again; and when it is a
   * message that was in doubt, it arrived and is not resent.
   *
   * Texts repeat ("ok", "yes"), so a replayed text does not say which of our
   * messages it is. The rule counts copies, per text:
   * - The replay (since = the last seq seen) holds our stored messages newer
   *   than that seq: some the server confirmed, and perhaps some in doubt
   *   (stored, but the ack was lost with the connection).
   * - Each replayed copy is first taken by a confirmed message with that
   *   text that may be in the replay, and only then by one in doubt, oldest
   *   first, each message at most once. So of the messages in doubt with a
   *   text, at most (copies replayed - confirmed ones that may be replayed)
   *   count as delivered: never more than really arrived.
   * - Only replayed messages newer than the last seq seen before the drop
   *   can be ones in doubt (a server that ignores `since` repeats older ones).
   * A confirmed message counts as "may be replayed" unless it is proved older
   * than that seq; an unproved one can only make us resend a message that
   * did arrive (a duplicate), never drop one. The proof is in the seqs we
   * skip: the server relays every stored message except our own, so each
   * number missing on this connection is one of our messages, and ours are
   * stored in the order we sent them (#noteSeq). If the record of our sent
   * messages overflowed, messages in doubt are simply resent.
   */
  #matchOwnReplay(message: ChatMessage): boolean {
    const key = textKey(message.message);
    const candidates = this.#sentLog.filter((r) => r.conn < this.#conn && r.key === key);
    let record = candidates.find((r) => r.item === undefined);
    const newer = this.#floor === undefined || message.seq! > this.#floor;
    if (!record && newer) {
      record = candidates.find((r) => r.item?.inDoubt === true && r.conn > this.#trimmedConn);
    }
    if (!record) return false;
    this.#forget(record);
    const item = record.item;
    if (item) {
      const index = this.#outbox.indexOf(item);
      if (index !== -1) this.#outbox.splice(index, 1);
      this.#notice(`delivered: "${preview(item.text)}"`);
      this.#progress();
      this.#emitStatus();
    }
    return true;
  }

  /** Notes a seq received on this connection; the numbers it skipped are our own messages. */
  #noteSeq(seq: number): void {
    const previous = this.#connSeq;
    this.#connSeq = seq;
    if (previous === undefined || seq <= previous + 1) return;
    // Never more than we sent, should a server skip numbers for another reason.
    this.#connGaps = Math.min(this.#connGaps + seq - previous - 1, this.#connSent);
    // Our first #connGaps stored messages on this connection are older than `seq`.
    this.#sentLog = this.#sentLog.filter((r) => !this.#provedOld(r));
  }

  /** Drops a record of a sent message (if it is still kept). */
  #forget(record: SentRecord): void {
    const index = this.#sentLog.indexOf(record);
    if (index !== -1) this.#sentLog.splice(index, 1);
  }

  #provedOld(record: SentRecord): boolean {
    return record.conn === this.#conn && record.item === undefined &&
      record.index < this.#connGaps;
  }

  #onAck(frame: StatusFrame): void {
    this.#ackSeen = true;
    const index = this.#outbox.findIndex((item) => item.id === frame.id && item.state === "sent");
    if (index === -1) return;
    const item = this.#outbox[index];
    const record = item.record;
    item.record = undefined;
    const rateLimited = frame.status === "error" && frame.reason?.startsWith(RATE_LIMIT_REASON);
    if (rateLimited || (frame.status === "error" && frame.reason === STORAGE_REASON)) {
      // Not stored: it goes out again, before the messages queued after it.
      if (record) this.#forget(record);
      item.state = "queued";
      if (rateLimited) this.#rateLimited();
      else this.#storageUnavailable(item.text);
      this.#settleUnnamedRefusals();
      this.#emitStatus();
      return;
    }
    this.#outbox.splice(index, 1);
    if (frame.status === "ok") {
      if (record) {
        record.item = undefined;
        if (this.#provedOld(record)) this.#forget(record);
      }
      if (item.announce) this.#notice(`delivered: "${preview(item.text)}"`);
    } else {
      if (record) this.#forget(record);
      this.#refused.push({ order: item.order, text: item.text });
      if (this.#refused.length > MAX_UNCONFIRMED) this.#refused.shift();
      this.#notice(
        `not delivered: "${preview(item.text)}": ${frame.reason ?? "refused by the server"}`,
      );
    }
    this.#settleUnnamedRefusals();
    this.#progress();
    this.#pump();
  }

  /**
   * An older server refuses a message over its rate limit without its id.
   * A server that acks answers every message once, so when as many messages
   * are in flight as there are such refusals, those messages are the ones
   * refused: they go back to the queue, in their order.
   */
  #settleUnnamedRefusals(): void {
    if (this.#unnamedRefusals === 0 || !this.#ackSeen) return;
    const inFlight = this.#outbox.filter((item) => item.state === "sent");
    const refusals = this.#unnamedRefusals;
    if (inFlight.length > refusals) return; // Answers still on their way.
    this.#unnamedRefusals = 0;
    if (inFlight.length < refusals) return; // Not a server we understand: leave them unconfirmed.
    for (const item of inFlight) {
      if (item.record) this.#forget(item.record);
      item.record = undefined;
      item.state = "queued";
    }
  }

  /**
   * The server refused a message for its rate limit: pause, then go on more
   * slowly. With a server that answers every message, also keep one message
   * in flight at a time, so a refusal can only concern that one and the
   * order holds.
   */
  #rateLimited(): void {
    this.#recovering = true;
    this.#oneAtATime = this.#ackSeen;
    if (this.#pauseTimer !== undefined) return; // The refusals of one burst make one pause.
    const rate = Math.max(MIN_SEND_RATE_PER_SECOND, this.#pacer.rate / 2);
    if (!this.#rateNoticeShown) {
      this.#rateNoticeShown = true;
      this.#notice(
        `${this.#options.label} limits how fast we may send: pausing ${
          RATE_LIMIT_PAUSE_MS / 1000
        } s, then resending more slowly`,
      );
    }
    this.#clearPumpTimer();
    this.#pauseTimer = this.#timers.setTimeout(() => {
      this.#pauseTimer = undefined;
      // No burst while recovering: one message per interval.
      this.#pacer = new SendPacer(rate, 1, this.#timers.now());
      this.#pacer.empty(this.#timers.now());
      this.#pump();
    }, RATE_LIMIT_PAUSE_MS);
  }

  /**
   * The server could not store a message: pause, then resend it, one message
   * at a time (so the order holds) until everything waiting has gone out.
   */
  #storageUnavailable(text: string): void {
    this.#recovering = true;
    this.#oneAtATime = true;
    if (this.#pauseTimer !== undefined) return;
    this.#notice(
      `the server cannot store messages right now; resending "${preview(text)}" in ${
        STORAGE_PAUSE_MS / 1000
      } s`,
    );
    this.#clearPumpTimer();
    this.#pauseTimer = this.#timers.setTimeout(() => {
      this.#pauseTimer = undefined;
      this.#pump();
    }, STORAGE_PAUSE_MS);
  }

  #armHold(): void {
    if (this.#holdTimer !== undefined) this.#timers.clearTimeout(this.#holdTimer);
    const wait = Math.max(0, Math.min(REPLAY_QUIET_MS, this.#holdDeadline - this.#timers.now()));
    this.#holdTimer = this.#timers.setTimeout(() => {
      this.#holdTimer = undefined;
      this.#holding = false;
      // The replay is over: own messages of earlier connections that it did not
      // show are older than `since`, so no later replay can show them either.
      this.#sentLog = this.#sentLog.filter((r) => r.conn === this.#conn);
      const doubtful = this.#outbox.filter((item) => item.inDoubt);
      if (doubtful.length > 0) {
        this.#notice(`resending ${doubtful.length} message(s) the server had not confirmed`);
        for (const item of doubtful) item.inDoubt = false;
      }
      this.#pump();
    }, wait);
  }

  /** Sends what the connection, the replay, the pacing and the server's limit allow. */
  #pump(): void {
    this.#clearPumpTimer();
    if (this.#stopping) return;
    if (!this.#loggedIn || this.#holding || this.#pauseTimer !== undefined) {
      this.#emitStatus();
      return;
    }
    let announced = 0;
    while (true) {
      const item = this.#outbox.find((entry) => entry.state === "queued");
      if (!item) {
        if (this.#recovering) {
          // Caught up: back to the usual pace, its burst building up again.
          this.#recovering = false;
          this.#oneAtATime = false;
          this.#pacer = new SendPacer(SEND_RATE_PER_SECOND, SEND_BURST, this.#timers.now());
          this.#pacer.empty(this.#timers.now());
        }
        break;
      }
      if (this.#oneAtATime && this.#outbox.some((entry) => entry.state === "sent")) break;
      const now = this.#timers.now();
      if (!this.#pacer.take(now)) {
        this.#pumpTimer = this.#timers.setTimeout(() => {
          this.#pumpTimer = undefined;
          this.#pump();
        }, Math.max(1, this.#pacer.wait(now)));
        break;
      }
      if (item.announce) announced++;
      this.#send(item);
    }
    if (announced > 0 && !this.#acksExpected) this.#notice(`sent ${announced} queued message(s)`);
    this.#wakeRoomWaiters();
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
    const record: SentRecord = {
      key: textKey(item.text),
      conn: this.#conn,
      index: this.#connSent++,
      item,
    };
    item.record = record;
    this.#sentLog.push(record);
    if (this.#sentLog.length > SENT_LOG_LIMIT) {
      const dropped = this.#sentLog.shift()!;
      this.#trimmedConn = Math.max(this.#trimmedConn, dropped.conn);
    }
    let sent = this.#outbox.filter((entry) => entry.state === "sent").length;
    while (sent > MAX_UNCONFIRMED) {
      this.#outbox.splice(this.#outbox.findIndex((entry) => entry.state === "sent"), 1);
      sent--;
    }
    this.#progress();
  }

  #onClosed(): void {
    this.#link = undefined;
    this.#loggedIn = false;
    this.#awaitingLogin = false;
    this.#holding = false;
    this.#clearTimers();
    this.#floor = this.#lastSeq;
    this.#unnamedRefusals = 0;
    // In flight when the line dropped: with acks we know what is unconfirmed
    // and send it again; without, what was written counts as sent.
    const acks = this.#acksExpected;
    this.#outbox = this.#outbox.filter((item) => item.state === "queued" || acks);
    for (const item of this.#outbox) {
      if (item.state === "sent") {
        item.state = "queued";
        item.inDoubt = true;
        item.announce = true;
      }
    }
    for (const record of this.#sentLog) {
      if (record.item && !record.item.inDoubt) record.item = undefined;
    }
    this.#emitStatus();
  }

  #maybeFinish(): void {
    if (!this.#finishing || this.#stopping) return;
    // Cut off with nothing left to send: no need to come back.
    if (this.#outbox.length === 0 && this.#everLoggedIn && !this.#loggedIn) {
      this.quit();
      return;
    }
    // Otherwise wait for the login and its replay (`--json < /dev/null` prints the history).
    if (!this.#loggedIn || this.#holding) return;
    if (this.#queuedCount() > 0) return;
    if (this.#outbox.length === 0) {
      this.quit();
      return;
    }
    // Sent, not confirmed: a server that acks will (or FINISH_WAIT_MS gives up).
    if (this.#acksExpected) return;
    // Maybe a core-only server: an ack within the drain shows otherwise.
    this.#drainTimer ??= this.#timers.setTimeout(() => {
      this.#drainTimer = undefined;
      if (!this.#acksExpected) this.quit();
    }, FINISH_DRAIN_MS);
  }

  /** After end of input, something moved: the deadline starts again. */
  #progress(): void {
    if (!this.#finishing || this.#stopping) return;
    this.#clearFinishTimer();
    this.#finishTimer = this.#timers.setTimeout(() => {
      this.#finishTimer = undefined;
      const seconds = `${FINISH_WAIT_MS / 1000} s`;
      const label = this.#options.label;
      this.#notice(
        this.#loggedIn
          ? `giving up: ${label} confirmed nothing for ${seconds}`
          : this.#awaitingLogin
          ? `giving up: ${label} did not answer the login for ${seconds}`
          : `giving up: could not reconnect to ${label} within ${seconds}`,
      );
      this.quit();
    }, FINISH_WAIT_MS);
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

  #queuedCount(): number {
    let queued = 0;
    for (const item of this.#outbox) if (item.state === "queued") queued++;
    return queued;
  }

  #wakeRoomWaiters(): void {
    if (this.#roomWaiters.length === 0) return;
    if (!this.#stopping && this.#queuedCount() >= MAX_QUEUED_MESSAGES) return;
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const resolve of waiters) resolve();
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

  /** Reports the status when it changed (each report may redraw the prompt). */
  #emitStatus(): void {
    const status = this.status;
    const text = JSON.stringify(status);
    if (text === this.#lastStatus) return;
    this.#lastStatus = text;
    this.#events.status(status);
  }

  #notice(text: string): void {
    this.#events.notice(text);
  }

  #clearLoginTimers(): void {
    for (const handle of this.#loginTimers) this.#timers.clearTimeout(handle);
    this.#loginTimers = [];
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
    this.#clearLoginTimers();
    this.#clearPumpTimer();
    for (const handle of [this.#holdTimer, this.#pauseTimer, this.#drainTimer]) {
      if (handle !== undefined) this.#timers.clearTimeout(handle);
    }
    this.#holdTimer = undefined;
    this.#pauseTimer = undefined;
    this.#drainTimer = undefined;
  }
}

/** A compact fingerprint of a message (two FNV-1a hashes), so the memory holds no texts. */
function messageKey(message: ChatMessage): string {
  return textKey(`${message.from}\u0000${message.time}\u0000${message.message}`);
}

/** Two FNV-1a hashes and the length of `text`. */
function textKey(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return `${a.toString(36)}.${b.toString(36)}.${text.length}`;
}
