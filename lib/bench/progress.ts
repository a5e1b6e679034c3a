// The live progress line `chat bench` shows on a terminal: one line,
// redrawn in place, cleared before the result is printed.

import type { Progress } from "./load.ts";

/** Erases the current terminal line and returns the cursor to its start. */
const CLEAR_LINE = "\r\x1b[2K";

/**
 * The progress of a run as one short line.
 *
 * @example
 * ```ts
 * formatProgress({ phase: "sending", clients: 100, loggedIn: 100, sent: 500, toSend: 2000,
 *   delivered: 49500, expected: 198000, sendingUs: 500_000 });
 * // "sending     100/100 logged in  sent 500/2000  delivered 49500/198000 (25 %)  99000/s"
 * ```
 */
export function formatProgress(progress: Progress): string {
  const parts = [
    progress.phase.padEnd(10),
    `${progress.loggedIn}/${progress.clients} logged in`,
  ];
  if (progress.phase !== "connecting" && progress.phase !== "barrier") {
    parts.push(`sent ${progress.sent}/${progress.toSend}`);
    const percent = progress.expected === 0
      ? 100
      : Math.floor((progress.delivered / progress.expected) * 100);
    parts.push(`delivered ${progress.delivered}/${progress.expected} (${percent} %)`);
    if (progress.sendingUs > 0) {
      parts.push(`${Math.round(progress.delivered / (progress.sendingUs / 1e6))}/s`);
    }
  }
  return parts.join("  ");
}

/**
 * Draws progress on a terminal, at most once per call, always on the same
 * line; `clear()` leaves the line empty for what comes next.
 */
export class ProgressLine {
  readonly #write: (text: string) => void;
  #drawn = false;

  constructor(write: (text: string) => void) {
    this.#write = write;
  }

  /** Redraws the line with `progress`. */
  show(progress: Progress): void {
    this.#write(`${CLEAR_LINE}${formatProgress(progress)}`);
    this.#drawn = true;
  }

  /** Erases the line, if anything was drawn. */
  clear(): void {
    if (this.#drawn) this.#write(CLEAR_LINE);
    this.#drawn = false;
  }
}
