// The listener: accepts TCP connections, caps how many are open (in all and
// per address) before any TLS work is done, wraps each in a server-side
// TLSSocket and gives it its own Connection, and shuts everything down
// politely when the signal aborts.
//
// node:tls rather than Deno.listenTls: a Deno TLS connection cannot be
// closed while its handshake or a write is pending, so a peer that never
// finishes its handshake or stops reading would keep its socket forever.
// A TLSSocket can always be destroyed. Nothing escapes this module: a
// connection's failure ends that connection; an accept error is logged.

import net from "node:net";
import tls from "node:tls";
import { withDeadline } from "../deadline.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../protocol.ts";
import { errorReason, FatalError } from "../errors.ts";
import { Connection, type ConnectionLimits } from "./connection.ts";
import { Hub } from "./hub.ts";
import type { Logger } from "./log.ts";
import type { SharedChat } from "./shared_chat.ts";
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
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  sendQueueBytes: 8 * 1024 * 1024,
  maxClients: 10_000,
  maxPerIp: 100,
  handshakeTimeoutMs: 10_000,
  rateLimit: 50,
};

/** How long shutdown waits for connections to close politely before destroying them. */
export const SHUTDOWN_GRACE_MS = 1500;

/** Idle time after which TCP keepalive probes a silent peer (a dead peer frees its nickname). */
export const KEEPALIVE_MS = 60_000;

/** Where to listen, and with which certificate. */
export interface ListenOptions {
  hostname: string;
  port: number;
  certPem: string;
  keyPem: string;
}

/** Everything the server needs, injected. */
export interface ServeOptions {
  limits: ServerLimits;
  store: HistoryStore;
  /** Other servers to share the chat with (Redis); `store` is then the local copy it fills. */
  shared?: SharedChat;
  logger: Logger;
  /** The wall clock; messages are stamped with it. */
  clock: () => Date;
  /** A monotonic clock in milliseconds, for rate limits. Defaults to performance.now. */
  monotonic?: () => number;
  /** Aborting stops the server: no new connections, polite close of the rest. */
  signal: AbortSignal;
}

/** A server that is listening. */
export interface RunningServer {
  /** The bound address, with the real port (also for port 0). */
  hostname: string;
  port: number;
  /** Resolves once the signal aborted and every connection is closed. */
  done: Promise<void>;
}

/**
 * Listens on `listen.hostname:listen.port` and serves chat until
 * `options.signal` aborts. Rejects with a FatalError when it cannot bind.
 *
 * @example
 * ```ts
 * import { generateIdentity } from "./cert.ts";
 * import { silentLogger } from "./log.ts";
 * import { MemoryStore } from "./store.ts";
 *
 * const { certPem, keyPem } = await generateIdentity("localhost", new Date());
 * const stop = new AbortController();
 * const server = await startServer({ hostname: "127.0.0.1", port: 0, certPem, keyPem }, {
 *   limits: DEFAULT_LIMITS, store: new MemoryStore(), logger: silentLogger,
 *   clock: () => new Date(), signal: stop.signal,
 * });
 * console.log(server.port);
 * stop.abort();
 * await server.done;
 * ```
 */
export async function startServer(
  listen: ListenOptions,
  options: ServeOptions,
): Promise<RunningServer> {
  const { limits, logger, signal } = options;
  const monotonic = options.monotonic ?? (() => performance.now());
  let secureContext: tls.SecureContext;
  try {
    secureContext = tls.createSecureContext({
      cert: listen.certPem,
      key: listen.keyPem,
      minVersion: "TLSv1.2",
    });
  } catch (error) {
    throw new FatalError(`cannot use the certificate and key: ${errorReason(error)}`);
  }
  const hub = new Hub({
    store: options.store,
    shared: options.shared,
    maxMessageBytes: limits.maxMessageBytes,
    clock: options.clock,
  });
  const open = new Map<Connection, Promise<void>>();
  /** Open connections per IP address. */
  const perIp = new Map<string, number>();
  let nextId = 1;

  // allowHalfOpen: a client's FIN (its close_notify) ends only its side. The
  // connection then closes politely itself, after what it owes (the replay,
  // the answer to its last frame); node's default would end ours at once.
  const server = net.createServer({ allowHalfOpen: true }, (raw) => {
    const ip = raw.remoteAddress ?? "unknown";
    const peer = formatPeer(ip, raw.remotePort);
    const fromIp = perIp.get(ip) ?? 0;
    const refusal = signal.aborted
      ? { reason: "server shutting down" }
      : open.size >= limits.maxClients
      ? { reason: "too many clients", limit: limits.maxClients }
      : fromIp >= limits.maxPerIp
      ? { reason: "too many connections from this address", limit: limits.maxPerIp }
      : undefined;
    if (refusal) {
      logger.log("refused", { peer, ...refusal });
      raw.destroy();
      return;
    }
    raw.setNoDelay(true);
    raw.setKeepAlive(true, KEEPALIVE_MS);
    perIp.set(ip, fromIp + 1);
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
    const connection = new Connection(socket, peer, nextId++, hub, limits, logger, monotonic);
    logger.log("connect", { peer });
    open.set(
      connection,
      connection.serve().then(() => {
        open.delete(connection);
        const left = perIp.get(ip)! - 1;
        if (left === 0) perIp.delete(ip);
        else perIp.set(ip, left);
      }),
    );
  });

  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error) => reject(listenError(error, listen));
    server.once("error", failed);
    server.listen({ host: listen.hostname, port: listen.port }, () => {
      server.off("error", failed);
      resolve();
    });
  });
  // After binding, an error (such as running out of file descriptors) is logged, not fatal.
  server.on("error", (error: Error) => logger.log("accept error", { reason: errorReason(error) }));
  const address = server.address() as net.AddressInfo;

  const done = (async () => {
    if (!signal.aborted) {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    }
    const closed = new Promise((resolve) => server.close(resolve));
    for (const connection of open.keys()) connection.end("server shutting down");
    if (await withDeadline(Promise.all(open.values()), SHUTDOWN_GRACE_MS) === undefined) {
      for (const connection of open.keys()) connection.end("server shutting down", "abort");
      await Promise.all(open.values());
    }
    await closed;
  })();
  return { hostname: address.address, port: address.port, done };
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatPeer(hostname: string, port: number | undefined): string {
  const host = hostname.startsWith("::ffff:") ? hostname.slice(7) : hostname;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function listenError(error: Error, listen: ListenOptions): FatalError {
  const at = formatPeer(listen.hostname, listen.port);
  const code = (error as { code?: string }).code;
  if (code === "EADDRINUSE") {
    return new FatalError(
      `cannot listen on ${at}: the port is already in use (is another server running?)`,
    );
  }
  if (code === "EACCES" || code === "EPERM") {
    return new FatalError(
      `cannot listen on ${at}: permission denied (ports below 1024 need privileges)`,
    );
  }
  if (code === "EADDRNOTAVAIL") {
    return new FatalError(
      `cannot listen on ${at}: the address is not available on this machine`,
    );
  }
  return new FatalError(`cannot listen on ${at}: ${errorReason(error)}`);
}
