// One benchmark run: log in N clients, hold a barrier so every replay is
// drained and every client is known to receive, let S of them send M
// messages each, count every delivery, and close.
//
// The barrier works against any server of the protocol, ncat included:
// client 0 sends a token that every other client must receive, then client 1
// one that client 0 must receive. A server delivers in order, replay before
// live traffic (PROTOCOL.md §4), so a client that has the token has drained
// whatever came before it. The run ends when every client has every message
// meant for it, or at the first failure: a refused login, a dropped
// connection, a failed write, or no progress at all for `idleTimeoutMs`.

import { withDeadline } from "../deadline.ts";
import { encodeLogin, encodeSend } from "../protocol.ts";
import type { BenchConn, ConnSink, Dialer } from "./dial.ts";
import { markerOf, messageText, nicknameOf, runId as newRunId, syncText } from "./payload.ts";
import { Receiver, type ReceiverEvents } from "./receiver.ts";
import { Ledger, type LedgerTotals } from "./stats.ts";

/** Connections being opened at once, so the server sees a steady stream of handshakes, not a storm. */
export const CONNECT_CONCURRENCY = 50;
/**
 * The most bytes of frames a sender coalesces into one write in protocol
 * mode when sending as fast as possible. (`--raw` writes one message per
 * write: ncat --chat takes each read as one message.)
 */
export const WRITE_BATCH_BYTES = 16 * 1024;
/** How often the run checks its progress and reports it. */
export const TICK_MS = 10;
/** How often progress goes to `onProgress`. */
export const PROGRESS_INTERVAL_MS = 250;
/** How long nothing must arrive before a barrier token is sent again. */
export const SYNC_RESEND_MS = 500;
/** The most times one barrier token is sent. */
export const MAX_SYNC_SENDS = 10;
/** Connections closed at once at the end. */
export const CLOSE_CONCURRENCY = 500;

/** The shape of a run. */
export interface LoadOptions {
  /** Clients logged in (at least 2: the barrier needs two). */
  clients: number;
  /** How many of them send (clients 0 … senders-1). */
  senders: number;
  /** Messages each sender sends. */
  messages: number;
  /** Bytes of each message's text (at least the token's length). */
  size: number;
  /** Messages per second per sender; undefined: as fast as possible. */
  rate?: number;
  /** No login, one message per write, the marker anywhere in a line (line-broadcast servers). */
  raw: boolean;
  /** A run that makes no progress at all for this long fails as timed out. */
  idleTimeoutMs: number;
  /** After the deliveries, keep every client connected this long (to measure the server). */
  holdMs: number;
}

/** What the world gives a run. */
export interface LoadDeps {
  dial: Dialer;
  /** Microseconds; the send time in tokens and the receive time come from it. */
  clock: () => number;
  /** Aborting stops the run (reported as interrupted). */
  signal: AbortSignal;
  /** A new run id; random by default. */
  runId?: () => string;
  onProgress?: (progress: Progress) => void;
}

/** Where a run is. */
export type Phase = "connecting" | "barrier" | "sending" | "holding" | "closing";

/** A snapshot for a progress display. */
export interface Progress {
  phase: Phase;
  clients: number;
  loggedIn: number;
  /** Messages written so far, out of `senders × messages`. */
  sent: number;
  toSend: number;
  /** Distinct deliveries so far, out of `expected`. */
  delivered: number;
  expected: number;
  /** Microseconds since sending started (0 before). */
  sendingUs: number;
}

/** What a run measured. */
export interface LoadResult {
  runId: string;
  totals: LedgerTotals;
  /** Latency percentiles and maximum, in milliseconds. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** From the first send to the last delivery. */
  seconds: number;
  deliveriesPerSecond: number;
  /** Logging in every client and the barrier. */
  connectSeconds: number;
  /** Why the run stopped early; undefined when it completed. */
  failure?: string;
  /** Whether the failure was the idle timeout. */
  timedOut: boolean;
  /** Error frames the clients received after login. */
  errors: number;
  /** Received lines dropped for length. */
  longLines: number;
  /** Bytes received by all clients. */
  bytes: number;
}

const encoder = new TextEncoder();

interface ClientState {
  conn?: BenchConn;
  receiver: Receiver;
  /** Distinct deliveries to this client. */
  unique: number;
  /** Settles with the login answer; undefined once answered or in raw mode. */
  answer?: (refusal?: string) => void;
  sawSync: boolean;
  done: boolean;
}

/**
 * Runs one benchmark; never rejects for a server's misbehaviour (that is
 * the result's `failure`).
 *
 * @example
 * ```ts
 * const { dial } = await chooseDialer("127.0.0.1", 1337, { kind: "ca", pem });
 * const result = await runLoad(
 *   { clients: 10, senders: 1, messages: 1000, size: 100, raw: false, idleTimeoutMs: 10_000, holdMs: 0 },
 *   { dial, clock: microseconds, signal: AbortSignal.timeout(60_000) },
 * );
 * result.totals.lost; // 0
 * ```
 */
