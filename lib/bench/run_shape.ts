// The shape of a benchmark run and what each fleet tells the run about it:
// LoadOptions (what lib/bench/load.ts is asked to do), FleetStatus (read
// every tick), FleetReport (once the deliveries are in), the clock every
// thread stamps with, and the send batch size. Plain data only: a Worker's
// fleet (lib/bench/fleet_worker.ts) sends these across by structured clone.

import type { HistogramData } from "./stats.ts";

/**
 * The most bytes of frames a sender coalesces into one write in protocol
 * mode when sending as fast as possible. (`--raw` writes one message per
 * write: ncat --chat takes each read as one message.)
 */
export const WRITE_BATCH_BYTES = 16 * 1024;

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
  /**
   * Threads the clients are spread over: 1 keeps them all in the calling
   * thread; K > 1 puts client i in Worker i mod K (undefined: 1).
   */
  workers?: number;
}

/** Where a fleet is, as the run reads it every tick. */
export interface FleetStatus {
  /** Hosted clients logged in (connected, in raw mode). */
  loggedIn: number;
  /** Hosted clients other than 0 that received client 0's barrier token. */
  synced: number;
  /** Whether client 0 is hosted here and received client 1's barrier token. */
  firstSynced: boolean;
  /** Messages written by the hosted senders. */
  sent: number;
  /** Distinct deliveries to hosted clients. */
  unique: number;
  /** Hosted clients that have all they should get, or are closed. */
  finished: number;
  /** Grows with every chunk received, connection opened and message written. */
  activity: number;
  /** When the last chunk arrived (microseconds on the run's clock; 0: never). */
  lastDataUs: number;
  /** When the last new delivery arrived (microseconds; 0: none). */
  lastDeliveryUs: number;
  /** The first thing that went wrong here. */
  failure?: string;
  /** Whether that was a connection that did not come within the idle timeout. */
  timedOut: boolean;
}

/** A fleet's status before anything has happened: every count zero, no failure. */
export function idleStatus(): FleetStatus {
  return {
    loggedIn: 0,
    synced: 0,
    firstSynced: false,
    sent: 0,
    unique: 0,
    finished: 0,
    activity: 0,
    lastDataUs: 0,
    lastDeliveryUs: 0,
    timedOut: false,
  };
}

/** What a fleet measured, once the deliveries are in. */
export interface FleetReport {
  unique: number;
  duplicated: number;
  outOfOrder: number;
  echoed: number;
  unknown: number;
  latency: HistogramData;
  lastDeliveryUs: number;
  /** Error frames, long lines and bytes its receivers saw. */
  errors: number;
  longLines: number;
  bytes: number;
}

/**
 * Microseconds since 1970 on this thread's monotonic clock. Every thread's
 * clock starts from the wall clock when the thread starts, so a Worker's and
 * the main thread's agree: on this project's machine a ping-pong between
 * them found them within 0.1 ms of each other, as closely as its 0.4 ms
 * round trip can tell. A send time stamped in one thread and a receive time
 * in another give the delivery's latency.
 */
export function microseconds(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}
