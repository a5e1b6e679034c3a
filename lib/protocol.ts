// The frames of PROTOCOL.md, typed, and the only place that sees raw JSON.
//
// Decoding turns one line of text into a typed frame or a FrameError whose
// reason is the sentence that goes on the wire. Encoding turns a frame into
// exactly one line ending in "\n" with no raw line break or control character
// inside (JSON.stringify escapes only C0, so DEL, C1 such as NEL and the
// U+2028/U+2029 separators are escaped here), and no lone surrogate, which
// strict JSON parsers refuse. Unknown fields are ignored everywhere (rule
// zero: tolerant in what we receive), but a peer's value is used only once
// its type is checked: nothing a peer sends is ever coerced (an object with
// a `toString` of its own would throw, or say whatever it likes).

import { concatBytes } from "./bytes.ts";
import {
  decodeBans,
  decodeOpsCommand,
  OPS_COMMANDS,
  type OpsFrame,
  type WireBan,
} from "./ops_frames.ts";

export { utf8Length } from "./bytes.ts";
export { checkMessageText, DEFAULT_MAX_MESSAGE_BYTES } from "./message_text.ts";

const textEncoder = new TextEncoder();

/**
 * The extensions a login may ask for (§9) that this code speaks, by name:
 * presence (§10), direct messages (§11), `heartbeat`, ours beyond
 * PROTOCOL.md (a client that heartbeats and then falls silent is cut as
 * gone), identity (§12) and operators (§13; their commands: ops_frames.ts).
 */
export const FEATURES = ["presence", "direct", "heartbeat", "identity", "ops"] as const;

/** One of {@linkcode FEATURES}. */
export type Feature = typeof FEATURES[number];

/** `{"command":"login","nickname":…}`, with the `since` (§8) and `features` (§9) extensions. */
export interface LoginFrame {
  type: "login";
  nickname: string;
  /** Replay only messages with `seq` greater than this. */
  since?: number;
  /**
   * The features asked for (§9), strings only, unknown names kept;
   * undefined for a core login (no `features` field).
   */
  features?: string[];
}

/** `{"message":…}` from a client, with the `id` (§8) and `to` (§11) extensions. */
export interface SendFrame {
  type: "send";
  message: string;
  id?: string;
  /** A direct message's recipient (§11); undefined for a public message. */
  to?: string;
}

/** `{"command":"who"}` (§10). */
export interface WhoFrame {
  type: "who";
}

/** What a client may send. */
export type ClientFrame = LoginFrame | SendFrame | WhoFrame | OpsFrame;

/** Why someone left (§10). */
export type LeaveReason = "quit" | "lost" | "kicked" | "banned";

/** A direct message as the server sends it (§11): never stored, no `seq`. */
export interface DirectMessage {
  from: string;
  to: string;
  message: string;
  time: string;
}

/** A stored chat message as the server sends it (§5). */
export interface ChatMessage {
  from: string;
  message: string;
  time: string;
  /** The server's sequence number (§8); absent from core-only servers. */
  seq?: number;
}

/** A command response, ack or error (§2, §6, §8), or the list of bans (§13). */
export interface StatusFrame {
  status: "ok" | "error";
  reason?: string;
  id?: string;
  /** In the `ok` to a login that asked for features: every feature the server speaks (§9). */
  features?: string[];
  /** In the answer to `{"command":"bans"}` (§13; ops_frames.ts). */
  bans?: WireBan[];
}

/**
 * A presence event (§10), sent only to a login that asked for features:
 * who is here (after the replay, and as the answer to the `who` command),
 * someone came, someone went.
 */
export type PresenceEvent =
  | { type: "who"; nicknames: string[] }
  | { type: "join"; nickname: string; time: string }
  | { type: "leave"; nickname: string; time: string; reason?: string };

/** What a server may send, as a client understands it. */
export type ServerFrame =
  | ({ type: "message" } & ChatMessage)
  | ({ type: "direct" } & DirectMessage)
  | ({ type: "status" } & StatusFrame)
  | PresenceEvent
  | { type: "unknown"; value: Record<string, unknown> };

