// What the user sees of a session, in the three ways the client runs:
//
// - terminal: chat lines, direct messages, presence lines and notices above
//   the input line (terminal.ts);
// - pipe: the same lines on stdout, without colour; notices on stderr as
//   `chat: …`;
// - `--json`: every frame received, as its own JSON line (presence events,
//   direct messages and the answers to commands included), and nothing
//   else on stdout.
//
// The answer to a command of §12–§13 shows as `***` lines (`registered
// bob`, the table of /bans); a refusal, or no answer, as a notice naming
// the command.
//
// Joins and leaves are folded in busy moments (presence_lines.ts); the fold
// is flushed before any other line, so nothing waits behind it and the
// order on screen is the order of events. `close` shows what is still
// folded and stops its timer.

import type { PresenceEvent } from "../protocol.ts";
import { sanitize } from "../terminal_text.ts";
import { formatWireTime } from "../time.ts";
import { safeJsonLine } from "./json_output.ts";
import { type CommandOutcome, okLines, type OpsCommand } from "./pending_commands.ts";
import { hereLine, PresenceFold } from "./presence_lines.ts";
import type { Transcript } from "./render.ts";
import { sortNames } from "./room.ts";
import type { SessionEvents, SessionStatus } from "./session_types.ts";
import type { TerminalUi } from "./terminal.ts";
import { REAL_TIMERS, type Timers } from "./timers.ts";

/** Options of a {@linkcode View}. */
export interface ViewOptions {
  /** The terminal, when a person is at one; otherwise stdout and stderr. */
  ui?: TerminalUi;
  /** `--json`: received frames as JSON lines, nothing else on stdout. */
  json: boolean;
  transcript: Transcript;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Our nickname now, for the lines of what we send. */
  nickname(): string;
  /** The status changed (the terminal's prompt shows it). */
  status?(status: SessionStatus): void;
  /** For the fold's window. @default REAL_TIMERS */
  timers?: Timers;
}

/**
 * The screen (or stdout) of one client run.
 *
 * @example
 * ```ts
 * import { Transcript } from "./render.ts";
 *
 * const view = new View({
 *   json: false,
 *   transcript: new Transcript({ color: false }),
 *   stdout: (text) => console.log(text),
 *   stderr: (text) => console.error(text),
 *   nickname: () => "bob",
 * });
 * view.events.presence({ type: "join", nickname: "carol", time: "" }, "", false); // *** carol joined
 * view.close();
 * ```
 */
export class View {
  readonly #options: ViewOptions;
  readonly #transcript: Transcript;
  readonly #fold: PresenceFold;
  /** The session's events, shown. */
  readonly events: SessionEvents;

  constructor(options: ViewOptions) {
    this.#options = options;
    this.#transcript = options.transcript;
    this.#fold = new PresenceFold({
      timers: options.timers ?? REAL_TIMERS,
      show: (text) => this.#write(this.#transcript.presence(text)),
    });
    const t = this.#transcript;
    this.events = {
      message: (message, line) => this.#show(line, () => t.message(message)),
      direct: (message, line) =>
        this.#show(
          line,
          () => t.direct({ from: message.from, message: message.message, time: message.time }),
        ),
      presence: (event, line, atLogin) => this.#presence(event, line, atLogin),
      answer: (command, line, outcome, frame) => this.#answer(command, line, outcome, frame),
      frame: (_frame, line) => {
        if (options.json) options.stdout(safeJsonLine(line) + "\n");
      },
      notice: (text) => this.notify(text),
      status: (status) => options.status?.(status),
      sent: (text, to) => this.#echo(text, to),
    };
  }

  /** A sentence for the user: a notice on the terminal, `chat: …` on stderr otherwise. */
  notify(text: string): void {
    const { ui } = this.#options;
    this.#fold.flush();
    if (ui) ui.print(this.#transcript.notice(text));
    else this.#options.stderr(`chat: ${sanitize(text)}\n`);
  }

  /** Shows what is still folded and stops the fold's timer. */
  close(): void {
    this.#fold.stop();
  }

  /** Our message went out: shown as it will look to others (never in `--json`). */
  #echo(text: string, to: string | undefined): void {
    if (this.#options.json) return;
    const shown = {
      from: this.#options.nickname(),
      message: text,
      time: formatWireTime(new Date()),
    };
    this.#fold.flush();
    this.#write(
      to === undefined
        ? this.#transcript.message(shown)
        : this.#transcript.direct({ ...shown, to }),
    );
  }

  #answer(command: OpsCommand, line: string, outcome: CommandOutcome, frame?: string): void {
    if (this.#options.json && frame !== undefined) this.#options.stdout(safeJsonLine(frame) + "\n");
    const problem = commandProblem(outcome);
    if (problem !== undefined) {
      this.notify(`${line.trim()}: ${problem}`);
    } else if (!this.#options.json && outcome.kind === "answered") {
      this.#fold.flush();
      const lines = okLines(command, outcome.frame, this.#options.nickname());
      this.#write(lines.flatMap((text) => this.#transcript.presence(text)));
    }
  }

  #presence(event: PresenceEvent, line: string, atLogin: boolean): void {
    if (this.#options.json) {
      this.#options.stdout(safeJsonLine(line) + "\n");
    } else if (event.type === "who") {
      // At login a summary (cut when long); as the answer to /who, everyone.
      this.#fold.flush();
      this.#write(this.#transcript.presence(hereLine(sortNames(event.nicknames), atLogin)));
    } else {
      this.#fold.add(event);
    }
  }

  /** A received frame: its JSON line with `--json`, else its display lines. */
  #show(line: string, lines: () => string[]): void {
    if (this.#options.json) {
      this.#options.stdout(safeJsonLine(line) + "\n");
      return;
    }
    this.#fold.flush();
    this.#write(lines());
  }

  #write(lines: string[]): void {
    if (this.#options.ui) this.#options.ui.print(lines);
    else this.#options.stdout(lines.join("\n") + "\n");
  }
}

/**
 * Why a command did not do what it said, as a sentence (`refused: not an
 * operator`), or undefined when the server said ok.
 */
export function commandProblem(outcome: CommandOutcome): string | undefined {
  if (outcome.kind === "failed") return outcome.reason;
  if (outcome.frame.status === "ok") return undefined;
  return `refused: ${outcome.frame.reason ?? "no reason given"}`;
}
