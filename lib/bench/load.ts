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

import { sleep } from "../deadline.ts";
import { encodeSend } from "../protocol.ts";
import type { ClientDialer, DialSpec } from "./dial.ts";
import { Fleet } from "./fleet.ts";
import { type FleetReport, type FleetStatus, idleStatus, type LoadOptions } from "./run_shape.ts";
import { type FleetHandle, WorkerFleet } from "./fleet_worker.ts";
import { markerOf, runId as newRunId, syncText } from "./payload.ts";
import { LatencyHistogram, type LedgerTotals } from "./stats.ts";
import { errorLine } from "../errors.ts";

/** Connections being opened at once, so the server sees a steady stream of handshakes, not a storm. */
export const CONNECT_CONCURRENCY = 50;
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
/** The most Workers a run spreads its clients over. */
export const MAX_WORKERS = 64;

/** What the world gives a run. */
export interface LoadDeps {
  /** Opens client i's connection (in this thread). */
  dial: ClientDialer;
  /** How a Worker dials: needed when `workers` > 1 (Workers rebuild the dialer from it). */
  dialSpec?: DialSpec;
  /**
   * Microseconds; the send time in tokens and the receive time come from it.
   * (Workers always use {@linkcode microseconds}.)
   */
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

/**
 * Runs one benchmark; never rejects for a server's misbehaviour (that is
 * the result's `failure`).
 *
 * @example
 * ```ts
 * import { chooseDialers } from "./dial.ts";
 * import { microseconds } from "./run_shape.ts";
 *
 * const pem = await Deno.readTextFile("certs/cert.pem");
 * const { dial, spec } = await chooseDialers([{ host: "127.0.0.1", port: 1337 }], { kind: "ca", pem });
 * const result = await runLoad(
 *   { clients: 10, senders: 1, messages: 1000, size: 100, raw: false, idleTimeoutMs: 10_000, holdMs: 0 },
 *   { dial, dialSpec: spec, clock: microseconds, signal: AbortSignal.timeout(60_000) },
 * );
 * result.totals.lost; // 0
 * ```
 */
export async function runLoad(options: LoadOptions, deps: LoadDeps): Promise<LoadResult> {
  return await new Run(options, deps).run();
}

/** The clients Worker `worker` of `workers` hosts: client i goes to Worker i mod K. */
export function hostedBy(worker: number, workers: number, clients: number): number[] {
  const hosted: number[] = [];
  for (let i = worker; i < clients; i += workers) hosted.push(i);
  return hosted;
}

class Run {
  readonly #options: LoadOptions;
  readonly #deps: LoadDeps;
  readonly #id: string;
  readonly #workers: number;
  #fleets: FleetHandle[] = [];
  #phase: Phase = "connecting";
  #sendStartUs = 0;
  /** When the run started (µs on the clock): tokens carry send times relative to it. */
  #epochUs = 0;
  /** The summed activity the idle timeout last saw, and since when (ms) it has not changed. */
  #seenActivity = -1;
  #quietSinceMs = 0;
  #failure: string | undefined;
  #timedOut = false;
  /** The fleets' send loops, once sending started. */
  #senders: Promise<unknown> = Promise.resolve();

  constructor(options: LoadOptions, deps: LoadDeps) {
    if (options.clients < 2) {
      throw new RangeError(`Cannot run a benchmark with ${options.clients} clients: it needs 2`);
    }
    const workers = options.workers ?? 1;
    if (!(Number.isInteger(workers) && workers >= 1 && workers <= MAX_WORKERS)) {
      throw new RangeError(`Cannot spread a run over ${workers} Workers: 1 to ${MAX_WORKERS}`);
    }
    if (workers > 1 && deps.dialSpec === undefined) {
      throw new RangeError("Cannot spread a run over Workers without a dialSpec");
    }
    this.#options = options;
    this.#deps = deps;
    this.#id = (deps.runId ?? newRunId)();
    this.#workers = Math.min(workers, options.clients);
  }

