// One connection of the conformance probe: TLS to the server under test,
// raw bytes out, decoded frames in, and waits that always end.
//
// It dials as the client does (lib/tls_dial.ts, with the shared TrustPolicy
// handed in as `verify`) and frames with the shared LineSplitter, so the two
// agree on what a certificate and a line are. It does not reuse the
// client's Link, which writes text only: the probe must send bytes that are
// not text (a frame cut inside a multibyte UTF-8 character, invalid UTF-8).
//
// A real server may be busy: other people's messages and a long replay
// arrive between the frames the probe waits for. Only frames that concern
// this run (status frames, `who` events, and messages, direct messages,
// joins and leaves that carry the run's marker in their text or nickname)
// are kept, and at most MAX_KEPT_FRAMES of them, so a replay of millions of
// messages costs no memory. Frames of §10–§11 are counted whoever they are
// about: a login without features must get none at all.

import type tls from "node:tls";
import { LineSplitter } from "../lines.ts";
import type { PeerCertificate } from "../peer_certificate.ts";
import { decodeServerFrame, type ServerFrame } from "../protocol.ts";
import { dialTls } from "../tls_dial.ts";
import { describeSocketError } from "../tls_socket.ts";

/** The longest line read from the server; longer ones are dropped as they arrive and counted. */
export const MAX_PROBE_LINE_BYTES = 1024 * 1024;
/** Frames kept per connection; beyond it the oldest are dropped (a flood cannot grow memory). */
export const MAX_KEPT_FRAMES = 10_000;
/** How long a polite close waits for the server's side before it cuts the connection. */
export const PROBE_CLOSE_TIMEOUT_MS = 2_000;

/** A frame the probe cares about: a message, a status frame, or a frame of §10–§11. */
export type Frame = Exclude<ServerFrame, { type: "unknown" }>;

/** How a wait ended: with the frame, with the connection gone, or at its deadline. */
export type WaitResult =
  | { ok: true; frame: Frame }
  | { ok: false; why: "closed"; reason: string }
  | { ok: false; why: "timeout" };

/** Where and how to connect. */
export interface ProbeDialOptions {
  host: string;
  port: number;
  /** Extra trusted certificates (PEM), added to the system's roots (`--ca`). */
  ca?: string[];
  /** The longest a TCP connect plus TLS handshake may take. */
  timeoutMs: number;
  /** Decides after the handshake whether to go on; throws to refuse (nothing is sent). */
  verify(peer: PeerCertificate): Promise<void>;
  /** A client certificate and its key (PEM), presented when the server asks (§12); none by default. */
  cert?: string;
  /** The private key of `cert` (PEM). */
  key?: string;
  /** Whether a message belongs to this run (everything else is dropped on arrival). */
  relevant(from: string, message: string): boolean;
  /** Ends every wait at once (Ctrl-C). */
  signal?: AbortSignal;
}

/**
 * A TLS connection to the server under test.
 *
 * @example
 * ```ts
 * const conn = await ProbeConn.open({
 *   host: "127.0.0.1",
 *   port: 1337,
 *   timeoutMs: 5000,
 *   verify: () => Promise.resolve(),
 *   relevant: () => true,
 * });
 * await conn.write('{"command":"login","nickname":"bob"}\n');
 * const answer = await conn.next((f) => f.type === "status", 5000);
 * await conn.close();
 * ```
 */
export class ProbeConn {
  /** The negotiated TLS version, such as "TLSv1.3". */
  readonly protocol: string;
  readonly #socket: tls.TLSSocket;
  readonly #relevant: ProbeDialOptions["relevant"];
  readonly #signal?: AbortSignal;
  /** Kept frames not yet taken by next(). */
  readonly #inbox: Frame[] = [];
  /** Every kept frame, taken or not, for "was X ever received" questions. */
  readonly #seen: Frame[] = [];
  #messages = 0;
  #extensionFrames = 0;
  #badLines = 0;
  #closedReason: string | undefined;
  #wake: (() => void) | undefined;

