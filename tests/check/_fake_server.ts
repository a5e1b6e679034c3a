// A small chat server written for the probe's tests: core protocol only (no
// ids, no seq), and with switches that break it in one way each, so the
// tests can show that `chat check` notices every kind of breakage and says
// what it is. With no switch on it is a second, independent conforming
// server: the probe must pass it too, extensions skipped. Two switches add
// an extension each (`seq`, `acks`), so the client's tests meet servers
// that number their messages without acking, and ones that ack. `rooms`
// adds §9–§11 (features, presence, direct messages), as a second,
// independent implementation for the client's tests and the probe's room
// checks, and its own flaws break one rule of those each.
//
// protocol.ts does not decode a client's `features`, `to` or `who` (the
// server's half of §9–§11 is not in it yet), so this test fake reads them
// from the JSON itself, and writes the room's frames with JSON.stringify.

import { LineSplitter } from "../../lib/lines.ts";
import { checkNickname, nicknameKey } from "../../lib/nickname.ts";
import { decodeClientFrame, encodeChatMessage, encodeStatus } from "../../lib/protocol.ts";
import { formatWireTime } from "../../lib/time.ts";

/** One way to break the protocol each. */
export interface Flaws {
  /** Relays a message back to its sender too. */
  echo?: boolean;
  /** Takes the client's `from` when there is one. */
  trustFrom?: boolean;
  /** Nicknames are unique only in exactly the same case. */
  caseSensitive?: boolean;
  /** Accepts any nickname (control and format characters, any length). */
  anyNickname?: boolean;
  /** The replay leaves out the messages of the nickname logging in. */
  noOwnReplay?: boolean;
  /** A message before login gets an error, but is stored and relayed anyway. */
  storeBeforeLogin?: boolean;
  /** Closes the connection on malformed JSON. */
  closeOnBadFrame?: boolean;
  /** Closes the connection on a line over 64 KiB. */
  closeOnLongLine?: boolean;
  /** Takes each read as whole lines: a frame split over reads is garbage. */
  chunkIsFrame?: boolean;
  /** Answers a blank line with an error. */
  blankLineError?: boolean;
  /** Completes the TLS handshake, then never answers anything. */
  silent?: boolean;
  /** Others chat all the time, and the history holds thousands of their messages. */
  busy?: boolean;
  /** Not a flaw: a per-connection rate limit on frames, as a server may have. */
  rateLimit?: { perSecond: number; burst: number };
  /** Not a flaw: numbers the messages it sends (`seq`, §8), and ignores `since`. */
  seq?: boolean;
  /** Not a flaw: answers a message's `id` with `{"status":"ok","id":…}` once stored (§8). */
  acks?: boolean;
  /**
   * Not a flaw: speaks §9–§11 with a login that asks for features: lists
   * ["presence","direct"], the `who` event after the replay, join and leave
   * events, the `who` command, direct messages (acked, or refused).
   */
  rooms?: boolean;
  /** With rooms: a login without features gets presence events too. */
  presenceToCore?: boolean;
  /** With rooms: the `who` event comes before the replay. */
  whoBeforeReplay?: boolean;
  /** With rooms: leave events carry no reason. */
  leaveWithoutReason?: boolean;
  /** With rooms: a direct message is also relayed to everybody as a public one. */
  directToAll?: boolean;
  /** With rooms: a direct message to nobody is acked, and dropped. */
  directToNobody?: boolean;
  /** With rooms: direct messages are kept in the history and replayed. */
  directReplayed?: boolean;
}

/** The features a rooms server lists (§9). */
const ROOM_FEATURES = ["presence", "direct"];

