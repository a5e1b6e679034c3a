// The servers of a chat, each alive or not: every server keeps a heartbeat
// key with a lease in Redis (`chat:alive:<server id>`), and every server
// checks, at each of its own heartbeats, whether another's has ended. Those
// people go off the roster, leaving `lost` for everyone (one script: the
// same check run by several servers at once leaves each person once). So a
// server that dies without a word (SIGKILL, a lost host) leaves nobody
// behind in the `who` of the others, within the nickname lease:
// it is taken for dead HEARTBEAT_SHARE of the lease after its last
// heartbeat, and found so within BEAT_SHARE of the lease after that.
//
// A server taken for dead wrongly (Redis out of its reach for longer than
// that) puts its people back at its next lease renewal (leases.ts).

import { withDeadline } from "../../deadline.ts";
import type { RedisClient } from "./client.ts";
import { BEAT_SCRIPT, runScript } from "./scripts.ts";

/** A heartbeat's lease, as a share of the nickname lease. */
export const HEARTBEAT_SHARE = 3 / 4;
/** How often a server beats (and checks the others), as a share of the nickname lease. */
export const BEAT_SHARE = 1 / 8;
/** The shortest pause between heartbeats, whatever the lease. */
const MIN_BEAT_MS = 50;

/** Options of {@linkcode ServerHeartbeat}. */
export interface HeartbeatOptions {
  /** The connection commands go over now. */
  client: () => RedisClient;
  serverId: string;
  /** The nickname lease. */
  leaseMs: number;
  /** False while Redis is known to be down, or the link is closed. */
  usable: () => boolean;
  /** The wall clock as a wire time, for the leave events. */
  time: () => string;
}

/** One server's heartbeat, and its check of the others; see the top of this file. */
export class ServerHeartbeat {
  readonly #options: HeartbeatOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #beating: Promise<unknown> | undefined;

  constructor(options: HeartbeatOptions) {
    this.#options = options;
  }

  /** Beats once now (clearing out the dead before the roster is read), then periodically. */
  async start(): Promise<void> {
    await this.#beat();
    const every = Math.max(this.#options.leaseMs * BEAT_SHARE, MIN_BEAT_MS);
    this.#timer = setInterval(() => {
      if (this.#beating === undefined && this.#options.usable()) {
        this.#beating = this.#beat().catch(() => {}).finally(() => this.#beating = undefined);
      }
    }, every);
  }

  /**
   * Stops beating and says goodbye (its heartbeat deleted, after any beat in
   * flight: one connection keeps their order), waiting up to `ms`.
   */
  async stop(ms: number): Promise<void> {
    clearInterval(this.#timer);
    // Unreachable: the heartbeat ends by itself, and the others clear this server out.
    const goodbye = Promise.resolve().then(() => this.#beat(0)).catch(() => {});
    await withDeadline(goodbye, ms);
  }

  #beat(leaseMs = Math.round(this.#options.leaseMs * HEARTBEAT_SHARE)): Promise<unknown> {
    const { client, serverId, time } = this.#options;
    return runScript(client(), BEAT_SCRIPT, [], [serverId, String(leaseMs), time()]);
  }
}
