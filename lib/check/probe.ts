// The conformance probe's run: the per-run nicknames and markers, the
// connections a check opens (all closed when it ends, so the server gets its
// nicknames back), the waits a check makes, and the loop that runs the
// checks in order and turns each into a result.
//
// A check passes by returning a sentence, fails by throwing CheckFailure
// (the reason), and is skipped by throwing CheckSkip (an extension the
// server does not offer). These two are a check's verdict, reported as a
// row of the table and never seen by main.ts, so they stay here rather than
// among the run's error kinds (lib/errors.ts). Every wait ends: on the frame, on a closed
// connection, or at the deadline, so a broken server gives "no answer
// within 5 s" rather than a hang.

import { errorMessage } from "../errors.ts";
import { encodeLogin, encodeSend, type StatusFrame } from "../protocol.ts";
import { sanitize, truncate } from "../terminal_text.ts";
import type { PeerCertificate } from "../peer_certificate.ts";
import type { PemPair } from "../self_signed.ts";
import { type Frame, ProbeConn, seconds, type WaitResult } from "./conn.ts";

/** Whether a check is part of the core protocol (decides the exit code) or an extension. */
export type CheckKind = "core" | "extension";
/** What became of a check. */
export type Outcome = "pass" | "fail" | "skip";

/** One check of the probe. */
export interface Check {
  /** Short, stable name, printed and used in `--json`. */
  name: string;
  kind: CheckKind;
  /** Runs the check; resolves with what passed, throws CheckFailure or CheckSkip. */
  run(probe: Probe): Promise<string>;
}

/** The result of one check. */
export interface CheckResult {
  name: string;
  kind: CheckKind;
  outcome: Outcome;
  /** What passed, or why it failed or was skipped. Safe to print on a terminal. */
  detail: string;
}

/** A check found the server not doing what PROTOCOL.md says; the message is the reason. */
export class CheckFailure extends Error {
  override name = "CheckFailure";
}

/** The server does not offer an extension; the message says what is missing. */
export class CheckSkip extends Error {
  override name = "CheckSkip";
}

/** What a run needs: the target, trust, limits, and where results go. */
export interface ProbeOptions {
  host: string;
  port: number;
  /** Extra trusted certificates (PEM), `--ca`. */
  ca?: string[];
  /** The trust decision after each handshake (the client's TrustPolicy). */
  verify(peer: PeerCertificate): Promise<void>;
  /** The longest any single wait lasts (connect, an answer, a relayed message). */
  timeoutMs: number;
  /**
   * How long to listen for something that must not come, or for an answer
   * a server may not send (an extension's ack), after the traffic that
   * bounds it has arrived.
   */
  quietMs: number;
  /** Unique per run; random when absent. It goes into every nickname and message. */
  runId?: string;
  /** Aborted on Ctrl-C: the current wait ends, connections close, no further check runs. */
  signal?: AbortSignal;
  /** Called as each check finishes, for printing as we go. */
  onResult?(result: CheckResult): void;
}

/** The default for {@linkcode ProbeOptions.timeoutMs}. */
export const DEFAULT_TIMEOUT_MS = 5_000;
/** The default for {@linkcode ProbeOptions.quietMs}. */
export const DEFAULT_QUIET_MS = 500;
/** The name of the check that must pass for the others to run. */
export const LOGIN_CHECK = "login";

/** A logged-in connection and its nickname. */
export interface Client {
  conn: ProbeConn;
  nick: string;
}

/** The probe's state during one run, handed to every check. */
export class Probe {
  /** Eight hex digits, in every nickname (`check-RUN-N`) and message of this run. */
  readonly runId: string;
  readonly timeoutMs: number;
  readonly quietMs: number;
  readonly #options: ProbeOptions;
  readonly #open = new Set<ProbeConn>();
  #nicks = 0;
  #markers = 0;

  constructor(options: ProbeOptions) {
    this.#options = options;
    this.runId = options.runId ?? randomRunId();
    this.timeoutMs = options.timeoutMs;
    this.quietMs = options.quietMs;
  }

  /** The timeout as people read it: "5 s". */
  get within(): string {
    return `within ${seconds(this.timeoutMs)}`;
  }

  /** A nickname no one else uses: `check-RUN-N`. */
  nick(): string {
    return `check-${this.runId}-${++this.#nicks}`;
  }

  /** A message text no one else sends, naming the check for people reading along. */
  marker(label: string): string {
    return `chat check ${this.runId}: ${label} #${++this.#markers}`;
  }

  /** Whether a message concerns this run (anything else is dropped on arrival). */
  relevant(from: string, message: string): boolean {
    return message.includes(this.runId) || from.toLowerCase().includes(this.runId);
  }

  /**
   * Opens a TLS connection, trusted as the options say, presenting
   * `identity` (a client certificate, §12) if given; a failure fails the check.
   */
  async connect(identity?: PemPair): Promise<ProbeConn> {
    const o = this.#options;
    let conn: ProbeConn;
    try {
      conn = await ProbeConn.open({
        host: o.host,
        port: o.port,
        ca: o.ca,
        timeoutMs: o.timeoutMs,
        verify: o.verify,
        cert: identity?.certPem,
        key: identity?.keyPem,
        relevant: (from, message) => this.relevant(from, message),
        signal: o.signal,
      });
    } catch (error) {
      throw new CheckFailure(`cannot connect: ${errorMessage(error)}`);
    }
    this.#open.add(conn);
    return conn;
  }