/** What the fake reads of a client frame beyond protocol.ts's decoding: §9–§11. */
function roomFields(text: string): { features?: unknown; to?: unknown; command?: unknown } {
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

const MAX_LINE_BYTES = 64 * 1024;
const MAX_MESSAGE_BYTES = 16 * 1024;
/** Old messages in a busy server's history. */
const BUSY_HISTORY = 5_000;
/** How often someone else says something on a busy server. */
const BUSY_INTERVAL_MS = 5;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

class Peer {
  nickname?: string;
  /** It asked for features at login (§9): it gets the room's frames. */
  rooms = false;
  /** Rate-limit tokens left, and when they were last topped up. */
  tokens = Infinity;
  refilled = Date.now();
  #writing: Promise<unknown> = Promise.resolve();
  constructor(readonly conn: Deno.TlsConn) {}

  send(text: string): void {
    const bytes = encoder.encode(text);
    this.#writing = this.#writing.then(async () => {
      let offset = 0;
      while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
    }).catch(() => {});
  }

  async flushed(): Promise<void> {
    await this.#writing;
  }
}

/** The fake server on 127.0.0.1:0. */
export class FakeChatServer {
  readonly listener: Deno.TlsListener;
  readonly #flaws: Flaws;
  readonly #history: { from: string; line: string; to?: string }[] = [];
  readonly #members = new Map<string, Peer>();
  readonly #peers = new Set<Peer>();
  readonly #handlers: Promise<void>[] = [];
  readonly #accepting: Promise<void>;
  readonly #chatter: ReturnType<typeof setInterval> | undefined;

