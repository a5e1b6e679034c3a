// One client connection: the TLS handshake, the read loop, the login
// deadline, and the replies. It turns bytes into frames (lines.ts,
// protocol.ts), hands them to the hub, and owns the outbox that writes back.
//
// A failure stays in its room: a bad frame gets an error reply and the
// connection goes on; a broken connection ends only itself. Every way a
// peer can vanish (EOF, reset, broken pipe, a failed handshake) ends here as
// one "disconnect" with a reason, and frees the nickname at once.

import { withDeadline } from "../deadline.ts";
import { type LineError, LineSplitter } from "../lines.ts";
import { decodeClientFrame, encodeStatus, type StatusFrame } from "../protocol.ts";
import type { Hub, Member } from "./hub.ts";
import type { Logger } from "./log.ts";
import { Outbox } from "./outbox.ts";
import { TokenBucket } from "./rate_limit.ts";

/** The parts of `Deno.TlsConn` a connection uses. */
export interface PeerConn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  handshake(): Promise<unknown>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** Per-connection limits. */
export interface ConnectionLimits {
  /** Time from accept to a successful login (TLS handshake included). */
  loginTimeoutMs: number;
  /** Failed logins after which the connection is closed. */
  maxLoginAttempts: number;
  /** Longest frame read; longer ones are discarded with an error reply. */
  maxLineBytes: number;
  /** Bytes a slow reader may have waiting before it is cut off. */
  sendQueueBytes: number;
  /** Time from accept to a finished TLS handshake. */
  handshakeTimeoutMs: number;
  /** Frames per second a client may send on average (bursts of twice that); 0 for no limit. */
  rateLimit: number;
}

/**
 * Frames refused in a row for the rate limit after which the client counts
 * as flooding and is cut off: a client that slows down when told is kept.
 */
export const FLOOD_STRIKES = 100;

/** Size of each connection's read buffer. Small: an idle client should cost little. */
export const READ_BUFFER_BYTES = 16 * 1024;

/** Rejected frames logged per connection; the rest are answered but not logged. */
export const LOGGED_REJECTIONS = 20;

/** How long a closing connection may take to flush what it owes before it is cut. */
export const CLOSE_FLUSH_MS = 1000;

const encoder = new TextEncoder();

/**
 * Serves one accepted TLS connection until it ends.
 *
 * @example
 * ```ts
 * const connection = new Connection(conn, "127.0.0.1:5000", 1, hub, limits, logger);
 * await connection.serve(); // resolves when the connection has ended
 * ```
 */
export class Connection implements Member {
  readonly id: number;
  readonly outbox: Outbox;
  nickname?: string;
  readonly #conn: PeerConn;
  readonly #peer: string;
  readonly #hub: Hub;
  readonly #limits: ConnectionLimits;
  readonly #logger: Logger;
  readonly #splitter: LineSplitter;
  #failedLogins = 0;
  readonly #bucket: TokenBucket;
  /** Frames refused by the rate limit since the last one accepted. */
  #strikes = 0;
  #rejected = 0;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  /** Set once the connection is ending; the first reason wins. */
  #endReason: string | undefined;
  /** Settles when end() is called: handshakes and reads cannot be cancelled, so they race it. */
  readonly #ended: Promise<null>;
  #signalEnded!: () => void;

