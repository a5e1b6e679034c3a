// The clients of a benchmark run that one thread hosts: their connections,
// logins, receivers, the delivery ledger of their receipts, and the send
// loops of the senders among them. A run (lib/bench/load.ts) has one fleet
// in its own thread, or one per Worker with `--workers K`
// (lib/bench/fleet_worker.ts), and coordinates them: the phases, the
// barrier, the idle timeout and the result are the run's; everything that
// touches a socket is a fleet's, so a Worker's clients are read, counted and
// fed on the Worker's own thread and event loop.

import { sleep, withDeadline } from "../deadline.ts";
import { encodeLogin, encodeSend } from "../protocol.ts";
import type { BenchConn, ClientDialer, ConnSink } from "./dial.ts";
import { markerOf, messageText, nicknameOf } from "./payload.ts";
import { Receiver, type ReceiverEvents } from "./receiver.ts";
import { Ledger } from "./stats.ts";
import {
  type FleetReport,
  type FleetStatus,
  type LoadOptions,
  WRITE_BATCH_BYTES,
} from "./run_shape.ts";
import { errorLine } from "../errors.ts";

interface ClientState {
  index: number;
  conn?: BenchConn;
  receiver: Receiver;
  /** Distinct deliveries to this client. */
  unique: number;
  /** Distinct deliveries this client should get. */
  expected: number;
  /** Settles with the login answer; undefined once answered or in raw mode. */
  answer?: (refusal?: string) => void;
  sawSync: boolean;
  done: boolean;
}

const encoder = new TextEncoder();

/**
 * Clients `hosted` (indices into the run's N) of run `runId`.
 *
 * @example
 * ```ts
 * import type { ClientDialer } from "./dial.ts";
 *
 * import { type LoadOptions, microseconds } from "./run_shape.ts";
 *
 * declare const options: LoadOptions, dial: ClientDialer;
 * const fleet = new Fleet(options, "k3j2h1x9", [0, 1, 2], dial, microseconds, 50);
 * await fleet.connect();
 * fleet.status().loggedIn; // 3
 * ```
 */
export class Fleet {
  readonly #options: LoadOptions;
  readonly #id: string;
  readonly #dial: ClientDialer;
  readonly #clock: () => number;
  /** The run's epoch on the clock: tokens carry send times relative to it (fewer digits to read). */
  readonly #epochUs: number;
  readonly #concurrency: number;
  readonly #ledger: Ledger;
  readonly #clients = new Map<number, ClientState>();
  /** The same states by client index (holes for other fleets' clients): a delivery's lookup. */
  readonly #byIndex: ClientState[] = [];
  #loggedIn = 0;
  #synced = 0;
  #firstSynced = false;
  #sent = 0;
  #finished = 0;
  #activity = 0;
  #lastDataUs = 0;
  #lastDeliveryUs = 0;
  #failure: string | undefined;
  #timedOut = false;
  /** Set when the run stops (here or elsewhere): every loop ends. */
  #stopped = false;

  /**
   * @param concurrency Connections this fleet opens at once.
   * @param epochUs The run's epoch on `clock`, the same in every fleet of the run.
   */
  constructor(
    options: LoadOptions,
    runId: string,
    hosted: readonly number[],
    dial: ClientDialer,
    clock: () => number,
    concurrency: number,
    epochUs = 0,
  ) {
    this.#options = options;
    this.#id = runId;
    this.#dial = dial;
    this.#clock = clock;
    this.#epochUs = epochUs;
    this.#concurrency = Math.max(1, concurrency);
    this.#ledger = new Ledger(options.clients, options.senders, options.messages);
    const events = this.#events();
    for (const index of hosted) {
      const state: ClientState = {
        index,
        receiver: new Receiver(index, runId, !options.raw, events),
        unique: 0,
        expected: this.#expectedBy(index),
        sawSync: false,
        done: false,
      };
      this.#clients.set(index, state);
      this.#byIndex[index] = state;
    }
  }

