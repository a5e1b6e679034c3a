// Our server in this very process, on 127.0.0.1:0 over real TLS, with a
// memory store and no log: for the soak's fuzzer, the quick server figures
// (bench/server_figures.ts) and the bench tests. The certificate is ours,
// generated once per process (generation is the slow part).

import { generateIdentity } from "../lib/server/cert.ts";
import { silentLogger } from "../lib/server/log.ts";
import { DEFAULT_LIMITS, type ServerLimits } from "../lib/server/limits.ts";
import { startServer } from "../lib/server/server.ts";
import { MemoryStore } from "../lib/server/store.ts";

/** A certificate and its key, as PEM. */
export interface Identity {
  certPem: string;
  keyPem: string;
}

let identity: Promise<Identity> | undefined;

/** Our generated certificate for localhost (CA:FALSE), made once per process. */
export function localIdentity(): Promise<Identity> {
  identity ??= generateIdentity("localhost", new Date());
  return identity;
}

/** A server running in this process. */
export interface InProcessServer {
  port: number;
  /** The certificate it presents (SAN localhost). */
  certPem: string;
  /** Its history, to read `lastSeq` from. */
  store: MemoryStore;
  /** Stops it and waits until every connection is closed. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts our server with `limits` over the defaults. There is no rate limit
 * unless asked for: bench and fault clients send fast on purpose.
 *
 * @example
 * ```ts
 * await using server = await startInProcess({ maxPerIp: 1000 });
 * console.log(server.port);
 * ```
 */
export async function startInProcess(limits: Partial<ServerLimits> = {}): Promise<InProcessServer> {
  const { certPem, keyPem } = await localIdentity();
  const stopper = new AbortController();
  const store = new MemoryStore();
  const running = await startServer({ hostname: "127.0.0.1", port: 0, certPem, keyPem }, {
    limits: { ...DEFAULT_LIMITS, rateLimit: 0, rateLimitBytes: 0, ...limits },
    store,
    logger: silentLogger,
    clock: () => new Date(),
    signal: stopper.signal,
  });
  const stop = async () => {
    stopper.abort();
    await running.done;
  };
  return { port: running.port, certPem, store, stop, [Symbol.asyncDispose]: stop };
}
