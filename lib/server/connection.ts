// One client connection: the TLS handshake, the frames read, the login
// deadline, and the replies. It turns bytes into frames (lines.ts,
// protocol.ts), hands them to the hub, and owns the outbox that writes back.
//
// The socket is node:tls's TLSSocket: unlike Deno.listenTls connections, it
// can be destroyed at any moment (mid-handshake, or with a write stuck on a
// peer that stopped reading), so every deadline and limit really frees the
// socket. A failure stays in its room: a bad frame gets an error reply and
// the connection goes on; a broken connection ends only itself. Every way a
// peer can vanish (FIN, reset, a failed or unfinished handshake) ends here
// as one "disconnect" with a reason, and frees the nickname at once.

import type { TLSSocket } from "node:tls";
import { withDeadline } from "../deadline.ts";
import { type LineError, LineSplitter } from "../lines.ts";
import { decodeClientFrame, encodeStatus, type StatusFrame, utf8Length } from "../protocol.ts";
import { describeSocketError } from "../tls_socket.ts";
import { type Hub, type HubResult, type Member, STORAGE_UNAVAILABLE } from "./hub.ts";
import type { Logger } from "./log.ts";
import { Outbox, type Writer } from "./outbox.ts";
import { TokenBucket } from "../token_bucket.ts";

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

/** Rejected frames logged per connection; the rest are answered but not logged. */
export const LOGGED_REJECTIONS = 20;

/**
 * Bytes a connection's socket may buffer beyond what the outbox still holds;
 * together with `sendQueueBytes` this bounds a slow reader's memory.
 */
export const SOCKET_BUFFER_BYTES = 512 * 1024;

/**
 * Bytes (UTF-8, as sent) of frames a client may send behind a login still
 * waiting for Redis; beyond that it is flooding and is cut off.
 */
export const HELD_BYTES = 1024 * 1024;

/** How long a politely closed connection may take to finish its close before it is destroyed. */
export const CLOSE_LINGER_MS = 1000;

const encoder = new TextEncoder();

/** How a connection ends: politely (flush, close_notify) or at once (the peer is not listening). */
type Ending = "polite" | "abort";

/**
 * Serves one accepted TLS connection until it ends.
 *
 * @example
 * ```ts
 * import { silentLogger } from "./log.ts";
 * declare const socket: import("node:tls").TLSSocket, hub: import("./hub.ts").Hub;
 * declare const limits: ConnectionLimits; // the server's, as given by its flags
 * const connection = new Connection(socket, "127.0.0.1:5000", 1, hub, limits, silentLogger, () => performance.now());
 * await connection.serve(); // resolves when the socket has closed
 * ```
 */
export class Connection implements Member {
  readonly id: number;
  readonly outbox: Outbox;
  nickname?: string;
  readonly #socket: TLSSocket;
  readonly #peer: string;
  readonly #hub: Hub;
  readonly #limits: ConnectionLimits;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #splitter: LineSplitter;
  #failedLogins = 0;
  readonly #bucket: TokenBucket;
  /** Frames refused by the rate limit since the last one accepted. */
  #strikes = 0;
  #rejected = 0;
  #secure = false;
  #loginDeadline: ReturnType<typeof setTimeout> | undefined;
  #handshakeDeadline: ReturnType<typeof setTimeout> | undefined;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set once the connection is ending; the first reason wins. */
  #endReason: string | undefined;
  /** Acks waiting for their message to be durable; a polite end still owes them. */
  #acksPending = 0;
  #acksAnswered: (() => void) | undefined;
  /** Settles once a polite end has answered the pending acks and closed the outbox. */
  #owed: Promise<void> | undefined;
  /**
   * With a shared chat, a login takes a round trip to Redis. Frames read
   * meanwhile wait here, in order, up to HELD_BYTES (pausing the socket
   * would not bound them: node:tls in Deno keeps reading underneath).
   */
  #loginPending = false;
  #held: string[] = [];
  #heldBytes = 0;
  /** The peer's FIN arrived while frames were held: end once they are handled. */
  #endHeld = false;