  /** Connects and logs in with a fresh nickname; anything but ok fails the check. */
  async login(): Promise<Client> {
    const conn = await this.connect();
    const nick = this.nick();
    const answer = await this.loginAnswer(conn, nick);
    if (answer.status !== "ok") {
      throw new CheckFailure(`the login as ${nick} was refused${reasonOf(answer)}`);
    }
    return { conn, nick };
  }

  /**
   * Sends a login (optionally with `since` or `features`, optionally ending
   * in "\r\n") and returns the answer.
   */
  async loginAnswer(
    conn: ProbeConn,
    nick: string,
    options: { since?: number; features?: string[]; before?: string; crlf?: boolean } = {},
  ): Promise<StatusFrame> {
    let frame = encodeLogin(nick, options.since, options.features);
    if (options.crlf) frame = frame.replace(/\n$/, "\r\n");
    await conn.write((options.before ?? "") + frame);
    return this.status(conn, `the login as ${show(nick)}`);
  }

  /** The next status frame on `conn`, the answer to `what`; none fails the check. */
  async status(conn: ProbeConn, what: string): Promise<StatusFrame> {
    const result = await conn.next((f) => f.type === "status", this.timeoutMs);
    if (result.ok && result.frame.type === "status") return result.frame;
    throw new CheckFailure(`${this.#noAnswer(result)} to ${what}`);
  }

  /** Sends `text` as a message from `client`. */
  async send(client: Client, text: string): Promise<void> {
    await client.conn.write(encodeSend(text));
  }

  /**
   * Waits until `receiver` gets the message `text`; fails the check when it
   * does not, saying what was expected. The sender is not checked here.
   */
  async receive(
    receiver: Client,
    text: string,
    what: string,
  ): Promise<Frame & { type: "message" }> {
    const result = await receiver.conn.next(
      (f) => f.type === "message" && f.message === text,
      this.timeoutMs,
    );
    if (result.ok && result.frame.type === "message") return result.frame;
    throw new CheckFailure(`${receiver.nick} ${this.#noMessage(result)} ${what}`);
  }

  /** Waits up to `quietMs` for a frame that should not come; returns it when it does. */
  async unwanted(conn: ProbeConn, match: (f: Frame) => boolean): Promise<Frame | undefined> {
    const result = await conn.next(match, this.quietMs);
    return result.ok ? result.frame : undefined;
  }

  /** Closes every connection the current check opened, politely. */
  async closeAll(): Promise<void> {
    const conns = [...this.#open];
    this.#open.clear();
    await Promise.all(conns.map((conn) => conn.close()));
  }

  /** Closes one connection now (to free its nickname before the check goes on). */
  async close(conn: ProbeConn): Promise<void> {
    this.#open.delete(conn);
    await conn.close();
  }

  #noAnswer(result: WaitResult): string {
    if (result.ok) return "an unexpected frame";
    if (result.why === "timeout") return `no answer ${this.within}`;
    return `the connection ended (${result.reason}) with no answer`;
  }

  #noMessage(result: WaitResult): string {
    if (result.ok) return "got an unexpected frame instead of";
    if (result.why === "timeout") return `did not receive, ${this.within},`;
    return `lost its connection (${result.reason}) before receiving`;
  }
}

/**
 * Runs `checks` in order against the server and returns their results. When
 * the login check fails, the others are not run (skipped, saying why); when
 * `signal` is aborted, the run stops after closing the current check's
 * connections.
 */
export async function runChecks(checks: Check[], options: ProbeOptions): Promise<CheckResult[]> {
  const probe = new Probe(options);
  const results: CheckResult[] = [];
  let blocked: string | undefined;
  for (const check of checks) {
    if (options.signal?.aborted) break;
    let result: CheckResult;
    if (blocked !== undefined) {
      result = { name: check.name, kind: check.kind, outcome: "skip", detail: blocked };
    } else {
      result = await runOne(check, probe);
      if (check.name === LOGIN_CHECK && result.outcome !== "pass") {
        blocked = `not run: the ${LOGIN_CHECK} check failed`;
      }
    }
    if (options.signal?.aborted) break; // Its waits were cut short: not a result.
    results.push(result);
    options.onResult?.(result);
  }
  return results;
}

async function runOne(check: Check, probe: Probe): Promise<CheckResult> {
  const { name, kind } = check;
  try {
    const detail = await check.run(probe);
    return { name, kind, outcome: "pass", detail: clean(detail) };
  } catch (error) {
    if (error instanceof CheckSkip) {
      return { name, kind, outcome: "skip", detail: clean(error.message) };
    }
    return { name, kind, outcome: "fail", detail: clean(errorMessage(error)) };
  } finally {
    await probe.closeAll();
  }
}

/** `: "reason"` from a status frame that has one, shown safely; empty otherwise. */
export function reasonOf(frame: StatusFrame): string {
  return frame.reason === undefined ? "" : ` (${show(frame.reason)})`;
}

/** A value from or for the server, quoted and made safe to print. */
export function show(text: string): string {
  return JSON.stringify(truncate(text, 60));
}

/** Whether a frame is a status frame (for {@linkcode ProbeConn.next} and `seen`). */
export const isStatus = (f: Frame): boolean => f.type === "status";
/** Whether a frame is a message. */
export const isMessage = (f: Frame): boolean => f.type === "message";
/** A test for the message whose text is `text`. */
export const withText = (text: string) => (f: Frame): boolean =>
  f.type === "message" && f.message === text;

function clean(text: string): string {
  return text.split("\n").map(sanitize).join(" ");
}

/** Eight random hex digits: a run id no other run will share. */
export function randomRunId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