  private constructor(socket: tls.TLSSocket, options: ProbeDialOptions) {
    this.#socket = socket;
    this.#relevant = options.relevant;
    this.#signal = options.signal;
    this.protocol = socket.getProtocol() ?? "TLS";
    const splitter = new LineSplitter(MAX_PROBE_LINE_BYTES, {
      line: (text) => this.#onLine(text),
      error: () => this.#badLines++,
    });
    socket.on("data", (chunk: Uint8Array) => splitter.push(chunk));
    socket.on("error", (error: Error & { code?: string }) => {
      this.#closedReason ??= describeSocketError(error);
    });
    socket.on("close", () => {
      splitter.end();
      this.#closedReason ??= "closed by the server";
      this.#wake?.();
    });
  }

  /** Connects, lets `verify` look at the certificate, and returns the open connection. */
  static open(options: ProbeDialOptions): Promise<ProbeConn> {
    return dialTls({
      ...options,
      timeout: {
        ms: options.timeoutMs,
        reason: `no TLS handshake within ${seconds(options.timeoutMs)}`,
      },
      noDelay: true, // Each write its own segment: the split-frame check needs it.
    }, (socket) => new ProbeConn(socket, options));
  }

  /** Why the connection is gone; undefined while it is open. */
  get closedReason(): string | undefined {
    return this.#closedReason;
  }

  /** Message frames received so far, ours or not (a connection before login must get none). */
  get messageCount(): number {
    return this.#messages;
  }

  /** Frames of §10–§11 received so far (presence events, direct messages), about anyone. */
  get extensionFrames(): number {
    return this.#extensionFrames;
  }

  /** Lines from the server that were too long or not UTF-8. */
  get badLines(): number {
    return this.#badLines;
  }

  /** Sends text or bytes as they are; resolves once handed to the socket. */
  write(data: string | Uint8Array): Promise<void> {
    if (this.#closedReason !== undefined || this.#socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.#socket.write(data, () => resolve()));
  }

  /**
   * The first kept frame, in arrival order, that `match` accepts; it is
   * taken out of the inbox. Ends at `timeoutMs`, when the connection closes,
   * or when the probe is interrupted.
   */
  async next(match: (frame: Frame) => boolean, timeoutMs: number): Promise<WaitResult> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const index = this.#inbox.findIndex(match);
      if (index !== -1) return { ok: true, frame: this.#inbox.splice(index, 1)[0] };
      if (this.#closedReason !== undefined) {
        return { ok: false, why: "closed", reason: this.#closedReason };
      }
      if (this.#signal?.aborted) return { ok: false, why: "closed", reason: "interrupted" };
      const left = deadline - Date.now();
      if (left <= 0) return { ok: false, why: "timeout" };
      await this.#arrival(left);
    }
  }

  /** Every kept frame received so far that `match` accepts, taken or not. */
  seen(match: (frame: Frame) => boolean): Frame[] {
    return this.#seen.filter(match);
  }

  /** Closes politely (TLS close_notify) and resolves once the connection is gone. */
  close(): Promise<void> {
    const socket = this.#socket;
    if (socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => socket.destroy(), PROBE_CLOSE_TIMEOUT_MS);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end(); // close_notify after anything still buffered.
    });
  }

  /** Resolves on the next arrival, close or abort, or after `ms`. */
  #arrival(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#signal?.removeEventListener("abort", done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#signal?.addEventListener("abort", done);
      this.#wake = done;
    });
  }

  #onLine(text: string): void {
    const frame = decodeServerFrame(text);
    if (frame.type === "error") {
      this.#badLines++;
      return;
    }
    if (frame.type === "unknown") return;
    if (frame.type === "message") {
      this.#messages++;
      if (!this.#relevant(frame.from, frame.message)) return;
    } else if (frame.type !== "status") {
      this.#extensionFrames++;
      if (frame.type === "direct" && !this.#relevant(frame.from, frame.message)) return;
      if (frame.type === "join" || frame.type === "leave") {
        if (!this.#relevant(frame.nickname, "")) return;
      }
    }
    this.#keep(frame);
    this.#wake?.();
  }

  #keep(frame: Frame): void {
    if (this.#seen.length >= MAX_KEPT_FRAMES) this.#seen.shift();
    if (this.#inbox.length >= MAX_KEPT_FRAMES) this.#inbox.shift();
    this.#seen.push(frame);
    this.#inbox.push(frame);
  }
}

/** "5 s", "0.5 s": a duration in milliseconds as people read it. */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
