// The session's contract with whoever runs it (lib/client/cli.ts, the
// tests): the options it is made with, the events it reports (messages to
// show, notices, status changes) and the status the prompt shows. The
// session itself (session.ts) never touches the terminal.

import type { ChatMessage, DirectMessage, PresenceEvent, ServerFrame } from "../protocol.ts";
import type { Link, LinkSink } from "./connect.ts";
import type { CommandOutcome, OpsCommand } from "./pending_commands.ts";
import type { Timers } from "./timers.ts";

/** Where the session is. */
export type Phase = "connecting" | "logging-in" | "online" | "waiting" | "closed";

/** What the status line shows. */
export interface SessionStatus {
  phase: Phase;
  nickname: string;
  /** With phase "waiting": the clock time of the next attempt. */
  retryAt?: number;
  /** Typed messages not yet sent. */
  queued: number;
  /** Messages sent and not yet confirmed (only counted once the server has acked one). */
  unconfirmed: number;
}

/** What the session reports to whoever shows it. */
export interface SessionEvents {
  /** A received message to show (duplicates from a replay are already left out). */
  message(message: ChatMessage, line: string): void;
  /** A direct message to us (§11), from a server that listed `direct`. */
  direct(message: DirectMessage, line: string): void;
  /**
   * A presence event (§10) as received; `atLogin`: the `who` after the
   * login's replay (any other `who` answers the command).
   */
  presence(event: PresenceEvent, line: string, atLogin: boolean): void;
  /**
   * What became of a command of §12–§13 typed as `line`: the server's
   * answer (`frame`: its line as received), or why it got none.
   */
  answer(command: OpsCommand, line: string, outcome: CommandOutcome, frame?: string): void;
  /** Any other frame as received (status, ack, unknown), after the session handled it. */
  frame(frame: ServerFrame, line: string): void;
  /** A sentence for the user; may quote server text (the view sanitises it). */
  notice(text: string): void;
  /** The status changed. */
  status(status: SessionStatus): void;
  /** One of our messages went out for the first time (the moment to echo it); `to` for a direct one. */
  sent(text: string, to?: string): void;
}

/** Options of a {@linkcode Session}. */
export interface SessionOptions {
  nickname: string;
  /** The server as the user knows it (`host:port`), for notices. */
  label: string;
  /** Opens a trusted connection whose lines go to the sink. */
  dial(sink: LinkSink): Promise<Link>;
  events: SessionEvents;
  /**
   * True when a person is at a terminal: a refused login asks for another
   * nickname (via `chooseNickname`), no login deadline applies, and a
   * connection lost before the first login is retried too.
   */
  interactive: boolean;
  /** Asks for another nickname after a refused login; undefined means leave. */
  chooseNickname?(reason: string): Promise<string | undefined>;
  /** @default REAL_TIMERS */
  timers?: Timers;
  /** Uniform in [0, 1), for jitter and ids. @default Math.random */
  random?: () => number;
  /** A blank line goes out after this long without sending. @default HEARTBEAT_MS */
  heartbeatMs?: number;
}