  constructor(cert: { certPem: string; keyPem: string }, flaws: Flaws = {}) {
    this.#flaws = flaws;
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: cert.certPem,
      key: cert.keyPem,
    });
    this.listener = listener;
    if (flaws.busy) {
      for (let i = 0; i < BUSY_HISTORY; i++) this.#store("someone", `old message ${i}`);
      let n = 0;
      this.#chatter = setInterval(
        () => this.#post(undefined, "someone", `chatter ${n++}`),
        BUSY_INTERVAL_MS,
      );
    }
    this.#accepting = (async () => {
      try {
        for await (const conn of listener) this.#handlers.push(this.#serve(new Peer(conn)));
      } catch {
        // Listener closed.
      }
    })();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  async close(): Promise<void> {
    clearInterval(this.#chatter);
    this.listener.close();
    await this.#accepting;
    for (const peer of this.#peers) {
      try {
        peer.conn.close();
      } catch {
        // Already closed.
      }
    }
    await Promise.all(this.#handlers);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #serve(peer: Peer): Promise<void> {
    this.#peers.add(peer);
    const splitter = new LineSplitter(MAX_LINE_BYTES, {
      line: (text) => this.#onLine(peer, text),
      error: (reason) => {
        if (reason === "line too long" && this.#flaws.closeOnLongLine) this.#drop(peer);
        else this.#error(peer, reason);
      },
    });
    const buffer = new Uint8Array(16 * 1024);
    let carry: Uint8Array = new Uint8Array(0);
    let quit = true;
    try {
      while (true) {
        const n = await peer.conn.read(buffer);
        if (n === null) break;
        if (this.#flaws.silent) continue;
        if (this.#flaws.chunkIsFrame) this.#wholeLines(peer, buffer.subarray(0, n));
        else if (this.#flaws.blankLineError) {
          carry = this.#everyLine(peer, carry, buffer.subarray(0, n));
        } else splitter.push(buffer.subarray(0, n));
      }
    } catch {
      // Reset, or closed by us.
      quit = false;
    }
    this.#leave(peer, quit ? "quit" : "lost");
    await peer.flushed();
    try {
      peer.conn.close();
    } catch {
      // Already closed.
    }
    this.#peers.delete(peer);
  }

  /** Splits lines without skipping blank ones (unbounded: this is a test fake). */
  #everyLine(peer: Peer, carry: Uint8Array, chunk: Uint8Array): Uint8Array {
    const bytes = new Uint8Array(carry.length + chunk.length);
    bytes.set(carry);
    bytes.set(chunk, carry.length);
    let start = 0;
    for (let end = bytes.indexOf(10); end !== -1; end = bytes.indexOf(10, start)) {
      let line: string;
      try {
        line = decoder.decode(bytes.subarray(start, end));
      } catch {
        line = "\uFFFD"; // Answered as malformed JSON.
      }
      this.#onLine(peer, line.replace(/\r$/, ""));
      start = end + 1;
    }
    return bytes.slice(start);
  }

  #wholeLines(peer: Peer, chunk: Uint8Array): void {
    let text: string;
    try {
      text = decoder.decode(chunk);
    } catch {
      this.#error(peer, "invalid UTF-8");
      return;
    }
    for (const line of text.split("\n")) {
      if (line.trim() !== "") this.#onLine(peer, line.replace(/\r$/, ""));
    }
  }

  #onLine(peer: Peer, text: string): void {
    const limit = this.#flaws.rateLimit;
    if (limit) {
      const now = Date.now();
      peer.tokens = Math.min(
        limit.burst,
        (peer.tokens === Infinity ? limit.burst : peer.tokens) +
          (now - peer.refilled) * limit.perSecond / 1000,
      );
      peer.refilled = now;
      if (peer.tokens < 1) {
        this.#error(peer, "rate limit exceeded");
        return;
      }
      peer.tokens--;
    }
    if (text.trim() === "" && this.#flaws.blankLineError) {
      this.#error(peer, "empty frame");
      return;
    }
    if (this.#flaws.rooms && this.#onRoomFrame(peer, text)) return;
    const frame = decodeClientFrame(text);
    if (frame.type === "error") {
      if (this.#flaws.closeOnBadFrame && frame.reason === "malformed JSON") this.#drop(peer);
      else this.#error(peer, frame.reason);
      return;
    }
    if (frame.type === "login") {
      const features = this.#flaws.rooms ? roomFields(text).features : undefined;
      this.#login(peer, frame.nickname, Array.isArray(features));
      return;
    }
    if (frame.type !== "send") {
      // A core server: who (§10) and the commands of §12–§13 are unknown to it.
      this.#error(peer, `unknown command "${frame.type}"`);
      return;
    }
    if (peer.nickname === undefined) {
      this.#error(peer, "login required");
      if (this.#flaws.storeBeforeLogin) this.#post(peer, "anonymous", frame.message);
      return;
    }
    if (frame.message === "" || encoder.encode(frame.message).length > MAX_MESSAGE_BYTES) {
      this.#error(peer, "bad message");
      return;
    }
    let from = peer.nickname;
    if (this.#flaws.trustFrom) {
      // The probe's spoof frame: read "from" the way a careless server would.
      const claimed = /"from":"([^"]*)"/.exec(text)?.[1];
      if (claimed) from = claimed;
    }
    this.#post(peer, from, frame.message);
    if (this.#flaws.acks && frame.id !== undefined) {
      peer.send(encodeStatus({ status: "ok", id: frame.id }));
    }
  }

  #login(peer: Peer, raw: string, rooms = false): void {
    if (peer.nickname !== undefined) {
      this.#error(peer, "already logged in");
      return;
    }
    const checked = checkNickname(raw);
    if (!checked.ok && !this.#flaws.anyNickname) {
      this.#error(peer, checked.reason);
      return;
    }
    const nickname = checked.ok ? checked.nickname : raw;
    const key = this.#flaws.caseSensitive ? nickname : nicknameKey(nickname);
    if (this.#members.has(key)) {
      this.#error(peer, "nickname already in use");
      return;
    }
    this.#members.set(key, peer);
    peer.nickname = nickname;
    peer.rooms = rooms;
    peer.send(
      rooms
        ? JSON.stringify({ status: "ok", features: ROOM_FEATURES }) + "\n"
        : encodeStatus({ status: "ok" }),
    );
    if (rooms && this.#flaws.whoBeforeReplay) this.#who(peer);
    for (const stored of this.#history) {
      if (this.#flaws.noOwnReplay && stored.from === nickname) continue;
      peer.send(stored.line);
    }
    if (rooms && !this.#flaws.whoBeforeReplay) this.#who(peer);
    if (this.#flaws.rooms) {
      this.#presence(peer, { event: "join", nickname, time: formatWireTime(new Date()) });
    }
  }

  /** A frame of §10–§11 (a `who` command, a message with `to`), handled; false for any other. */
  #onRoomFrame(peer: Peer, text: string): boolean {
    const fields = roomFields(text);
    if (fields.command === "who" && peer.nickname !== undefined && peer.rooms) {
      this.#who(peer);
      return true;
    }
    // A `to` from any logged-in connection is direct, never public (a leak is worse than a refusal).
    if (fields.to === undefined || fields.to === null || peer.nickname === undefined) return false;
    const frame = decodeClientFrame(text);
    if (frame.type !== "send") return false; // The core path answers it.
    const id = frame.id;
    if (typeof fields.to !== "string" || frame.message === "") {
      peer.send(encodeStatus({ status: "error", id, reason: "bad direct message" }));
      return true;
    }
    const recipient = this.#members.get(nicknameKey(fields.to));
    const time = formatWireTime(new Date());
    const line =
      JSON.stringify({ from: peer.nickname, to: fields.to, message: frame.message, time }) + "\n";
    if (this.#flaws.directReplayed) {
      this.#history.push({ from: peer.nickname, line, to: fields.to });
    }
    if (this.#flaws.directToAll) this.#post(peer, peer.nickname, frame.message);
    if (!recipient?.rooms && !this.#flaws.directToNobody) {
      const reason = recipient
        ? `${fields.to} does not take direct messages`
        : "nobody by that name";
      peer.send(encodeStatus({ status: "error", id, reason }));
      return true;
    }
    recipient?.send(line);
    if (id !== undefined) peer.send(encodeStatus({ status: "ok", id }));
    return true;
  }

  /** The `who` event: everybody logged in now, `peer` included. */
  #who(peer: Peer): void {
    const nicknames = [...this.#members.values()].map((member) => member.nickname);
    peer.send(JSON.stringify({ event: "who", nicknames }) + "\n");
  }

  /** A join or leave to every member that asked for the room's frames, `peer` left out. */
  #presence(peer: Peer, event: Record<string, unknown>): void {
    const line = JSON.stringify(event) + "\n";
    for (const member of this.#members.values()) {
      if (member !== peer && (member.rooms || this.#flaws.presenceToCore)) member.send(line);
    }
  }

  #store(from: string, message: string): string {
    const time = formatWireTime(new Date());
    const seq = this.#flaws.seq ? this.#history.length + 1 : undefined;
    const line = encodeChatMessage({ from, message, time, seq });
    this.#history.push({ from, line });
    return line;
  }

  #post(sender: Peer | undefined, from: string, message: string): void {
    const line = this.#store(from, message);
    for (const member of this.#members.values()) {
      if (member !== sender || this.#flaws.echo) member.send(line);
    }
  }

  #leave(peer: Peer, reason: "quit" | "lost"): void {
    for (const [key, member] of this.#members) {
      if (member !== peer) continue;
      this.#members.delete(key);
      if (!this.#flaws.rooms) continue;
      const event: Record<string, unknown> = {
        event: "leave",
        nickname: peer.nickname,
        time: formatWireTime(new Date()),
      };
      if (!this.#flaws.leaveWithoutReason) event.reason = reason;
      this.#presence(peer, event);
    }
  }

  #error(peer: Peer, reason: string): void {
    peer.send(encodeStatus({ status: "error", reason }));
  }

  #drop(peer: Peer): void {
    this.#leave(peer, "lost");
    try {
      peer.conn.close();
    } catch {
      // Already closed.
    }
  }
}
