// The accept loop: takes TLS connections from a listener, caps how many are
// open, gives each its own Connection, and shuts everything down politely
// when the signal aborts.
//
// Nothing escapes this loop: a connection's failure ends that connection,
// an accept error is logged and retried after a pause, and shutdown closes
// each connection with close_notify before `serve` resolves.

import type { Connection as ConnectionType, ConnectionLimits, PeerConn } from "./connection.ts";
import { Connection } from "./connection.ts";
import { withDeadline } from "../deadline.ts";
import { Hub } from "./hub.ts";
import type { Logger } from "./log.ts";
import type { HistoryStore } from "./store.ts";

/** The server's limits, each with its documented default. */
export interface ServerLimits extends ConnectionLimits {
  /** Open connections beyond this are closed right after accept. */
  maxClients: number;
  /** Cap on a message's text, in UTF-8 bytes. */
  maxMessageBytes: number;
  /** Open connections from one IP address beyond this are closed right after accept. */
  maxPerIp: number;
}

/** Defaults of every limit (PROTOCOL.md and `chat server --help`). */
export const DEFAULT_LIMITS: ServerLimits = {
  loginTimeoutMs: 30_000,
  maxLoginAttempts: 10,
  maxLineBytes: 64 * 1024,
  maxMessageBytes: 16 * 1024,
  sendQueueBytes: 8 * 1024 * 1024,
  maxClients: 10_000,
  maxPerIp: 100,
  handshakeTimeoutMs: 10_000,
  rateLimit: 50,
};

/** How long shutdown waits for connections to close before giving up on them. */
export const SHUTDOWN_GRACE_MS = 1500;

/** A listener of TLS connections (`Deno.TlsListener` fits). */
export interface PeerListener extends AsyncIterable<PeerConn & { remoteAddr: Deno.Addr }> {
  close(): void;
}

/** Everything `serve` needs, injected. */
export interface ServeOptions {
  limits: ServerLimits;
  store: HistoryStore;
  logger: Logger;
  clock: () => Date;
  /** Aborting stops the server: no new connections, polite close of the rest. */
  signal: AbortSignal;
}

/**
 * Serves chat on `listener` until `signal` aborts; resolves once every
 * connection is closed.
 *
 * @example
 * ```ts
 * const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
 * const stop = new AbortController();
 * const done = serve(listener, { limits: DEFAULT_LIMITS, store: new MemoryStore(), logger: silentLogger, clock: () => new Date(), signal: stop.signal });
 * stop.abort();
 * await done;
 * ```
 */
export async function serve(listener: PeerListener, options: ServeOptions): Promise<void> {
  const { limits, logger, signal } = options;
  const hub = new Hub({
    store: options.store,
    maxMessageBytes: limits.maxMessageBytes,
    clock: options.clock,
  });
  const open = new Map<ConnectionType, Promise<void>>();
  /** Open connections per IP address. */
  const perIp = new Map<string, number>();
  let nextId = 1;
  const stop = () => {
    try {
      listener.close();
    } catch {
      // Already closed.
    }
  };
  if (signal.aborted) stop();
  signal.addEventListener("abort", stop, { once: true });

  const iterator = listener[Symbol.asyncIterator]();
  while (!signal.aborted) {
    let conn: PeerConn & { remoteAddr: Deno.Addr };
    try {
      const next = await iterator.next();
      if (next.done) break;
      conn = next.value;
    } catch (error) {
      if (signal.aborted) break;
      // Out of file descriptors and the like: say so, wait, go on.
      logger.log("accept error", {
        reason: error instanceof Error ? error.message : String(error),
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    const peer = formatAddr(conn.remoteAddr);
    const ip = conn.remoteAddr.transport === "tcp" ? conn.remoteAddr.hostname : peer;
    const fromIp = perIp.get(ip) ?? 0;
    const refusal = open.size >= limits.maxClients
      ? { reason: "too many clients", limit: limits.maxClients }
      : fromIp >= limits.maxPerIp
      ? { reason: "too many connections from this address", limit: limits.maxPerIp }
      : undefined;
    if (refusal) {
      logger.log("refused", { peer, ...refusal });
      try {
        conn.close();
      } catch {
        // Gone already.
      }
      continue;
    }
    perIp.set(ip, fromIp + 1);
    const connection = new Connection(conn, peer, nextId++, hub, limits, logger);
    logger.log("connect", { peer });
    open.set(
      connection,
      connection.serve().finally(() => {
        open.delete(connection);
        const left = perIp.get(ip)! - 1;
        if (left === 0) perIp.delete(ip);
        else perIp.set(ip, left);
      }),
    );
  }
  signal.removeEventListener("abort", stop);
  stop();

  for (const connection of open.keys()) connection.end("server shutting down");
  await withDeadline(Promise.all(open.values()), SHUTDOWN_GRACE_MS);
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatAddr(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  return addr.transport;
}
