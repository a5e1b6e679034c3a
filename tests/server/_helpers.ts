// Test helpers for the server: a real server on 127.0.0.1:0 over real TLS,
// and a line-oriented TLS test client.

import { localIdentity } from "../../bench/in_process_server.ts";
import type { Feature } from "../../lib/protocol.ts";
import { createLogger, type LogFormat, type Logger } from "../../lib/server/log.ts";
import { DEFAULT_LIMITS, type ServerLimits } from "../../lib/server/limits.ts";
import { startServer as runServer } from "../../lib/server/server.ts";
import type { SharedChat } from "../../lib/server/shared_chat.ts";
import type { AccessLists } from "../../lib/server/access.ts";
import type { Registry } from "../../lib/server/registry.ts";
import { type HistoryStore, MemoryStore } from "../../lib/server/store.ts";
import {
  type Frame,
  LineClient as TestClient,
  type Target,
} from "../../bench/fault/line_client.ts";

/** A server started for a test. */
export interface TestServer {
  port: number;
  certPem: string;
  /** Every log line, as "event key=value…". */
  logs: string[];
  store: HistoryStore;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** What a test server is built with, besides its limits. */
export interface TestServerOptions {
  /** The wall clock messages are stamped with; the real one by default. */
  clock?: () => Date;
  /** The history; a fresh MemoryStore by default. */
  store?: HistoryStore;
  /** Other servers to share the chat with. */
  shared?: SharedChat;
  /** Log through the server's own logger in this format: `logs` then holds its lines as written. */
  logFormat?: LogFormat;
  /** The features the server speaks; all by default, none for a core server. */
  features?: readonly Feature[];
  /** Registered nicknames and bans (§12–§13); in memory by default. */
  registry?: Registry;
  /** Operators and invitations (§13); none by default. */
  access?: AccessLists;
}

/** Starts the real server on 127.0.0.1:0 with `limits` over the defaults. */
export async function startServer(
  limits: Partial<ServerLimits> = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const { certPem, keyPem } = await localIdentity();
  const logs: string[] = [];
  const clock = options.clock ?? (() => new Date());
  const logger: Logger = options.logFormat !== undefined
    ? createLogger({ format: options.logFormat, write: (line) => logs.push(line), clock })
    : {
      log(event, fields = {}) {
        const parts = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) =>
          `${k}=${v}`
        );
        logs.push([event, ...parts].join(" "));
      },
    };
  const stopper = new AbortController();
  const store = options.store ?? new MemoryStore();
  const running = await runServer({ hostname: "127.0.0.1", port: 0, certPem, keyPem }, {
    // No rate limit unless a test asks for one: most tests send fast on purpose.
    limits: { ...DEFAULT_LIMITS, rateLimit: 0, rateLimitBytes: 0, ...limits },
    store,
    shared: options.shared,
    features: options.features,
    registry: options.registry,
    access: options.access,
    logger,
    clock,
    signal: stopper.signal,
  });
  const stop = async () => {
    stopper.abort();
    await running.done;
  };
  return { port: running.port, certPem, logs, store, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Connects and logs in asking for `features` (PROTOCOL.md §9): the client,
 * and the server's answer (throws unless it is ok).
 */
export async function loginAsking(
  target: Target,
  nickname: string,
  features: unknown[],
  since?: number,
): Promise<{ client: TestClient; ok: Frame }> {
  const client = await TestClient.connect(target);
  try {
    await client.send({
      command: "login",
      nickname,
      features,
      ...since === undefined ? {} : { since },
    });
    const ok = await client.next(10_000);
    if (ok.status !== "ok") throw new Error(`login as ${nickname} failed: ${JSON.stringify(ok)}`);
    return { client, ok };
  } catch (error) {
    await client.close();
    throw error;
  }
}

/** The line client of the fault scenarios (TLS, TCP_NODELAY, any bytes), under the name the tests use. */
export {
  type Frame,
  LineClient as TestClient,
  type Target,
} from "../../bench/fault/line_client.ts";

export { eventually } from "../../bench/fault/schedule.ts";

/** A temporary folder, removed with all it holds when disposed (`await using`). */
export async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}