  async run(): Promise<LoadResult> {
    const started = this.#deps.clock();
    this.#epochUs = Math.floor(started);
    try {
      await this.#startFleets();
      if (this.#failure === undefined) await this.#connectAll();
      if (this.#failure === undefined) await this.#barrier();
      const connectSeconds = (this.#deps.clock() - started) / 1e6;
      if (this.#failure === undefined) await this.#send();
      if (this.#failure === undefined && this.#options.holdMs > 0) await this.#hold();
      return await this.#result(connectSeconds);
    } finally {
      this.#enter("closing");
      // Closing first: a sender stuck in a write to a server that stopped reading gets an error.
      const share = Math.max(1, Math.ceil(CLOSE_CONCURRENCY / this.#fleets.length));
      await Promise.all(this.#fleets.map((fleet) => fleet.close(share)));
      await this.#senders;
    }
  }

  /** One fleet in this thread, or one per Worker. */
  async #startFleets(): Promise<void> {
    const { clients } = this.#options;
    const concurrency = Math.max(1, Math.ceil(CONNECT_CONCURRENCY / this.#workers));
    if (this.#workers === 1) {
      const all = Array.from({ length: clients }, (_, i) => i);
      this.#fleets = [
        new Fleet(
          this.#options,
          this.#id,
          all,
          this.#deps.dial,
          this.#deps.clock,
          concurrency,
          this.#epochUs,
        ),
      ];
      return;
    }
    const started = await Promise.allSettled(
      Array.from({ length: this.#workers }, (_, w) =>
        WorkerFleet.start(
          this.#options,
          this.#id,
          hostedBy(w, this.#workers, clients),
          this.#deps.dialSpec!,
          concurrency,
          this.#epochUs,
        )),
    );
    for (const outcome of started) {
      if (outcome.status === "fulfilled") this.#fleets.push(outcome.value);
      else this.#fail(`a Worker could not start: ${errorLine(outcome.reason)}`);
    }
  }

  /** The fleet hosting client `index`. */
  #fleetOf(index: number): FleetHandle {
    return this.#fleets[index % this.#fleets.length];
  }

  /** The fleets' statuses, summed; the first failure among them fails the run. */
  #status(): FleetStatus {
    const sum = idleStatus();
    for (const fleet of this.#fleets) {
      const status = fleet.status();
      sum.loggedIn += status.loggedIn;
      sum.synced += status.synced;
      sum.firstSynced ||= status.firstSynced;
      sum.sent += status.sent;
      sum.unique += status.unique;
      sum.finished += status.finished;
      sum.activity += status.activity;
      sum.lastDataUs = Math.max(sum.lastDataUs, status.lastDataUs);
      sum.lastDeliveryUs = Math.max(sum.lastDeliveryUs, status.lastDeliveryUs);
      if (status.failure !== undefined && sum.failure === undefined) {
        sum.failure = status.failure;
        sum.timedOut = status.timedOut;
      }
    }
    if (sum.failure !== undefined) this.#fail(sum.failure, sum.timedOut);
    return sum;
  }

  #fail(reason: string, timedOut = false): void {
    if (this.#failure !== undefined) return;
    this.#failure = reason;
    this.#timedOut = timedOut;
    for (const fleet of this.#fleets) fleet.stop();
  }

  #enter(phase: Phase): void {
    this.#phase = phase;
    this.#deps.onProgress?.(this.#progress());
  }

  #progress(): Progress {
    const status = this.#status();
    const { clients, senders, messages } = this.#options;
    return {
      phase: this.#phase,
      clients,
      loggedIn: status.loggedIn,
      sent: status.sent,
      toSend: senders * messages,
      delivered: status.unique,
      expected: senders * messages * (clients - 1),
      sendingUs: this.#sendStartUs === 0 ? 0 : this.#deps.clock() - this.#sendStartUs,
    };
  }

  /**
   * Waits until `done()` holds, a failure happens, the signal aborts,
   * `limitMs` pass, or nothing at all happens (no byte in, no message out)
   * for the idle timeout, counted across waits. `what` names the wait.
   */
  async #waitUntil(
    done: (status: FleetStatus) => boolean,
    what: string,
    limitMs = Infinity,
  ): Promise<void> {
    const until = performance.now() + limitMs;
    let reported = performance.now();
    while (this.#failure === undefined) {
      const status = this.#status();
      if (this.#failure !== undefined || done(status)) return;
      if (this.#deps.signal.aborted) {
        this.#fail(`interrupted while ${what}`);
        return;
      }
      await sleep(TICK_MS);
      const now = performance.now();
      if (status.activity !== this.#seenActivity) {
        this.#seenActivity = status.activity;
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
    let connected = false;
    const connecting = Promise.all(this.#fleets.map((fleet) => fleet.connect()))
      .then(() => connected = true);
    await this.#waitUntil(() => connected, "logging in");
    await connecting;
  }

  async #barrier(): Promise<void> {
    this.#enter("barrier");
    this.#quietSinceMs = performance.now();
    await this.#syncFrom(0, (status) => status.synced === this.#options.clients - 1);
    if (this.#failure !== undefined) return;
    await this.#syncFrom(1, (status) => status.firstSynced);
    for (const fleet of this.#fleets) fleet.barrierDone();
  }

  /**
   * Client `index` sends its barrier token until `done()`: again (up to
   * MAX_SYNC_SENDS times) whenever nothing has arrived anywhere for
   * SYNC_RESEND_MS. ncat, for one, can hold a message that closely follows
   * a TLS handshake until the next one arrives on that connection; a replay
   * still being drained, on the other hand, is never interrupted.
   */
  async #syncFrom(index: number, done: (status: FleetStatus) => boolean): Promise<void> {
    const token = this.#frame(syncText(markerOf(this.#id), index));
    const fleet = this.#fleetOf(index);
    for (let sends = 0;;) {
      const status = this.#status();
      if (done(status) || this.#failure !== undefined) return;
      const quiet = this.#deps.clock() - status.lastDataUs >= SYNC_RESEND_MS * 1000;
      if (sends === 0 || (sends < MAX_SYNC_SENDS && quiet)) {
        if (!await fleet.write(index, token, false)) {
          this.#status(); // The fleet's failure, when it has one, becomes the run's.
          this.#fail(`client ${index} could not send its barrier token`);
          return;
        }
        sends++;
      }
      await this.#waitUntil(done, "waiting for the replay", SYNC_RESEND_MS);
    }
  }

  #frame(text: string): string {
    return this.#options.raw ? `${text}\n` : encodeSend(text);
  }

  async #send(): Promise<void> {
    this.#enter("sending");
    this.#sendStartUs = this.#deps.clock();
    let sending = this.#fleets.length;
    this.#senders = Promise.all(this.#fleets.map(async (fleet) => {
      await fleet.send(this.#sendStartUs);
      sending--;
    }));
    await this.#waitUntil(
      (status) => sending === 0 && status.finished === this.#options.clients,
      "waiting for deliveries",
    );
  }

  async #hold(): Promise<void> {
    this.#enter("holding");
    const until = performance.now() + this.#options.holdMs;
    while (performance.now() < until && this.#failure === undefined) {
      if (this.#deps.signal.aborted) {
        this.#fail("interrupted while holding");
        return;
      }
      this.#status();
      await sleep(Math.min(100, until - performance.now()));
    }
  }

  async #result(connectSeconds: number): Promise<LoadResult> {
    const reports: FleetReport[] = [];
    for (const fleet of this.#fleets) {
      try {
        reports.push(await fleet.report());
      } catch (error) {
        this.#fail(`a Worker's report was lost: ${errorLine(error)}`);
      }
    }
    const latency = new LatencyHistogram();
    const { clients, senders, messages } = this.#options;
    const expected = senders * messages * (clients - 1);
    const totals: LedgerTotals = {
      expected,
      unique: 0,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      echoed: 0,
      unknown: 0,
    };
    let errors = 0, longLines = 0, bytes = 0, lastDeliveryUs = 0;
    for (const report of reports) {
      totals.unique += report.unique;
      totals.duplicated += report.duplicated;
      totals.outOfOrder += report.outOfOrder;
      totals.echoed += report.echoed;
      totals.unknown += report.unknown;
      latency.merge(LatencyHistogram.fromData(report.latency));
      errors += report.errors;
      longLines += report.longLines;
      bytes += report.bytes;
      lastDeliveryUs = Math.max(lastDeliveryUs, report.lastDeliveryUs);
    }
    totals.lost = expected - totals.unique;
    const seconds = lastDeliveryUs > this.#sendStartUs && this.#sendStartUs > 0
      ? (lastDeliveryUs - this.#sendStartUs) / 1e6
      : 0;
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