export async function runLoad(options: LoadOptions, deps: LoadDeps): Promise<LoadResult> {
  return await new Run(options, deps).run();
}

/** Microseconds since 1970 on this process's monotonic clock. */
export function microseconds(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

class Run {
  readonly #options: LoadOptions;
  readonly #deps: LoadDeps;
  readonly #id: string;
  readonly #ledger: Ledger;
  readonly #clients: ClientState[] = [];
  #phase: Phase = "connecting";
  #loggedIn = 0;
  #synced = 0;
  #sent = 0;
  /** Clients that have all they should get, or are closed. */
  #finished = 0;
  #sendStartUs = 0;
  #lastDeliveryUs = 0;
  /** Grows with every chunk received and every message written; the idle timeout watches it. */
  #activity = 0;
  /** The value of #activity the idle timeout last saw, and since when (ms) it has not changed. */
  #seenActivity = -1;
  #quietSinceMs = 0;
  /** When (ms) the last chunk arrived, on any connection. */
  #lastDataMs = 0;
  #failure: string | undefined;
  #timedOut = false;
  /** The senders' loops, once sending started. */
  #senders: Promise<unknown> = Promise.resolve();

  constructor(options: LoadOptions, deps: LoadDeps) {
    if (options.clients < 2) {
      throw new RangeError(`Cannot run a benchmark with ${options.clients} clients: it needs 2`);
    }
    this.#options = options;
    this.#deps = deps;
    this.#id = (deps.runId ?? newRunId)();
    this.#ledger = new Ledger(options.clients, options.senders, options.messages);
  }

  async run(): Promise<LoadResult> {
    const started = this.#deps.clock();
    const events = this.#events();
    for (let i = 0; i < this.#options.clients; i++) {
      this.#clients.push({
        receiver: new Receiver(i, this.#id, !this.#options.raw, events),
        unique: 0,
        sawSync: false,
        done: false,
      });
    }
    try {
      await this.#connectAll();
      if (this.#failure === undefined) await this.#barrier();
      const connectSeconds = (this.#deps.clock() - started) / 1e6;
      if (this.#failure === undefined) await this.#send();
      if (this.#failure === undefined && this.#options.holdMs > 0) await this.#hold();
      return this.#result(connectSeconds);
    } finally {
      this.#enter("closing");
      // Closing first: a sender stuck in a write to a server that stopped reading gets an error.
      await this.#closeAll();
      await this.#senders;
    }
  }

  #events(): ReceiverEvents {
    return {
      loggedIn: (client) => {
        this.#loggedIn++;
        const answer = this.#clients[client].answer;
        this.#clients[client].answer = undefined;
        answer?.();
      },
      refused: (client, reason) => {
        const answer = this.#clients[client].answer;
        this.#clients[client].answer = undefined;
        answer?.(reason);
      },
      token: (client, sender, seq, sentUs, nowUs) => {
        if (this.#ledger.record(client, sender, seq, nowUs - sentUs) !== "new") return;
        this.#lastDeliveryUs = nowUs;
        const state = this.#clients[client];
        state.unique++;
        if (state.unique === this.#expectedBy(client)) this.#finish(state);
      },
      sync: (client, from) => {
        const state = this.#clients[client];
        // Client 0 waits for client 1's token, everyone else for client 0's.
        if (!state.sawSync && from === (client === 0 ? 1 : 0)) {
          state.sawSync = true;
          this.#synced++;
        }
      },
    };
  }

  /** Deliveries client `client` should get: every sender's messages but its own. */
  #expectedBy(client: number): number {
    const { senders, messages } = this.#options;
    return (senders - (client < senders ? 1 : 0)) * messages;
  }

  #finish(state: ClientState): void {
    if (state.done) return;
    state.done = true;
    this.#finished++;
  }

  #fail(reason: string, timedOut = false): void {
    if (this.#failure !== undefined) return;
    this.#failure = reason;
    this.#timedOut = timedOut;
    // Nobody waits for a login answer any longer.
    for (const state of this.#clients) {
      const answer = state.answer;
      state.answer = undefined;
      answer?.("the run stopped");
    }
  }

  #enter(phase: Phase): void {
    this.#phase = phase;
    this.#deps.onProgress?.(this.#progress());
  }

  #progress(): Progress {
    return {
      phase: this.#phase,
      clients: this.#options.clients,
      loggedIn: this.#loggedIn,
      sent: this.#sent,
      toSend: this.#options.senders * this.#options.messages,
      delivered: this.#ledger.unique,
      expected: this.#ledger.expected,
      sendingUs: this.#sendStartUs === 0 ? 0 : this.#deps.clock() - this.#sendStartUs,
    };
  }

  /**
   * Waits until `done()` holds, a failure happens, the signal aborts,
   * `limitMs` pass, or nothing at all happens (no byte in, no message out)
   * for the idle timeout, counted across waits. `what` names the wait.
   */
  async #waitUntil(done: () => boolean, what: string, limitMs = Infinity): Promise<void> {
    const until = performance.now() + limitMs;
    let reported = performance.now();
    while (!done() && this.#failure === undefined) {
      if (this.#deps.signal.aborted) {
        this.#fail(`interrupted while ${what}`);
        return;
      }
      await sleep(TICK_MS);
      const now = performance.now();
      if (this.#activity !== this.#seenActivity) {
        this.#seenActivity = this.#activity;
        this.#quietSinceMs = now;
      } else if (now - this.#quietSinceMs >= this.#options.idleTimeoutMs) {
        this.#fail(
          `timed out: nothing happened for ${this.#options.idleTimeoutMs / 1000} s while ${what}`,
          true,
        );
        return;
      }
      if (now - reported >= PROGRESS_INTERVAL_MS) {
        reported = now;
        this.#deps.onProgress?.(this.#progress());
      }
      if (now >= until) return;
    }
  }

  async #connectAll(): Promise<void> {
    this.#enter("connecting");
    let next = 0;
    const worker = async () => {
      while (next < this.#clients.length && this.#failure === undefined) {
        const index = next++;
        await this.#connect(index);
      }
    };
    const workers = Promise.all(
      Array.from({ length: Math.min(CONNECT_CONCURRENCY, this.#clients.length) }, worker),
    );
    let connected = false;
    workers.then(() => connected = true);
    await this.#waitUntil(() => connected, "logging in");
    await workers;
  }

  async #connect(index: number): Promise<void> {
    const state = this.#clients[index];
    const label = this.#options.raw ? `client ${index}` : nicknameOf(this.#id, index);
    const sink: ConnSink = {
      data: (chunk: Uint8Array) => {
        this.#activity++;
        this.#lastDataMs = performance.now();
        state.receiver.push(chunk, this.#deps.clock());
      },
      closed: (reason?: string) => {
        this.#finish(state);
        if (reason !== undefined) this.#fail(`${label} was disconnected: ${reason}`);
        state.answer?.(`disconnected: ${reason ?? "closed"}`);
        state.answer = undefined;
      },
    };
    const answered = this.#options.raw
      ? undefined
      : new Promise<string | undefined>((resolve) => state.answer = resolve);
    let conn: BenchConn | undefined;
    try {
      conn = await this.#dialWithin(sink, this.#options.idleTimeoutMs);
    } catch (error) {
      this.#fail(`${label} could not connect: ${describe(error)}`);
      return;
    }
    if (conn === undefined) {
      this.#fail(`${label} could not connect within ${this.#options.idleTimeoutMs / 1000} s`, true);
      return;
    }
    this.#activity++;
    if (this.#failure !== undefined) {
      await conn.close();
      return;
    }
    state.conn = conn;
    if (answered === undefined) {
      this.#loggedIn++;
      return;
    }
    if (!await this.#write(index, encodeLogin(nicknameOf(this.#id, index)))) return;
    const refusal = await answered;
    if (refusal !== undefined) this.#fail(`login of ${label} refused: ${refusal}`);
  }

  /** Dials, giving up after `ms`; a connection that comes later is closed at once. */
  async #dialWithin(sink: ConnSink, ms: number): Promise<BenchConn | undefined> {
    const dialing = this.#deps.dial(sink);
    const conn = await withDeadline(dialing, ms);
    if (conn === undefined) dialing.then((late) => late.close(), () => {});
    return conn;
  }

  /**
   * Sends one or more frames (or raw lines) from client `index`; false when
   * it failed. A write that is not `progress` does not hold off the idle timeout.
   */
  async #write(index: number, text: string, progress = true): Promise<boolean> {
    const conn = this.#clients[index].conn;
    if (conn === undefined) return false;
    try {
      await conn.write(encoder.encode(text));
      if (progress) this.#activity++;
      return true;
    } catch (error) {
      this.#fail(`client ${index} could not write: ${describe(error)}`);
      return false;
    }
  }

  #frame(text: string): string {
    return this.#options.raw ? `${text}\n` : encodeSend(text);
  }

  async #barrier(): Promise<void> {
    this.#enter("barrier");
    this.#quietSinceMs = performance.now();
    const first = this.#clients[0];
    await this.#syncFrom(0, () => this.#synced === this.#clients.length - 1);
    if (this.#failure !== undefined) return;
    await this.#syncFrom(1, () => first.sawSync);
    // Clients that expect nothing are done already.
    for (let i = 0; i < this.#clients.length; i++) {
      if (this.#expectedBy(i) === 0) this.#finish(this.#clients[i]);
    }
  }

  /**
   * Client `index` sends its barrier token until `done()`: again (up to
   * MAX_SYNC_SENDS times) whenever nothing has arrived anywhere for
   * SYNC_RESEND_MS. ncat, for one, can hold a message that closely follows
   * a TLS handshake until the next one arrives on that connection; a replay
   * still being drained, on the other hand, is never interrupted.
   */
  async #syncFrom(index: number, done: () => boolean): Promise<void> {
    const token = this.#frame(syncText(markerOf(this.#id), index));
    for (let sends = 0; !done() && this.#failure === undefined;) {
      const quiet = performance.now() - this.#lastDataMs >= SYNC_RESEND_MS;
      if (sends === 0 || (sends < MAX_SYNC_SENDS && quiet)) {
        if (!await this.#write(index, token, false)) return;
        sends++;
      }
      await this.#waitUntil(done, "waiting for the replay", SYNC_RESEND_MS);
    }
  }

  async #send(): Promise<void> {
    this.#enter("sending");
    this.#sendStartUs = this.#deps.clock();
    let sending = this.#options.senders;
    this.#senders = Promise.all(Array.from({ length: this.#options.senders }, async (_, index) => {
      await (this.#options.rate === undefined ? this.#flood(index) : this.#pace(index));
      sending--;
    }));
    await this.#waitUntil(
      () => sending === 0 && this.#finished === this.#clients.length,
      "waiting for deliveries",
    );
  }

  /** Sends as fast as the connection takes it; frames coalesced in protocol mode. */
  async #flood(index: number): Promise<void> {
    const { messages, size, raw } = this.#options;
    const marker = markerOf(this.#id);
    let seq = 0;
    while (seq < messages && this.#failure === undefined) {
      let batch = "";
      let count = 0;
      do {
        batch += this.#frame(messageText(marker, index, seq++, this.#deps.clock(), size));
        count++;
      } while (!raw && seq < messages && batch.length < WRITE_BATCH_BYTES);
      if (!await this.#write(index, batch)) return;
      this.#sent += count;
    }
  }

  /** Sends message k at start + k / rate; messages that are due together share a write. */
  async #pace(index: number): Promise<void> {
    const { messages, size, raw } = this.#options;
    const rate = this.#options.rate!;
    const marker = markerOf(this.#id);
    const start = this.#sendStartUs;
    let seq = 0;
    while (seq < messages && this.#failure === undefined && !this.#deps.signal.aborted) {
      const dueUs = start + (seq * 1e6) / rate;
      const now = this.#deps.clock();
      if (now < dueUs) {
        await sleep((dueUs - now) / 1000);
        continue;
      }
      let batch = "";
      let count = 0;
      do {
        batch += this.#frame(messageText(marker, index, seq++, this.#deps.clock(), size));
        count++;
      } while (!raw && seq < messages && start + (seq * 1e6) / rate <= now);
      if (!await this.#write(index, batch)) return;
      this.#sent += count;
    }
  }

  async #hold(): Promise<void> {
    this.#enter("holding");
    const until = performance.now() + this.#options.holdMs;
    while (performance.now() < until && this.#failure === undefined) {
      if (this.#deps.signal.aborted) {
        this.#fail("interrupted while holding");
        return;
      }
      await sleep(Math.min(100, until - performance.now()));
    }
  }

  async #closeAll(): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < this.#clients.length) {
        const conn = this.#clients[next++].conn;
        if (conn !== undefined) await conn.close();
      }
    };
    await Promise.all(Array.from({ length: CLOSE_CONCURRENCY }, worker));
  }

  #result(connectSeconds: number): LoadResult {
    const totals = this.#ledger.totals();
    const latency = this.#ledger.latency;
    const seconds = this.#lastDeliveryUs > this.#sendStartUs && this.#sendStartUs > 0
      ? (this.#lastDeliveryUs - this.#sendStartUs) / 1e6
      : 0;
    let errors = 0, longLines = 0, bytes = 0;
    for (const { receiver } of this.#clients) {
      errors += receiver.errors;
      longLines += receiver.longLines;
      bytes += receiver.bytes;
    }
    return {
      runId: this.#id,
      totals,
      latencyMs: {
        p50: latency.percentile(50) / 1000,
        p90: latency.percentile(90) / 1000,
        p99: latency.percentile(99) / 1000,
        max: latency.max / 1000,
      },
      seconds,
      deliveriesPerSecond: seconds > 0 ? totals.unique / seconds : 0,
      connectSeconds,
      failure: this.#failure,
      timedOut: this.#timedOut,
      errors,
      longLines,
      bytes,
    };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}
