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
//
// Deno's node:net listener stops accepting for good, silently, after one
// failed accept (out of file descriptors: no "error" event, the backlog
// fills, nothing is accepted again even once every connection has closed).
// Once a second the listener's accept loop is started again, which does
// nothing while it runs, and a shortage of descriptors is logged as the
// accept error it causes. (A Deno.listen loop would see the error itself,
// and node:tls can wrap a Deno connection through a stream adapter, but
// then TCP keepalive's idle time could not be set: Deno.Conn has only
// on/off, and the kernel's default is two hours.)

import net from "node:net";
import tls from "node:tls";
import { withDeadline } from "../deadline.ts";
import { errorReason, FatalError } from "../errors.ts";
import { AddressQuotas } from "./address_quota.ts";
import { Connection } from "./connection.ts";
import { descriptorShortage } from "./fd_budget.ts";
import { Hub } from "./hub.ts";
import type { ServerLimits } from "./limits.ts";
import type { Logger } from "./log.ts";
import { type Feature, FEATURES } from "../protocol.ts";
import { AccessLists } from "./access.ts";
import { Moderation } from "./moderation.ts";
import { LocalRegistry, type Registry } from "./registry.ts";
import type { SharedChat } from "./shared_chat.ts";
import type { HistoryStore } from "./store.ts";

/** How often the listener's accept loop is started again, and descriptors checked. */
export const ACCEPT_WATCH_MS = 1000;

/** The listen backlog (node's default): connections the kernel queues before accept. */
const LISTEN_BACKLOG = 511;

/** How long shutdown waits for connections to close politely before destroying them. */
export const SHUTDOWN_GRACE_MS = 1500;

/**
 * Idle time after which TCP keepalive probes a silent peer (a dead peer
 * frees its nickname). Deno sets only this: the kernel's 9 probes 75 s apart
 * follow, so a silent core client that vanished is noticed after ~12
 * minutes; one that heartbeats, after the grace of peer_watch.ts.
 */
export const KEEPALIVE_MS = 30_000;

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
  /** The features the server speaks (PROTOCOL.md §9); none for a core server. Default: all. */
  features?: readonly Feature[];
  /** Registered nicknames and bans (§12–§13). Default: in memory, for this server alone. */
  registry?: Registry;
  /** Operators and the invitation list (§13). Default: no operators, everyone invited. */
  access?: AccessLists;
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
 * import { DEFAULT_LIMITS } from "./limits.ts";
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
  const features = options.features ?? FEATURES;
  const moderation = new Moderation({
    registry: options.registry ?? new LocalRegistry({ clock: options.clock }),
    access: options.access ?? await AccessLists.load({ ops: [] }),
    logger,
    clock: options.clock,
    features,
  });
  const hub = new Hub({
    store: options.store,
    shared: options.shared,
    features,
    moderation,
    maxMessageBytes: limits.maxMessageBytes,
    clock: options.clock,
  });
  const open = new Map<Connection, Promise<void>>();
  /** Connections and rate limits per IP address. */
  const quotas = new AddressQuotas(limits, monotonic);
  let nextId = 1;

  // allowHalfOpen: a client's FIN (its close_notify) ends only its side. The
  // connection then closes politely itself, after what it owes (the replay,
  // the answer to its last frame); node's default would end ours at once.
  const server = net.createServer({ allowHalfOpen: true }, (raw) => {
    const ip = raw.remoteAddress ?? "unknown";
    const peer = formatPeer(ip, raw.remotePort);
    const busy = signal.aborted || open.size >= limits.maxClients;
    const quota = busy ? undefined : quotas.admit(ip);
    const refusal = signal.aborted
      ? { reason: "server shutting down" }
      : open.size >= limits.maxClients
      ? { reason: "too many clients", limit: limits.maxClients }
      : quota === undefined
      ? { reason: "too many connections from this address", limit: limits.maxPerIp }
      : undefined;
    if (refusal || quota === undefined) {
      // Before this socket's descriptor is given back: in a burst, accepting
      // runs ahead and may have used the last one.
      if (busy) watch.check();
      logger.log("refused", { peer, ...refusal });
      raw.destroy();
      return;
    }
    raw.setNoDelay(true);
    raw.setKeepAlive(true, KEEPALIVE_MS);
    // A client certificate is asked for and never required or checked: any
    // certificate's fingerprint is the client's identity (PROTOCOL.md §12).
    const socket = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext,
      requestCert: true,
      rejectUnauthorized: false,
    });
    const connection = new Connection(socket, {
      peer,
      address: ip.startsWith("::ffff:") ? ip.slice(7) : ip,
      id: nextId++,
      hub,
      limits,
      logger,
      now: monotonic,
      quota,
    });
    logger.log("connect", { peer });
    open.set(
      connection,
      connection.serve().then(() => {
        open.delete(connection);
        quotas.release(ip, quota);
      }),
    );
  });

  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error) => reject(listenError(error, listen));
    server.once("error", failed);
    server.listen({ host: listen.hostname, port: listen.port, backlog: LISTEN_BACKLOG }, () => {
      server.off("error", failed);
      resolve();
    });
  });
  // After binding, an error (such as running out of file descriptors) is logged, not fatal.
  server.on("error", (error: Error) => logger.log("accept error", { reason: errorReason(error) }));
  const watch = watchAccepting(server, logger);
  const address = server.address() as net.AddressInfo;

  const done = (async () => {
    if (!signal.aborted) {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    }
    watch.stop();
    const closed = new Promise((resolve) => server.close(resolve));
    for (const connection of open.keys()) connection.end("server shutting down");
    if (await withDeadline(Promise.all(open.values()), SHUTDOWN_GRACE_MS) === undefined) {
      for (const connection of open.keys()) connection.end("server shutting down", "abort");
      await Promise.all(open.values());
    }
    quotas.close();
    await closed;
  })();
  return { hostname: address.address, port: address.port, done };
}

/** What keeps a listener accepting; see {@linkcode watchAccepting}. */
interface AcceptWatch {
  /** Logs "accept error" if descriptors have just run out (and "accepting again" once back). */
  check(): void;
  /** Stops the watch (shutdown). */
  stop(): void;
}

/**
 * Keeps `server` accepting (see the top of this file): starts its accept
 * loop again every {@linkcode ACCEPT_WATCH_MS}, and checks for a shortage
 * of descriptors then, and whenever asked (a connection refused at the
 * connection cap: a burst is when accepting runs out of descriptors).
 */
function watchAccepting(server: net.Server, logger: Logger): AcceptWatch {
  // The listener's handle: not public, so reached with care (a no-op if it changes).
  const handle = (server as unknown as { _handle?: { listen?: (backlog: number) => number } })
    ._handle;
  const rearm = () => handle?.listen?.(LISTEN_BACKLOG);
  let short = false;
  const check = () => {
    const shortage = descriptorShortage();
    if (shortage !== undefined && !short) {
      logger.log("accept error", {
        reason: `${shortage}: new connections wait until file descriptors are free`,
      });
    } else if (shortage === undefined && short) {
      rearm();
      logger.log("accepting again");
    }
    short = shortage !== undefined;
  };
  const timer = setInterval(() => {
    rearm();
    check();
  }, ACCEPT_WATCH_MS);
  return { check, stop: () => clearInterval(timer) };
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