/** A frame that could not be accepted, and why (the wire reason). */
export interface FrameError {
  type: "error";
  reason: string;
  /** The `id` of a rejected message, when it had a usable one. */
  id?: string;
  /**
   * What the frame was trying to be, when it was a JSON object: a login, a
   * message, or something else (an unknown command, no known field).
   * Undefined when it was not a JSON object at all.
   */
  of?: "login" | "message" | "other";
}

/** The longest `id` a message may carry (§8). */
export const MAX_ID_LENGTH = 64;

/**
 * Our server's refusal of a frame it could not store (a failing disk, Redis
 * out of reach): nothing was stored, and our client sends it again later.
 */
export const STORAGE_UNAVAILABLE = "storage unavailable";

/**
 * Decodes one line from a client.
 *
 * @example
 * ```ts
 * decodeClientFrame('{"command":"login","nickname":"bob"}'); // { type: "login", nickname: "bob" }
 * decodeClientFrame("[1]"); // { type: "error", reason: "frame must be a JSON object" }
 * ```
 */
export function decodeClientFrame(line: string): ClientFrame | FrameError {
  const value = parseObject(line);
  if (value.type === "error") return value;
  const frame = value.object;
  if ("command" in frame) {
    const command = frame.command;
    if (typeof command !== "string") return fail("command must be a string", undefined, "other");
    if (command === "who") return { type: "who" };
    if (OPS_COMMANDS.includes(command)) return decodeOpsCommand(command, frame);
    if (command !== "login") return fail(`unknown command ${quote(command)}`, undefined, "other");
    return decodeLogin(frame);
  }
  if ("message" in frame) {
    let id: string | undefined;
    if (frame.id !== undefined && frame.id !== null) {
      if (typeof frame.id !== "string") return fail("id must be a string", undefined, "message");
      if (frame.id.length > MAX_ID_LENGTH && [...frame.id].length > MAX_ID_LENGTH) {
        return fail(`id must be at most ${MAX_ID_LENGTH} characters`, undefined, "message");
      }
      // The id comes back in the ack: one we could not send as it is is refused, not echoed.
      if (!frame.id.isWellFormed()) return fail("id must be valid Unicode", undefined, "message");
      id = frame.id;
    }
    if (typeof frame.message !== "string") return fail("message must be a string", id, "message");
    const send: SendFrame = { type: "send", message: frame.message };
    if (id !== undefined) send.id = id;
    if (frame.to !== undefined && frame.to !== null) {
      // Refused rather than ignored: a `to` that is dropped would make a
      // private word public (§11).
      if (typeof frame.to !== "string") return fail("to must be a string", id, "message");
      send.to = frame.to;
    }
    return send;
  }
  return fail('frame must have "command" or "message"', undefined, "other");
}

function decodeLogin(frame: Record<string, unknown>): LoginFrame | FrameError {
  if (typeof frame.nickname !== "string") {
    return fail("nickname must be a string", undefined, "login");
  }
  const login: LoginFrame = { type: "login", nickname: frame.nickname };
  if (frame.since !== undefined && frame.since !== null) {
    const since = frame.since;
    if (typeof since !== "number" || !Number.isSafeInteger(since) || since < 0) {
      return fail("since must be a non-negative integer", undefined, "login");
    }
    login.since = since;
  }
  if (frame.features !== undefined && frame.features !== null) {
    if (!Array.isArray(frame.features)) {
      return fail("features must be a list of names", undefined, "login");
    }
    // Names that are not strings are ignored, like unknown ones (§9).
    login.features = frame.features.filter((name): name is string => typeof name === "string");
  }
  return login;
}

/**
 * Decodes one line from a server. Tolerant: a frame we do not recognise is
 * `unknown` rather than an error, a malformed `seq` is dropped, and so are
 * the entries of a list (`features`, `nicknames`) that are not strings.
 */
