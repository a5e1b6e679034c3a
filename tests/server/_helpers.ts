// Test helpers for the server: a real server on 127.0.0.1:0 over real TLS,
// and a line-oriented TLS test client.

import { LineSplitter } from "../../lib/lines.ts";
import { generateIdentity } from "../../lib/server/cert.ts";
import { type Logger } from "../../lib/server/log.ts";
import {
  DEFAULT_LIMITS,
  type ServerLimits,
  startServer as runServer,
} from "../../lib/server/server.ts";
import type { SharedChat } from "../../lib/server/shared_chat.ts";
import { type HistoryStore, MemoryStore } from "../../lib/server/store.ts";

let identity: Promise<{ certPem: string; keyPem: string }> | undefined;

/** One generated certificate per test process (generation is the slow part). */
export function testIdentity(): Promise<{ certPem: string; keyPem: string }> {
  identity ??= generateIdentity("localhost", new Date());
  return identity;
}

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
}

/** Starts the real server on 127.0.0.1:0 with `limits` over the defaults. */
export async function startServer(
  limits: Partial<ServerLimits> = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const { certPem, keyPem } = await testIdentity();
  const logs: string[] = [];
  const logger: Logger = {
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
    limits: { ...DEFAULT_LIMITS, rateLimit: 0, ...limits },
    store,
    shared: options.shared,
    logger,
    clock: options.clock ?? (() => new Date()),
    signal: stopper.signal,
  });
  const stop = async () => {
    stopper.abort();
    await running.done;
  };
  return { port: running.port, certPem, logs, store, stop, [Symbol.asyncDispose]: stop };
}

/** A frame as received: parsed JSON. */
export type Frame = Record<string, unknown>;

const encoder = new TextEncoder();

/** Where a {@linkcode TestClient} connects. */
export interface Target {
  port: number;
  certPem: string;
}

/**
 * A TLS client that speaks in lines, with TCP_NODELAY. Lines queue up for
 * `next()`, or go to `onLine` (with the moment they were read) when set.
 */
export class TestClient {
  readonly conn: Deno.TlsConn;
  /** Receives every line as it arrives instead of the queue, when set. */
  onLine: ((line: string, at: number) => void) | undefined;
  #lines: string[] = [];
  #head = 0;
  #waiter: (() => void) | undefined;
  #closed = false;
  readonly #reading: Promise<void>;

  private constructor(conn: Deno.TlsConn) {
    this.conn = conn;
    this.#reading = this.#read();
  }

  /** Connects over TLS to 127.0.0.1, trusting the server's certificate (SAN localhost). */
  static async connect(target: Target): Promise<TestClient> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: target.port });
    tcp.setNoDelay(true);
    const conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [target.certPem] });
    try {
      await conn.handshake();
    } catch (error) {
      conn.close();
      throw error;
    }
    return new TestClient(conn);
  }

  /** Connects and logs in (with `since` when given); throws unless the answer is ok. */
  static async login(target: Target, nickname: string, since?: number): Promise<TestClient> {
    const client = await TestClient.connect(target);
    try {
      await client.send(
        since === undefined ? { command: "login", nickname } : {
          command: "login",
          nickname,
          since,
        },
      );
      const answer = await client.next(10_000);
      if (answer.status !== "ok" || "id" in answer) {
        throw new Error(`login as ${nickname} failed: ${JSON.stringify(answer)}`);
      }
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /** True once the connection has ended (the server closed it, or close() was called). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a frame: an object as one JSON line, a string or bytes as they are. */
  async send(frame: Frame | string | Uint8Array): Promise<void> {
    const bytes = frame instanceof Uint8Array
      ? frame
      : encoder.encode(typeof frame === "string" ? frame : JSON.stringify(frame) + "\n");
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }

  /** The next frame, parsed; throws after `timeoutMs` or when the connection ends first. */
  async next(timeoutMs = 5000): Promise<Frame> {
    return JSON.parse(await this.nextLine(timeoutMs));
  }

  /** The next raw line; throws after `timeoutMs` or when the connection ends first. */
  async nextLine(timeoutMs = 5000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    while (this.#head === this.#lines.length) {
      if (this.#closed) throw new Error("connection closed while waiting for a line");
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        timer = setTimeout(resolve, left);
      });
      this.#waiter = undefined;
      clearTimeout(timer);
    }
    const line = this.#lines[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#lines.length) {
      this.#lines = this.#lines.slice(this.#head);
      this.#head = 0;
    }
    return line;
  }

  /** Waits `ms` and returns whatever lines arrived meanwhile (and were not read). */
  async quiet(ms = 200): Promise<string[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    const rest = this.#lines.slice(this.#head);
    this.#lines = [];
    this.#head = 0;
    return rest;
  }

  /** Resolves true once the server has closed the connection, false after `timeoutMs`. */
  closedByServer(timeoutMs = 5000): Promise<boolean> {
    return eventually(() => this.#closed, timeoutMs);
  }

  /** Closes (close_notify when the connection is still up) and waits for the reader to stop. */
  async close(): Promise<void> {
    if (!this.#closed) {
      try {
        this.conn.close();
      } catch {
        // Closed by the server already.
      }
    }
    await this.#reading;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The next `n` frames. */
  async take(n: number, timeoutMs = 5000): Promise<Frame[]> {
    const out: Frame[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(timeoutMs));
    return out;
  }

  async #read(): Promise<void> {
    const splitter = new LineSplitter(1 << 24, {
      line: (text) => {
        if (this.onLine) this.onLine(text, performance.now());
        else this.#lines.push(text);
      },
      error: (reason) => this.#lines.push(JSON.stringify({ clientError: reason })),
    });
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await this.conn.read(buffer);
        if (n === null) break;
        splitter.push(buffer.subarray(0, n));
        this.#waiter?.();
      }
    } catch {
      // Reset, or closed locally: either way the connection is over.
    } finally {
      this.#closed = true;
      try {
        this.conn.close();
      } catch {
        // Already closed.
      }
      this.#waiter?.();
    }
  }
}

/** Polls `check` until it holds or `timeoutMs` passes. */
export async function eventually(check: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}