  status(): FleetStatus {
    return {
      loggedIn: this.#loggedIn,
      synced: this.#synced,
      firstSynced: this.#firstSynced,
      sent: this.#sent,
      unique: this.#ledger.unique,
      finished: this.#finished,
      activity: this.#activity,
      lastDataUs: this.#lastDataUs,
      lastDeliveryUs: this.#lastDeliveryUs,
      failure: this.#failure,
      timedOut: this.#timedOut,
    };
  }

  #events(): ReceiverEvents {
    return {
      loggedIn: (client) => {
        this.#loggedIn++;
        const state = this.#clients.get(client)!;
        const answer = state.answer;
        state.answer = undefined;
        answer?.();
      },
      refused: (client, reason) => {
        const state = this.#clients.get(client)!;
        const answer = state.answer;
        state.answer = undefined;
        answer?.(reason);
      },
      token: (client, sender, seq, sentUs, nowUs) => {
        const latency = nowUs - this.#epochUs - sentUs;
        if (this.#ledger.record(client, sender, seq, latency) !== "new") return;
        this.#lastDeliveryUs = nowUs;
        const state = this.#byIndex[client];
        if (++state.unique === state.expected) this.#finish(state);
      },
      sync: (client, from) => {
        const state = this.#clients.get(client)!;
        // Client 0 waits for client 1's token, everyone else for client 0's.
        if (!state.sawSync && from === (client === 0 ? 1 : 0)) {
          state.sawSync = true;
          if (client === 0) this.#firstSynced = true;
          else this.#synced++;
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

  #halted(): boolean {
    return this.#stopped || this.#failure !== undefined;
  }

  #fail(reason: string, timedOut = false): void {
    if (this.#failure === undefined) {
      this.#failure = reason;
      this.#timedOut = timedOut;
    }
    this.#release();
  }

  /** Nobody waits for a login answer any longer. */
  #release(): void {
    for (const state of this.#clients.values()) {
      const answer = state.answer;
      state.answer = undefined;
      answer?.("the run stopped");
    }
  }

  /** Stops every loop of this fleet (the run failed or was interrupted). */
  stop(): void {
    this.#stopped = true;
    this.#release();
  }

  /** Connects and logs in every hosted client, {@linkcode concurrency} at a time. */
  async connect(): Promise<void> {
    const queue = [...this.#clients.values()];
    let next = 0;
    const worker = async () => {
      while (next < queue.length && !this.#halted()) await this.#connect(queue[next++]);
    };
    await Promise.all(
      Array.from({ length: Math.min(this.#concurrency, queue.length) }, worker),
    );
  }

  async #connect(state: ClientState): Promise<void> {
    const index = state.index;
    const label = this.#options.raw ? `client ${index}` : nicknameOf(this.#id, index);
    const sink: ConnSink = {
      data: (chunk: Uint8Array) => {
        this.#activity++;
        const now = this.#clock();
        this.#lastDataUs = now;
        state.receiver.push(chunk, now);
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
      conn = await this.#dialWithin(sink, index, this.#options.idleTimeoutMs);
    } catch (error) {
      this.#fail(`${label} could not connect: ${errorLine(error)}`);
      return;
    }
    if (conn === undefined) {
      this.#fail(`${label} could not connect within ${this.#options.idleTimeoutMs / 1000} s`, true);
      return;
    }
    this.#activity++;
    if (this.#halted()) {
      await conn.close();
      return;
    }
    state.conn = conn;
    if (answered === undefined) {
      this.#loggedIn++;
      return;
    }
    if (!await this.write(index, encodeLogin(nicknameOf(this.#id, index)))) return;
    const refusal = await answered;
    if (refusal !== undefined && !this.#stopped) {
      this.#fail(`login of ${label} refused: ${refusal}`);
    }
  }

  /** Dials, giving up after `ms`; a connection that comes later is closed at once. */
  async #dialWithin(sink: ConnSink, index: number, ms: number): Promise<BenchConn | undefined> {
    const dialing = this.#dial(sink, index);
    const conn = await withDeadline(dialing, ms);
    if (conn === undefined) dialing.then((late) => late.close(), () => {});
    return conn;
  }

  /**
   * Sends one or more frames (or raw lines) from hosted client `index`;
   * false when it failed. A write that is not `progress` does not count as
   * activity for the idle timeout.
   */
  async write(index: number, text: string, progress = true): Promise<boolean> {
    const conn = this.#clients.get(index)?.conn;
    if (conn === undefined) return false;
    try {
      await conn.write(encoder.encode(text));
      if (progress) this.#activity++;
      return true;
    } catch (error) {
      this.#fail(`client ${index} could not write: ${errorLine(error)}`);
      return false;
    }
  }

  /** A token's send time: now, in whole microseconds since the run's epoch. */
  #stamp(): number {
    return Math.round(this.#clock() - this.#epochUs);
  }

  #frame(text: string): string {
    return this.#options.raw ? `${text}\n` : encodeSend(text);
  }

  /** The barrier is over: clients that expect nothing are done already. */
  barrierDone(): void {
    for (const state of this.#clients.values()) {
      if (this.#expectedBy(state.index) === 0) this.#finish(state);
    }
  }

  /**
   * Runs the send loops of the hosted senders, message k of each due at
   * `startUs` + k / rate (as fast as possible without a rate); resolves
   * when they are all done or the run stopped.
   */
  async send(startUs: number): Promise<void> {
    const senders = [...this.#clients.keys()].filter((index) => index < this.#options.senders);
    await Promise.all(
      senders.map((index) =>
        this.#options.rate === undefined ? this.#flood(index) : this.#pace(index, startUs)
      ),
    );
  }

  /** Sends as fast as the connection takes it; frames coalesced in protocol mode. */
  async #flood(index: number): Promise<void> {
    const { messages, size, raw } = this.#options;
    const marker = markerOf(this.#id);
    let seq = 0;
    while (seq < messages && !this.#halted()) {
      let batch = "";
      let count = 0;
      do {
        batch += this.#frame(messageText(marker, index, seq++, this.#stamp(), size));
        count++;
      } while (!raw && seq < messages && batch.length < WRITE_BATCH_BYTES);
      if (!await this.write(index, batch)) return;
      this.#sent += count;
    }
  }

  /**
   * Sends message k at `start` + k / rate, each stamped when it is built,
   * just before its write; messages that are due together (the timer fired
   * late) share a write. Due times are absolute, so a late timer never
   * shifts the ones after it: timer lateness shows as a batch, not as drift.
   */
  async #pace(index: number, start: number): Promise<void> {
    const { messages, size, raw } = this.#options;
    const rate = this.#options.rate!;
    const marker = markerOf(this.#id);
    let seq = 0;
    while (seq < messages && !this.#halted()) {
      const dueUs = start + (seq * 1e6) / rate;
      const now = this.#clock();
      if (now < dueUs) {
        await sleep((dueUs - now) / 1000);
        continue;
      }
      let batch = "";
      let count = 0;
      do {
        batch += this.#frame(messageText(marker, index, seq++, this.#stamp(), size));
        count++;
      } while (!raw && seq < messages && start + (seq * 1e6) / rate <= now);
      if (!await this.write(index, batch)) return;
      this.#sent += count;
    }
  }

  /** What the hosted clients measured. */
  report(): FleetReport {
    const totals = this.#ledger.totals();
    let errors = 0, longLines = 0, bytes = 0;
    for (const { receiver } of this.#clients.values()) {
      errors += receiver.errors;
      longLines += receiver.longLines;
      bytes += receiver.bytes;
    }
    return {
      unique: totals.unique,
      duplicated: totals.duplicated,
      outOfOrder: totals.outOfOrder,
      echoed: totals.echoed,
      unknown: totals.unknown,
      latency: this.#ledger.latency.toData(),
      lastDeliveryUs: this.#lastDeliveryUs,
      errors,
      longLines,
      bytes,
    };
  }

  /** Closes every connection, `concurrency` at a time; resolves when they are gone. */
  async close(concurrency: number): Promise<void> {
    this.#stopped = true;
    const conns = [...this.#clients.values()].map((state) => state.conn);
    let next = 0;
    const worker = async () => {
      while (next < conns.length) await conns[next++]?.close();
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  }
}