export function decodeServerFrame(line: string): ServerFrame | FrameError {
  const value = parseObject(line);
  if (value.type === "error") return value;
  const frame = value.object;
  if (typeof frame.message === "string" && "from" in frame) {
    // The speaker is what makes a chat line mean anything, and only the
    // server sets it (§5). A `from` that is not a string is refused rather
    // than turned into one: String() throws for {"toString":1}, and any
    // stand-in ("?", "42", "[object Object]") could be somebody's nickname,
    // so showing the text under it would put words in their mouth.
    if (typeof frame.from !== "string") return fail("from must be a string", undefined, "message");
    const time = typeof frame.time === "string" ? frame.time : "";
    if (frame.to !== undefined && frame.to !== null) {
      // A direct message (§11). One whose recipient is not a string is
      // refused like a bad `from`: shown as public, a private word would
      // look like one said to everybody.
      if (typeof frame.to !== "string") return fail("to must be a string", undefined, "message");
      return { type: "direct", from: frame.from, to: frame.to, message: frame.message, time };
    }
    const message: ServerFrame = {
      type: "message",
      from: frame.from,
      message: frame.message,
      time,
    };
    if (typeof frame.seq === "number" && Number.isSafeInteger(frame.seq) && frame.seq > 0) {
      message.seq = frame.seq;
    }
    return message;
  }
  if (frame.status === "ok" || frame.status === "error") {
    const status: ServerFrame = { type: "status", status: frame.status };
    if (typeof frame.reason === "string") status.reason = frame.reason;
    if (typeof frame.id === "string") status.id = frame.id;
    if (Array.isArray(frame.features)) status.features = strings(frame.features);
    if (Array.isArray(frame.bans)) status.bans = decodeBans(frame.bans);
    return status;
  }
  if (typeof frame.event === "string") return decodeEvent(frame.event, frame);
  return { type: "unknown", value: frame };
}

/** A presence event (§10); an event of another name is `unknown`. */
function decodeEvent(event: string, frame: Record<string, unknown>): ServerFrame | FrameError {
  if (event === "who") {
    if (!Array.isArray(frame.nicknames)) return fail("a who event must list nicknames");
    return { type: "who", nicknames: strings(frame.nicknames) };
  }
  if (event !== "join" && event !== "leave") return { type: "unknown", value: frame };
  if (typeof frame.nickname !== "string") return fail(`a ${event} event must name a nickname`);
  const time = typeof frame.time === "string" ? frame.time : "";
  if (event === "join") return { type: "join", nickname: frame.nickname, time };
  const leave: PresenceEvent = { type: "leave", nickname: frame.nickname, time };
  if (typeof frame.reason === "string") leave.reason = frame.reason;
  return leave;
}

/** The strings of a peer's list, in order; anything else in it is dropped (§9: tolerant). */
function strings(list: unknown[]): string[] {
  return list.filter((entry): entry is string => typeof entry === "string");
}

/** `{"command":"login",…}` as one line, with `since` (§8) and `features` (§9) when given. */
export function encodeLogin(
  nickname: string,
  since?: number,
  features?: readonly string[],
): string {
  const frame: Record<string, unknown> = { command: "login", nickname };
  if (since !== undefined) frame.since = since;
  if (features !== undefined) frame.features = features;
  return line(frame);
}

/** `{"message":…}` from a client, as one line. */
export function encodeSend(message: string, id?: string): string {
  return line(id === undefined ? { message } : { message, id });
}

/**
 * A direct message (§11) from a client, `{"message":…,"to":…}`, as one
 * line. Only for a server that listed `direct`: a core server would relay
 * it to everybody.
 */
export function encodeDirectSend(to: string, message: string, id?: string): string {
  return line(id === undefined ? { message, to } : { message, to, id });
}

/** A command after login, `{"command":"who"}` (§10) or `{"command":"kick",…}` (§13), as one line. */
export function encodeCommand(command: string, fields: Record<string, unknown> = {}): string {
  return line({ command, ...fields });
}

/** A status frame as one line, fields in the protocol's order. */
export function encodeStatus(frame: StatusFrame): string {
  const out: Record<string, unknown> = { status: frame.status };
  if (frame.id !== undefined) out.id = frame.id;
  if (frame.reason !== undefined) out.reason = frame.reason;
  if (frame.bans !== undefined) out.bans = frame.bans;
  return line(out);
}

/** `{"status":"ok","features":[…]}`: the answer to a login that asked for features (§9). */
export function encodeFeaturesOk(features: readonly string[]): string {
  return line({ status: "ok", features });
}

/** `{"event":"who","nicknames":[…]}` (§10), as one line. */
export function encodeWho(nicknames: readonly string[]): string {
  return line({ event: "who", nicknames });
}

/**
 * A run of a `who` event's nicknames, encoded (UTF-8, comma-separated) for
 * {@linkcode encodeWhoOf}: a long roster keeps its runs encoded and
 * re-encodes only the run that changed.
 */
