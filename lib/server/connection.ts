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
// as one "disconnect" with a reason, and frees the nickname at once; the
// others hear it left (`quit` for a close by the peer, `lost` for anything
// else). What a logged-in connection's frames do is in commands.ts; the
// answers it owes go out in the order of its frames (answers.ts).

import type { TLSSocket } from "node:tls";
import { withDeadline } from "../deadline.ts";
import { type LineError, LineSplitter } from "../lines.ts";
import {
  decodeClientFrame,
  encodeStatus,
  type Feature,
  type LeaveReason,
  type LoginFrame,
  type StatusFrame,
  utf8Length,
} from "../protocol.ts";
import { peerIdentity } from "../peer_certificate.ts";
import { describeSocketError } from "../tls_socket.ts";
import type { AddressQuota } from "./address_quota.ts";
import { Answers } from "./answers.ts";
import { Commands } from "./commands.ts";
import type { Hub, HubResult, Member } from "./hub.ts";
import { CLOSE_LINGER_MS, type ConnectionLimits, FLOOD_STRIKES, HELD_BYTES } from "./limits.ts";
import type { Logger } from "./log.ts";
import { Outbox } from "./outbox.ts";
import { PeerWatch, type Stalled } from "./peer_watch.ts";
import { socketWriter } from "./socket_writer.ts";

