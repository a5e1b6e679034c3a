// One connection to Redis, as the Redis link makes them: the `redis`
// package's client with our timeouts and reconnect policy, the one
// question every caller asks of a failed command (may it have reached
// Redis all the same?), and how a reply is read as a number.

import { ClientClosedError, ClientOfflineError, createClient, ErrorReply } from "redis";

/** A connection to Redis (the `redis` package's client, with its typed commands). */
export type RedisClient = ReturnType<typeof createClient>;

/** How long one attempt to connect may take. */
const CONNECT_ATTEMPT_MS = 2_000;
/** The longest pause between reconnect attempts (they start at 100 ms and double). */
const MAX_RECONNECT_MS = 2_000;

/** Options of {@linkcode clientMaker}. */
export interface ClientMakerOptions {
  /** `redis://HOST:PORT[/DB]` or `rediss://…` for TLS. */
  url: string;
  /** Until this moment (Date.now()), a failed first connection is retried; then it fails. */
  startupDeadline: number;
  /** True once the link has connected once: from then on, reconnects never give up. */
  started: () => boolean;
}

/**
 * Returns a function that makes a client (not yet connected). Commands are
 * never queued while the client is offline: they fail at once, and the
 * link refuses rather than let them pile up.
 */
export function clientMaker(options: ClientMakerOptions): () => RedisClient {
  const { url, startupDeadline, started } = options;
  return () =>
    createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: CONNECT_ATTEMPT_MS,
        keepAlive: true,
        noDelay: true,
        // At startup, give up at the deadline; later, retry for ever with backoff.
        reconnectStrategy: (retries: number, cause: Error) =>
          !started() && Date.now() >= startupDeadline
            ? cause
            : Math.min(100 * 2 ** retries, MAX_RECONNECT_MS),
      },
    });
}

/**
 * True when a command that failed with `error` may have reached Redis (and
 * so may have taken effect): the connection died with it in flight. An
 * error reply, or a client offline or closed before sending, means it did not.
 */
export function mayHaveReachedRedis(error: unknown): boolean {
  return !(error instanceof ErrorReply || error instanceof ClientOfflineError ||
    error instanceof ClientClosedError);
}

/** `url` without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}

/**
 * A reply (or a field) as the integer our scripts and counters hold, or
 * undefined when it is not one: anything in Redis may have been written by
 * hand or by another program, and Number() would turn it into NaN (or 0,
 * for null), which then passes for a seq or a member id.
 *
 * @example
 * ```ts
 * integerReply(42); // 42
 * integerReply("17"); // 17
 * integerReply("x"); // undefined
 * ```
 */
export function integerReply(value: unknown): number | undefined {
  const number = typeof value === "number"
    ? value
    : typeof value === "string" && /^-?\d+$/.test(value)
    ? Number(value)
    : NaN;
  return Number.isSafeInteger(number) ? number : undefined;
}