  /**
   * @param socket A server-side TLSSocket, just accepted (handshake not yet done).
   * @param now A monotonic clock in milliseconds (for the rate limit).
   */
  constructor(
    socket: TLSSocket,
    peer: string,
    id: number,
    hub: Hub,
    limits: ConnectionLimits,
    logger: Logger,
    now: () => number,
  ) {
    this.#socket = socket;
    this.#peer = peer;
    this.id = id;
    this.#hub = hub;
    this.#limits = limits;
    this.#logger = logger;
    this.#now = now;
    this.outbox = new Outbox(socketWriter(socket), hub.store, id, {
      sendQueueBytes: limits.sendQueueBytes,
    });
    this.#bucket = new TokenBucket(limits.rateLimit, limits.rateLimit * 2, now());
    this.#splitter = new LineSplitter(limits.maxLineBytes, {
      line: (text) => this.#onLine(text),
      error: (reason) => this.#onLineError(reason),
    });
  }

  /** The peer's address, as logged. */
  get peer(): string {
    return this.#peer;
  }

  /** Runs the connection until its socket has closed. Never rejects. */
  serve(): Promise<void> {
    const socket = this.#socket;
    this.#loginDeadline = setTimeout(() => this.#timeOut(), this.#limits.loginTimeoutMs);
    this.#handshakeDeadline = setTimeout(() => {
      this.#logger.log("handshake timeout", {
        peer: this.#peer,
        limit_ms: this.#limits.handshakeTimeoutMs,
      });
      this.end("TLS handshake timeout", "abort");
    }, this.#limits.handshakeTimeoutMs);
    socket.once("secure", () => {
      this.#secure = true;
      clearTimeout(this.#handshakeDeadline);
    });
    socket.on("data", (chunk: Uint8Array) => {
      if (this.#endReason !== undefined) return;
      // Every frame of this read is handled before the others are woken, once.
      this.#hub.batch(() => this.#splitter.push(chunk));
    });
    socket.on("end", () => {
      // The peer is done sending: its last frame counts even without a newline.
      if (this.#endReason === undefined) this.#hub.batch(() => this.#splitter.end());
      if (this.#loginPending) this.#endHeld = true;
      else this.end("closed by peer", "polite");
    });
    socket.on("error", (error: Error) => this.end(this.#describe(error), "abort"));
    const pump = this.outbox.run().then(
      () => this.outbox.failure && this.end(this.outbox.failure, "abort"),
      (error) => this.end(this.#describe(error), "abort"),
    );
    return new Promise((resolve) => {
      socket.once("close", () => {
        this.end("closed", "abort");
        clearTimeout(this.#lingerTimer);
        pump.then(() => {
          this.#logger.log("disconnect", {
            peer: this.#peer,
            nick: this.nickname,
            reason: this.#endReason,
          });
          resolve();
        });
      });
    });
  }

  /** Member.kick: the hub cut this connection off (a reader too slow to keep up). */
  kick(reason: string): void {
    this.end(reason, "abort");
  }

  /**
   * Ends the connection: frees the nickname now and stops reading. A polite
   * end lets the outbox write what it owes, acks still waiting for their
   * message to be durable included (up to {@linkcode CLOSE_LINGER_MS}), and
   * closes with close_notify; an abort destroys the socket at once. The
   * first reason given is the one logged.
   */
  end(reason: string, how: Ending = "polite"): void {
    if (this.#endReason === undefined) {
      this.#endReason = reason;
      clearTimeout(this.#loginDeadline);
      clearTimeout(this.#handshakeDeadline);
      this.#hub.leave(this);
      if (how === "polite" && this.#acksPending > 0) {
        this.#owed = new Promise<void>((resolve) => this.#acksAnswered = resolve)
          .then(() => this.outbox.close());
      } else {
        this.outbox.close();
      }
    }
    if (how === "abort") this.outbox.close();
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (how === "abort" || !this.#secure) {
      socket.destroy();
      return;
    }
    if (this.#lingerTimer !== undefined) return;
    this.#lingerTimer = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS * 2);
    const owed = (this.#owed ?? Promise.resolve()).then(() => this.outbox.drained());
    withDeadline(owed, CLOSE_LINGER_MS).then(() => {
      if (!socket.destroyed) socket.end(); // close_notify, then FIN.
    });
  }

  /** A short reason for a vanished peer, from the socket's error. */
  #describe(error: unknown): string {
    const gone = describeSocketError(error);
    return this.#secure ? gone : `TLS handshake failed: ${gone}`;
  }

  #timeOut(): void {
    if (this.nickname !== undefined) return;
    this.#logger.log("login timeout", { peer: this.#peer });
    this.#reply({ status: "error", reason: "login timeout" });
    this.end("login timeout");
  }

  #onLine(text: string): void {
    if (this.#endReason !== undefined) return;
    if (this.#loginPending) {
      this.#heldBytes += utf8Length(text);
      if (this.#heldBytes > HELD_BYTES) {
        this.#logger.log("flooding", { peer: this.#peer, held_bytes: this.#heldBytes });
        this.end("too much sent before the login was answered", "abort");
        return;
      }
      this.#held.push(text);
      return;
    }
    const frame = decodeClientFrame(text);
    if (!this.#bucket.take(this.#now())) {
      // Decoded first all the same, so the refusal carries the message's id (§8).
      this.#rateLimited(frame.type === "error" || frame.type === "send" ? frame.id : undefined);
      return;
    }
    this.#strikes = 0;
    if (frame.type === "error") {
      // Before login, only a login is worth a specific answer (PROTOCOL.md §3);
      // text that is not JSON at all is told so, to help a person typing.
      const early = this.nickname === undefined && frame.of !== undefined && frame.of !== "login";
      this.#reject(early ? "login required" : frame.reason, frame.id);
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
    this.#answerWhenStored(posted.stored, frame.id);
  }

  /**
   * Answers an accepted post once its fate is known: `ok` with its id (no
   * answer without one) when stored, or refused as storage unavailable,
   * with or without an id, when it cannot be. A polite end waits for these.
   */
  #answerWhenStored(stored: Promise<number>, id: string | undefined): void {
    this.#acksPending++;
    // One then() with both handlers, not then().finally(): one promise per
    // message, not three, on the path every message takes.
    stored.then(
      () => {
        if (id !== undefined) this.#reply({ status: "ok", id });
        this.#answered();
      },
      () => {
        this.#reject(STORAGE_UNAVAILABLE, id);
        this.#answered();
      },
    );
  }

  #answered(): void {
    if (--this.#acksPending === 0) this.#acksAnswered?.();
  }

  #login(nickname: string, since: number | undefined): void {
    const result = this.#hub.login(this, nickname, since);
    if (result.ok === "pending") {
      this.#loginPending = true;
      result.done.then((done) => {
        this.#loginPending = false;
        if (this.#endReason !== undefined) return;
        this.#loginAnswered(done, since);
        this.#releaseHeld();
      });
      return;
    }
    this.#loginAnswered(result, since);
  }

  /** Handles the frames read while a login was in flight, then reads on. */
  #releaseHeld(): void {
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    this.#hub.batch(() => {
      // A frame may start another login: the rest then waits behind it again.
      for (const text of held) this.#onLine(text);
    });
    if (this.#loginPending || this.#endReason !== undefined) return;
    if (this.#endHeld) this.end("closed by peer", "polite");
  }

  #loginAnswered(result: HubResult, since: number | undefined): void {
    if (result.ok) {
      clearTimeout(this.#loginDeadline);
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

  /** A frame over the rate limit: refused, neither stored nor relayed; a client that keeps on is cut off. */
  #rateLimited(id: string | undefined): void {
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
      this.#reply({ status: "error", id, reason: "rate limit exceeded: closing the connection" });
      this.end("flooding");
      return;
    }
    this.#reply({ status: "error", id, reason: "rate limit exceeded" });
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
      this.end(this.outbox.failure, "abort");
    }
  }
}

/** The outbox's Writer over a socket: resolves when the socket can take more. */
function socketWriter(socket: TLSSocket): Writer {
  return {
    write(bytes: Uint8Array): Promise<number> {
      if (socket.destroyed) return Promise.reject(new Error("connection closed"));
      // Keep up to SOCKET_BUFFER_BYTES in the socket's own buffer, so the
      // next batch is gathered while this one is still being sent.
      if (socket.write(bytes) || socket.writableLength < SOCKET_BUFFER_BYTES) {
        return Promise.resolve(bytes.length);
      }
      return new Promise((resolve, reject) => {
        const drained = () => {
          socket.off("close", closed);
          resolve(bytes.length);
        };
        const closed = () => {
          socket.off("drain", drained);
          reject(new Error("connection closed"));
        };
        socket.once("drain", drained);
        socket.once("close", closed);
      });
    },
  };
}