/** What a connection is given besides its socket. */
export interface ConnectionContext {
  /** The peer's address, as logged. */
  peer: string;
  /** The peer's IP address (a ban's target without an identity, §13). */
  address?: string;
  /** Unique per connection for the life of the process. */
  id: number;
  hub: Hub;
  limits: ConnectionLimits;
  logger: Logger;
  /** A monotonic clock in milliseconds (rate limits, the peer watch). */
  now: () => number;
  /** Its address's share: the rate limits, held for all of the address's connections. */
  quota: AddressQuota;
}

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
 * declare const limits: import("./limits.ts").ConnectionLimits; // the server's, from its flags
 * declare const quota: import("./address_quota.ts").AddressQuota; // its address's share
 * const connection = new Connection(socket, {
 *   peer: "127.0.0.1:5000", id: 1, hub, limits, logger: silentLogger,
 *   now: () => performance.now(), quota,
 * });
 * await connection.serve(); // resolves when the socket has closed
 * ```
 */
export class Connection implements Member {
  readonly id: number;
  readonly outbox: Outbox;
  readonly address: string | undefined;
  nickname?: string;
  features?: ReadonlySet<Feature>;
  readonly #socket: TLSSocket;
  readonly #peer: string;
  readonly #hub: Hub;
  readonly #limits: ConnectionLimits;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #splitter: LineSplitter;
  readonly #quota: AddressQuota;
  readonly #watch: PeerWatch;
  readonly #commands: Commands;
  /** What it owes, in the order of its frames (answers.ts). */
  readonly #answers: Answers;
  #failedLogins = 0;
  /** Frames refused by the rate limit since the last one accepted. */
  #strikes = 0;
  #secure = false;
  #identity: string | undefined;
  #loginDeadline: ReturnType<typeof setTimeout> | undefined;
  #handshakeDeadline: ReturnType<typeof setTimeout> | undefined;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set once the connection is ending; the first reason wins. */
  #endReason: string | undefined;
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

  /** @param socket A server-side TLSSocket, just accepted (handshake not yet done). */
  constructor(socket: TLSSocket, context: ConnectionContext) {
    const { hub, limits } = context;
    this.#socket = socket;
    this.#peer = context.peer;
    this.address = context.address;
    this.id = context.id;
    this.#hub = hub;
    this.#limits = limits;
    this.#logger = context.logger;
    this.#now = context.now;
    this.#quota = context.quota;
    this.outbox = new Outbox(socketWriter(socket), hub.store, context.id, {
      sendQueueBytes: limits.sendQueueBytes,
    });
    this.#watch = new PeerWatch({
      partialLineMs: limits.partialLineMs,
      heartbeatGraceMs: limits.heartbeatGraceMs,
      now: context.now,
      stalled: (why) => this.#stalled(why),
    });
    this.#splitter = new LineSplitter(limits.maxLineBytes, {
      line: (text) => this.#onLine(text),
      error: (reason) => this.#onLineError(reason),
    });
    this.#answers = new Answers({
      send: (frame) => this.#send(frame),
      logRejection: (reason) =>
        this.#logger.log("frame rejected", { peer: this.#peer, nick: this.nickname, reason }),
      now: context.now,
    });
    this.#commands = new Commands({ hub, member: this, answers: this.#answers });
  }

  /** The peer's address, as logged. */
  get peer(): string {
    return this.#peer;
  }

  /** The client's identity (its certificate's fingerprint, §12) once the handshake is done. */
  get identity(): string | undefined {
    return this.#identity;
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
      this.#identity = peerIdentity(socket);
      clearTimeout(this.#handshakeDeadline);
    });
    socket.on("data", (chunk: Uint8Array) => {
      if (this.#endReason !== undefined) return;
      this.#watch.arrived();
      // Every frame of this read is handled before the others are woken, once.
      this.#hub.batch(() => this.#splitter.push(chunk));
      this.#watch.handled(this.#splitter.bufferedBytes);
    });
    socket.on("end", () => {
      // The peer is done sending: its last frame counts even without a newline.
      if (this.#endReason === undefined) this.#hub.batch(() => this.#splitter.end());
      if (this.#loginPending) this.#endHeld = true;
      else this.end("closed by peer", "polite", "quit");
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
        this.#answers.stop();
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
   * Member.cut: an operator cut this connection off (§13): its error frame,
   * then a polite close. The frame answers none of its own: it goes out at
   * once, ahead of answers still owed, which the close waits for.
   */
  cut(reason: string, leaving: LeaveReason): void {
    if (this.#endReason !== undefined) return;
    this.#send({ status: "error", reason });
    this.end(reason, "polite", leaving);
  }

  /**
   * Ends the connection: frees the nickname now (the others hear it left
   * for `leaving`) and stops reading. A polite end lets the outbox write
   * what it owes, acks still waiting for their message to be durable
   * included (up to {@linkcode CLOSE_LINGER_MS}), and closes with
   * close_notify; an abort destroys the socket at once. The first reason
   * given is the one logged.
   */
  end(reason: string, how: Ending = "polite", leaving: LeaveReason = "lost"): void {
    if (this.#endReason === undefined) {
      this.#endReason = reason;
      clearTimeout(this.#loginDeadline);
      clearTimeout(this.#handshakeDeadline);
      this.#watch.stop();
      this.#hub.leave(this, leaving);
      const owed = how === "polite" ? this.#answers.owed() : undefined;
      if (owed !== undefined) this.#owed = owed.then(() => this.outbox.close());
      else this.outbox.close();
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

  /** The peer left a line unfinished, or stopped heartbeating: it is cut (peer_watch.ts). */
  #stalled(why: Stalled): void {
    const limit_ms = why === "unfinished line"
      ? this.#limits.partialLineMs
      : this.#limits.heartbeatGraceMs;
    this.#logger.log(why === "unfinished line" ? "partial line timeout" : "heartbeat lost", {
      peer: this.#peer,
      nick: this.nickname,
      limit_ms,
    });
    this.end(why, "abort");
  }

  #timeOut(): void {
    if (this.nickname !== undefined) return;
    this.#logger.log("login timeout", { peer: this.#peer });
    this.#answers.reply({ status: "error", reason: "login timeout" });
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
    const now = this.#now();
    // The byte budget is charged for a message only: it bounds the history.
    const over = !this.#quota.takeFrame(now)
      ? "frames"
      : frame.type === "send" && !this.#quota.takeBytes(now, utf8Length(frame.message))
      ? "bytes"
      : undefined;
    if (over !== undefined) {
      // Decoded first all the same, so the refusal carries the message's id (§8).
      this.#rateLimited(
        over,
        frame.type === "error" || frame.type === "send" ? frame.id : undefined,
      );
      return;
    }
    this.#strikes = 0;
    if (frame.type === "error") {
      // Before login, only a login is worth a specific answer (PROTOCOL.md §3);
      // text that is not JSON at all is told so, to help a person typing.
      const early = this.nickname === undefined && frame.of !== undefined && frame.of !== "login";
      this.#answers.reject(early ? "login required" : frame.reason, frame.id);
      return;
    }
    if (frame.type === "login") {
      this.#login(frame);
      return;
    }
    if (this.nickname === undefined) {
      this.#answers.reject("login required", frame.type === "send" ? frame.id : undefined);
      return;
    }
    this.#commands.run(frame);
  }

  #login(frame: LoginFrame): void {
    const result = this.#hub.login(this, frame.nickname, frame.since, frame.features);
    if (result.ok === "pending") {
      this.#loginPending = true;
      result.done.then((done) => {
        this.#loginPending = false;
        if (this.#endReason !== undefined) return;
        this.#loginAnswered(done, frame.since, frame.nickname);
        this.#releaseHeld();
      });
      return;
    }
    this.#loginAnswered(result, frame.since, frame.nickname);
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
    if (this.#endHeld) this.end("closed by peer", "polite", "quit");
  }

  #loginAnswered(result: HubResult, since: number | undefined, nickname: string): void {
    if (result.ok) {
      clearTimeout(this.#loginDeadline);
      // Only a client that asked is cut for falling silent (peer_watch.ts).
      if (this.features?.has("heartbeat")) this.#watch.heartbeat();
      this.#logger.log("login", {
        peer: this.#peer,
        nick: this.nickname,
        since,
        identity: this.#identity,
        features: this.features && [...this.features].join(","),
      });
      return;
    }
    if (result.reason === "already logged in") {
      this.#answers.reply({ status: "error", reason: result.reason });
      return;
    }
    this.#failedLogins++;
    this.#logger.log("login refused", {
      peer: this.#peer,
      nick: nickname.slice(0, 64),
      identity: this.#identity,
      reason: result.reason,
      attempt: this.#failedLogins,
    });
    this.#answers.reply({ status: "error", reason: result.reason });
    if (this.#failedLogins >= this.#limits.maxLoginAttempts) this.end("too many failed logins");
  }

  /**
   * A frame over its address's rate limit (frames, or bytes of text):
   * refused, neither stored nor relayed; a client that keeps on is cut off.
   */
  #rateLimited(over: "frames" | "bytes", id: string | undefined): void {
    this.#strikes++;
    if (this.#strikes === 1) {
      this.#logger.log("rate limited", {
        peer: this.#peer,
        nick: this.nickname,
        ...over === "frames"
          ? { limit: this.#limits.rateLimit }
          : { limit_bytes: this.#limits.rateLimitBytes },
      });
    }
    if (this.#strikes >= FLOOD_STRIKES) {
      this.#logger.log("flooding", {
        peer: this.#peer,
        nick: this.nickname,
        refused: this.#strikes,
      });
      this.#answers.reply({
        status: "error",
        id,
        reason: "rate limit exceeded: closing the connection",
      });
      this.end("flooding");
      return;
    }
    this.#answers.reply({ status: "error", id, reason: "rate limit exceeded" });
  }

  #onLineError(reason: LineError): void {
    if (this.#endReason !== undefined) return;
    this.#answers.reject(reason);
  }

  /** Queues a frame now; answers go through #answers, to keep their order. */
  #send(frame: StatusFrame): void {
    if (!this.outbox.reply(encoder.encode(encodeStatus(frame))) && this.outbox.failure) {
      this.end(this.outbox.failure, "abort");
    }
  }
}
