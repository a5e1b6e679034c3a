// The interactive terminal: one input line at the bottom, driven by
// node:readline (line editing, history), with chat lines printed above it.
//
// Printing while the user types must not scramble the input: we erase the
// input area (prompt and partial line, however many rows it wraps to), print,
// and let readline redraw the prompt with the partial line and the cursor
// where they were. The submitted line is erased too, because the chat shows
// it again as a proper chat line. Questions (nickname, address, trust) use
// the same input line, so there is never a second reader on the terminal.
// Tab asks the handlers for completions (completion.ts), never in a question.

import readline from "node:readline";
import type { Readable, Writable } from "node:stream";

/** Lines kept in the input history (Up/Down). */
export const HISTORY_LIMIT = 500;

/** Options of a {@linkcode TerminalUi}. */
export interface TerminalOptions {
  /** The terminal's input (a TTY stream: raw mode and keypress events). */
  input: Readable;
  /** The terminal's output. */
  output: Writable;
}

/** Handlers for what the user does. */
export interface TerminalHandlers {
  /** A submitted line (not an answer to a question). */
  line(text: string): void;
  /** Ctrl-C, or Ctrl-D on an empty line. */
  quit(): void;
  /** Tab: the completions of the text before the cursor, and the text they replace. */
  complete?(line: string): [string[], string];
}

/**
 * The readline-driven screen. Create it once, set handlers, then print and
 * ask; {@linkcode close} restores the terminal.
 */
export class TerminalUi {
  readonly #rl: readline.Interface;
  readonly #output: Writable;
  readonly #input: Readable;
  #handlers: TerminalHandlers = { line: () => {}, quit: () => {} };
  #prompt = "> ";
  #asking:
    | { prompt: string; draft: string; resolve(answer: string | undefined): void }
    | undefined;
  /** Rows the input occupied when Enter was pressed (erased after readline's newline). */
  #submittedRows = 1;
  #closed = false;

  constructor(options: TerminalOptions) {
    this.#output = options.output;
    this.#input = options.input;
    this.#rl = readline.createInterface({
      input: options.input,
      output: options.output,
      terminal: true,
      historySize: HISTORY_LIMIT,
      removeHistoryDuplicates: true,
      prompt: this.#prompt,
      completer: (line: string): [string[], string] =>
        this.#asking || !this.#handlers.complete ? [[], line] : this.#handlers.complete(line),
    });
    // Runs before readline handles the key, while the line is still on screen.
    options.input.prependListener("keypress", this.#beforeKey);
    this.#rl.on("line", (text) => this.#onLine(text));
    this.#rl.on("SIGINT", () => {
      if (!this.#closed) this.#quit();
    });
    this.#rl.on("close", () => {
      // Ctrl-D on an empty line, or the input ended: readline has closed itself.
      const wasOpen = !this.#closed;
      this.#closed = true;
      if (!wasOpen) return;
      // As close() does for /quit and Ctrl-C: the prompt row goes, so what
      // follows (the shell's prompt) starts on a clean row.
      this.#eraseRows(this.#rl.getCursorPos().rows + 1);
      this.#quit();
    });
  }

  /** Sets what happens on a submitted line and on Ctrl-C/Ctrl-D. */
  setHandlers(handlers: TerminalHandlers): void {
    this.#handlers = handlers;
  }

  /** Starts showing the prompt. */
  start(): void {
    this.#rl.prompt();
  }

  /** Sets the prompt (it carries the status); redraws it unless a question is open. */
  setPrompt(prompt: string): void {
    this.#prompt = prompt;
    if (this.#asking || this.#closed) return;
    this.#rl.setPrompt(prompt);
    this.#rl.prompt(true);
  }

  /** Prints lines above the input line, keeping what the user is typing intact. */
  print(lines: string[]): void {
    if (lines.length === 0) return;
    const text = lines.join("\n") + "\n";
    if (this.#closed) {
      this.#output.write(text);
      return;
    }
    this.#eraseRows(this.#rl.getCursorPos().rows + 1);
    this.#output.write(text);
    this.#redraw();
  }

  /**
   * Asks a question on the input line; every line but the last of
   * `question` is printed above it. Resolves with the answer, or undefined
   * when the user pressed Ctrl-C or Ctrl-D (the quit handler runs too).
   */
  ask(question: string): Promise<string | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    this.#asking?.resolve(undefined);
    const lines = question.split("\n");
    const prompt = lines.pop() ?? "";
    this.print(lines);
    // A half-typed chat line is set aside while the question is open, and put back after.
    const draft = this.#rl.line;
    this.#rl.write(null, { ctrl: true, name: "e" });
    this.#rl.write(null, { ctrl: true, name: "u" });
    return new Promise((resolve) => {
      this.#asking = { prompt, draft, resolve };
      this.#rl.setPrompt(prompt);
      this.#rl.prompt();
    });
  }

  /** Restores the terminal (leaves raw mode); the prompt line is cleared. */
  close(): void {
    if (!this.#closed) {
      this.#eraseRows(this.#rl.getCursorPos().rows + 1);
      this.#closed = true;
      this.#rl.close();
    }
    this.#input.removeListener("keypress", this.#beforeKey);
    this.#asking?.resolve(undefined);
    this.#asking = undefined;
    this.#input.pause();
  }

  #beforeKey = (_text: string | undefined, key: { name?: string } | undefined): void => {
    if (key?.name !== "return" && key?.name !== "enter") return;
    // Where the end of the line is: readline moves there, then prints "\r\n".
    const rl = this.#rl as readline.Interface & { cursor: number };
    const saved = rl.cursor;
    rl.cursor = rl.line.length;
    this.#submittedRows = rl.getCursorPos().rows + 1;
    rl.cursor = saved;
  };

  #onLine(text: string): void {
    this.#eraseRows(this.#submittedRows, true);
    const asking = this.#asking;
    if (asking) {
      this.#asking = undefined;
      this.#forgetLast(text);
      this.#output.write(`${asking.prompt}${text}\n`);
      this.#rl.setPrompt(this.#prompt);
      this.#rl.prompt();
      if (asking.draft) this.#rl.write(asking.draft);
      asking.resolve(text);
      return;
    }
    this.#rl.prompt();
    this.#handlers.line(text);
  }

  #quit(): void {
    const asking = this.#asking;
    this.#asking = undefined;
    asking?.resolve(undefined);
    this.#handlers.quit();
  }

  /**
   * Clears `rows` rows ending at the cursor's row (or, `above`, the rows
   * just above the cursor, for a line readline has already ended).
   */
  #eraseRows(rows: number, above = false): void {
    const up = above ? rows : rows - 1;
    if (up > 0) readline.moveCursor(this.#output, 0, -up);
    readline.cursorTo(this.#output, 0);
    readline.clearScreenDown(this.#output);
  }

  /** Redraws prompt and partial line on the current (fresh) row. */
  #redraw(): void {
    // readline would first move up by the rows it drew last time; we already erased them.
    (this.#rl as unknown as { prevRows: number }).prevRows = 0;
    this.#rl.prompt(true);
  }

  /** Answers to questions do not belong in the chat's input history. */
  #forgetLast(text: string): void {
    const history = (this.#rl as unknown as { history?: string[] }).history;
    if (Array.isArray(history) && history[0] === text) history.shift();
  }
}