export function encodeNicknameRun(nicknames: readonly string[]): Uint8Array {
  return textEncoder.encode(escapeJson(JSON.stringify(nicknames)).slice(1, -1));
}

const WHO_HEAD = textEncoder.encode('{"event":"who","nicknames":[');
const WHO_TAIL = textEncoder.encode("]}\n");
const COMMA = textEncoder.encode(",");

/**
 * The `who` event (§10) of the nicknames in `runs` (each from
 * {@linkcode encodeNicknameRun}; empty runs are skipped), as one line's
 * bytes: the same bytes as {@linkcode encodeWho} of them all.
 */
export function encodeWhoOf(runs: readonly Uint8Array[]): Uint8Array {
  const pieces: Uint8Array[] = [WHO_HEAD];
  for (const run of runs) {
    if (run.length === 0) continue;
    if (pieces.length > 1) pieces.push(COMMA);
    pieces.push(run);
  }
  pieces.push(WHO_TAIL);
  return concatBytes(pieces);
}

/** `{"event":"join",…}` (§10), as one line. */
export function encodeJoin(nickname: string, time: string): string {
  return line({ event: "join", nickname, time });
}

/** `{"event":"leave",…}` (§10), as one line. */
export function encodeLeave(nickname: string, time: string, reason: LeaveReason): string {
  return line({ event: "leave", nickname, time, reason });
}

/** A direct message as the server sends it (§11), as one line. */
export function encodeDirect(message: DirectMessage): string {
  return line({ from: message.from, to: message.to, message: message.message, time: message.time });
}

/** A chat message as the server sends it, as one line. */
export function encodeChatMessage(message: ChatMessage): string {
  const out: Record<string, unknown> = {
    from: message.from,
    message: message.message,
    time: message.time,
  };
  if (message.seq !== undefined) out.seq = message.seq;
  return line(out);
}

/** What JSON.stringify leaves raw but a line reader or a terminal may act on. */
const UNESCAPED_BREAKS = /[\u007f-\u009f\u2028\u2029]/g;

/**
 * A lone surrogate as JSON.stringify writes it (`\udXXX`; it leaves pairs
 * raw), after an even number of backslashes, so that text which only looks
 * like an escape (`\\ud800`) is left alone.
 */
const LONE_SURROGATE_ESCAPE = /(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/g;

function line(frame: Record<string, unknown>): string {
  return escapeJson(JSON.stringify(frame)) + "\n";
}

/** JSON text with what JSON.stringify leaves raw escaped (see the top of this file). */
function escapeJson(json: string): string {
  // Nothing we accept holds a lone surrogate (nicknames, texts and ids are
  // checked), so this is the last guard, for text we make ourselves: U+FFFD
  // rather than a frame a strict parser refuses. The search is a fast scan.
  if (json.includes("\\ud")) json = json.replace(LONE_SURROGATE_ESCAPE, "$1\\ufffd");
  return json.replace(
    UNESCAPED_BREAKS,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function parseObject(
  text: string,
): { type: "object"; object: Record<string, unknown> } | FrameError {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail("malformed JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail("frame must be a JSON object");
  }
  return { type: "object", object: value as Record<string, unknown> };
}

function fail(reason: string, id?: string, of?: FrameError["of"]): FrameError {
  const error: FrameError = { type: "error", reason };
  if (id !== undefined) error.id = id;
  if (of !== undefined) error.of = of;
  return error;
}

/** The most UTF-16 units of a peer's value quoted in an error sentence. */
const QUOTE_UNITS = 40;

/**
 * Quotes a peer's value for an error sentence, cut short so a reply stays
 * small: never inside a surrogate pair, and with any lone surrogate the peer
 * sent shown as U+FFFD, so the sentence is valid Unicode.
 */
function quote(value: string): string {
  let cut = value;
  if (value.length > QUOTE_UNITS) {
    const last = value.charCodeAt(QUOTE_UNITS - 1);
    const end = last >= 0xd800 && last <= 0xdbff ? QUOTE_UNITS - 1 : QUOTE_UNITS;
    cut = `${value.slice(0, end)}…`;
  }
  return JSON.stringify(cut.toWellFormed());
}
