// A TLS client that speaks the protocol as raw lines, for the fault
// scenarios (bench/fault/) and the tests: it sends any bytes, even broken
// frames, and reads each line with the moment it arrived. TCP_NODELAY is on:
// without it the first frame after the handshake waits ~40 ms for a delayed
// ACK (Nagle), which would cost the fuzzer a minute and blur every latency
// figure. The tests of the server use it too (tests/server/_helpers.ts calls
// it TestClient).

import { LineSplitter } from "../../lib/lines.ts";
import { eventually } from "./schedule.ts";

/** A frame as received: parsed JSON. */
export type Frame = Record<string, unknown>;

const encoder = new TextEncoder();

/** Where a {@linkcode LineClient} connects. */
export interface Target {
  port: number;
  certPem: string;
}

/**
 * A TLS client that speaks in lines, with TCP_NODELAY. Lines queue up for
 * `next()`, or go to `onLine` (with the moment they were read) when set.
 */
export class LineClient {
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

  /**
   * Connects over TLS to 127.0.0.1, trusting the server's certificate (SAN
   * localhost); with `identity`, presenting that client certificate
   * (PROTOCOL.md §12: Deno.startTls cannot, so it dials `localhost` itself).
   */
  static async connect(
    target: Target,
    identity?: { certPem: string; keyPem: string },
  ): Promise<LineClient> {
    const caCerts = [target.certPem];
    let conn: Deno.TlsConn;
    if (identity === undefined) {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: target.port });
      tcp.setNoDelay(true);
      conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts });
    } else {
      const { certPem: cert, keyPem: key } = identity;
      conn = await Deno.connectTls({
        hostname: "localhost",
        port: target.port,
        caCerts,
        cert,
        key,
      });
    }
    try {
      await conn.handshake();
    } catch (error) {
      conn.close();
      throw error;
    }
    return new LineClient(conn);
  }

  /** Connects and logs in (with `since` when given); throws unless the answer is ok. */
  static async login(target: Target, nickname: string, since?: number): Promise<LineClient> {
    const client = await LineClient.connect(target);
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