  constructor(
    conn: PeerConn,
    peer: string,
    id: number,
    hub: Hub,
    limits: ConnectionLimits,
    logger: Logger,
  ) {
    this.#conn = conn;
    this.#peer = peer;
    this.id = id;
    this.#hub = hub;
    this.#limits = limits;
    this.#logger = logger;
    this.outbox = new Outbox(conn, hub.store, id, { sendQueueBytes: limits.sendQueueBytes });
    this.#bucket = new TokenBucket(limits.rateLimit, limits.rateLimit * 2, performance.now());
    this.#ended = new Promise((resolve) => this.#signalEnded = () => resolve(null));
    this.#splitter = new LineSplitter(limits.maxLineBytes, {
      line: (text) => this.#onLine(text),
      error: (reason) => this.#onLineError(reason),
    });
  }

  /** The peer's address, as logged. */
  get peer(): string {
    return this.#peer;
  }

  /** Runs the connection to its end. Never rejects. */
  async serve(): Promise<void> {
    this.#deadline = setTimeout(() => this.#timeOut(), this.#limits.loginTimeoutMs);
    const pump = this.outbox.run().then(
      () => this.outbox.failure && this.end(this.outbox.failure),
      (error) => this.end(describeGone(error)),
    );
    const handshakeDeadline = setTimeout(() => {
      this.#logger.log("handshake timeout", {
        peer: this.#peer,
        limit_ms: this.#limits.handshakeTimeoutMs,
      });
      this.end("TLS handshake timeout");
    }, this.#limits.handshakeTimeoutMs);
    try {
      await Promise.race([this.#conn.handshake(), this.#ended]);
    } catch (error) {
      this.end(`TLS handshake failed: ${describeGone(error)}`);
    } finally {
      clearTimeout(handshakeDeadline);
    }
    await this.#readLoop();
    this.outbox.close();
    await this.#flushThenClose(pump);
  }

  /** Member.kick: the hub cut this connection off. */
  kick(reason: string): void {
    this.end(reason);
  }

  /**
   * Ends the connection: frees the nickname now, stops reading, and lets
   * the outbox write what it owes (up to {@linkcode CLOSE_FLUSH_MS}) before
   * a polite close. The first reason given is the one logged.
   */
  end(reason: string): void {
    if (this.#endReason !== undefined) return;
    this.#endReason = reason;
    clearTimeout(this.#deadline);
    this.#hub.leave(this);
    this.outbox.close();
    this.#signalEnded();
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    while (this.#endReason === undefined) {
      let n: number | null;
      try {
        n = await Promise.race([this.#conn.read(buffer), this.#ended]);
      } catch (error) {
        this.end(describeGone(error));
        return;
      }
      if (n === null) {
        if (this.#endReason === undefined) {
          this.#splitter.end();
          this.end("closed by peer");
        }
        return;
      }
      // Every frame of this read is handled before the others are woken, once.
      this.#hub.batch(() => this.#splitter.push(buffer.subarray(0, n)));
    }
  }

  async #flushThenClose(pump: Promise<unknown>): Promise<void> {
    await withDeadline(pump, CLOSE_FLUSH_MS);
    try {
      // close_notify, when the peer is still there to receive it.
      if (this.#endReason !== "closed by peer") await withDeadline(this.#conn.closeWrite(), 100);
    } catch {
      // The peer is already gone.
    }
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await pump;
    this.#logger.log("disconnect", {
      peer: this.#peer,
      nick: this.nickname,
      reason: this.#endReason ?? "closed",
    });
  }

  #timeOut(): void {
    if (this.nickname !== undefined) return;
    this.#logger.log("login timeout", { peer: this.#peer });
    this.#reply({ status: "error", reason: "login timeout" });
    this.end("login timeout");
  }

  #onLine(text: string): void {
    if (this.#endReason !== undefined) return;
    if (!this.#bucket.take(performance.now())) {
      this.#rateLimited();
      return;
    }
    this.#strikes = 0;
    const frame = decodeClientFrame(text);
    if (frame.type === "error") {
      this.#reject(frame.reason, frame.id);
      return;
    }
    if (frame.type === "login") {
      this.#login(frame.nickname, frame.since);
      return;
    }
    if (this.nickname === undefined) {
      this.#reject("login required", frame.id);
      return;
    }
    const posted = this.#hub.post(this, frame.message);
    if (!posted.ok) {
      this.#reject(posted.reason, frame.id);
      return;
    }
    const id = frame.id;
    if (id !== undefined && posted.seq !== undefined) {
      this.#hub.store.whenDurable(posted.seq).then(
        () => this.#reply({ status: "ok", id }),
        () => this.#reply({ status: "error", id, reason: "storage failed" }),
      );
    }
  }

  #login(nickname: string, since: number | undefined): void {
    const result = this.#hub.login(this, nickname, since);
    if (result.ok) {
      clearTimeout(this.#deadline);
      this.#logger.log("login", { peer: this.#peer, nick: this.nickname, since });
      return;
    }
    if (result.reason === "already logged in") {
      this.#reply({ status: "error", reason: result.reason });
      return;
    }
    this.#failedLogins++;
    this.#logger.log("login refused", {
      peer: this.#peer,
      reason: result.reason,
      attempt: this.#failedLogins,
    });
    this.#reply({ status: "error", reason: result.reason });
    if (this.#failedLogins >= this.#limits.maxLoginAttempts) this.end("too many failed logins");
  }

  /** A frame over the rate limit: refused unread; a client that keeps on is cut off. */
  #rateLimited(): void {
    this.#strikes++;
    if (this.#strikes === 1) {
      this.#logger.log("rate limited", {
        peer: this.#peer,
        nick: this.nickname,
        limit: this.#limits.rateLimit,
      });
    }
    if (this.#strikes >= FLOOD_STRIKES) {
      this.#logger.log("flooding", {
        peer: this.#peer,
        nick: this.nickname,
        refused: this.#strikes,
      });
      this.#reply({ status: "error", reason: "rate limit exceeded: closing the connection" });
      this.end("flooding");
      return;
    }
    this.#reply({ status: "error", reason: "rate limit exceeded" });
  }

  #onLineError(reason: LineError): void {
    if (this.#endReason !== undefined) return;
    this.#reject(reason);
  }

  /**
   * Answers a frame we cannot accept, and logs it: a team debugging its
   * client at a meetup wants to see why. The log is capped per connection
   * so a peer cannot flood it.
   */
  #reject(reason: string, id?: string): void {
    this.#rejected++;
    if (this.#rejected <= LOGGED_REJECTIONS) {
      this.#logger.log("frame rejected", { peer: this.#peer, nick: this.nickname, reason });
      if (this.#rejected === LOGGED_REJECTIONS) {
        this.#logger.log("frame rejected", {
          peer: this.#peer,
          nick: this.nickname,
          reason: `further rejected frames from this connection are not logged`,
        });
      }
    }
    this.#reply({ status: "error", reason, id });
  }

  #reply(frame: StatusFrame): void {
    if (!this.outbox.reply(encoder.encode(encodeStatus(frame))) && this.outbox.failure) {
      this.end(this.outbox.failure);
    }
  }
}

/** A short reason for a vanished peer, from whatever the runtime threw. */
export function describeGone(error: unknown): string {
  if (error instanceof Deno.errors.UnexpectedEof) return "connection lost (unexpected EOF)";
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset by peer";
  if (error instanceof Deno.errors.BrokenPipe) return "connection lost (broken pipe)";
  if (error instanceof Deno.errors.Interrupted) return "connection interrupted";
  if (error instanceof Deno.errors.BadResource) return "connection closed";
  if (error instanceof Error) return error.message.split("\n")[0];
  return String(error);
}
