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
import { MemoryStore } from "../../lib/server/store.ts";

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
  store: MemoryStore;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts the real server on 127.0.0.1:0 with `limits` over the defaults. */
export async function startServer(
  limits: Partial<ServerLimits> = {},
  clock: () => Date = () => new Date(),
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
  const store = new MemoryStore();
  const running = await runServer({ hostname: "127.0.0.1", port: 0, certPem, keyPem }, {
    // No rate limit unless a test asks for one: most tests send fast on purpose.
    limits: { ...DEFAULT_LIMITS, rateLimit: 0, ...limits },
    store,
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

/** A frame as received: parsed JSON. */
export type Frame = Record<string, unknown>;

const encoder = new TextEncoder();

/** A TLS client that speaks in lines, for driving the server in tests. */
export class TestClient {
  readonly conn: Deno.TlsConn;
  readonly #lines: string[] = [];
  #waiter: (() => void) | undefined;
  #closed = false;
  #reading: Promise<void>;

  private constructor(conn: Deno.TlsConn) {
    this.conn = conn;
    this.#reading = this.#read();
  }

  /** Connects to a test server over TLS, trusting its certificate. */
  static async connect(server: { port: number; certPem: string }): Promise<TestClient> {
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port: server.port,
      caCerts: [server.certPem],
    });
    return new TestClient(conn);
  }

  /** Connects and logs in; fails the test unless the answer is ok. */
  static async login(
    server: { port: number; certPem: string },
    nickname: string,
    since?: number,
  ): Promise<TestClient> {
    const client = await TestClient.connect(server);
    await client.send(
      since === undefined ? { command: "login", nickname } : {
        command: "login",
        nickname,
        since,
      },
    );
    const answer = await client.next();
    if (answer.status !== "ok" || "id" in answer) {
      await client.close();
      throw new Error(`login as ${nickname} failed: ${JSON.stringify(answer)}`);
    }
    return client;
  }

  /** Sends a frame (an object is encoded as one JSON line; a string is sent as is). */
  async send(frame: Frame | string): Promise<void> {
    const text = typeof frame === "string" ? frame : JSON.stringify(frame) + "\n";
    const bytes = encoder.encode(text);
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }

  /** The next frame, parsed; throws after `timeoutMs`. */
  async next(timeoutMs = 3000): Promise<Frame> {
    return JSON.parse(await this.nextLine(timeoutMs));
  }

  /** The next raw line; throws after `timeoutMs` or when the connection ends first. */
  async nextLine(timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0) {
      if (this.#closed) throw new Error("connection closed while waiting for a line");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.#lines.shift()!;
  }

  /** The next `n` frames. */
  async take(n: number, timeoutMs = 5000): Promise<Frame[]> {
    const out: Frame[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(timeoutMs));
    return out;
  }

  /** Asserts nothing arrives for `ms`; returns what did arrive otherwise. */
  async quiet(ms = 200): Promise<string[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.#lines.splice(0);
  }

  /** Resolves when the server has closed the connection. */
  async closedByServer(timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.#closed;
  }

  /** Closes politely (close_notify) and waits for the reader to stop. */
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

  async #read(): Promise<void> {
    const splitter = new LineSplitter(1 << 24, {
      line: (text) => this.#lines.push(text),
      error: (reason) => this.#lines.push(JSON.stringify({ testClientError: reason })),
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
      // Reset or closed locally: either way, the connection is over.
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
