// The server's event log: one line per connect, login, refusal, disconnect
// and error, with the peer's address. Plain text for people, JSON lines for
// machines. Message text is never logged.

import { escapeUnsafeJson } from "../terminal_text.ts";

/** The formats `--log-format` accepts. */
export const LOG_FORMATS = ["text", "json"] as const;
/** One of {@linkcode LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Values a log line may carry. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** Writes one event. */
export interface Logger {
  log(event: string, fields?: LogFields): void;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  format: LogFormat;
  /** Receives each complete line, "\n" included. */
  write: (line: string) => void;
  clock: () => Date;
}

/**
 * Creates a logger writing one line per event.
 *
 * @example
 * ```ts
 * const logger = createLogger({ format: "text", write: (l) => Deno.stderr.writeSync(new TextEncoder().encode(l)), clock: () => new Date() });
 * logger.log("login", { peer: "127.0.0.1:50000", nick: "bob" });
 * // 2026-11-27T16:41:44.000Z login peer=127.0.0.1:50000 nick=bob
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  const { format, clock } = options;
  // Logging is best effort: a closed stderr must never take the server down.
  const write = (line: string) => {
    try {
      options.write(line);
    } catch {
      // Nowhere left to say it.
    }
  };
  if (format === "json") {
    return {
      log(event, fields = {}) {
        write(safeJson({ time: clock().toISOString(), event, ...fields }) + "\n");
      },
    };
  }
  return {
    log(event, fields = {}) {
      let line = `${clock().toISOString()} ${event}`;
      for (const [key, value] of Object.entries(fields)) {
        if (value !== undefined) line += ` ${key}=${textValue(value)}`;
      }
      write(line + "\n");
    },
  };
}

/** A logger that drops everything (for tests and embedding). */
export const silentLogger: Logger = { log() {} };

/** Bare when safe, JSON-quoted when it has spaces, quotes or anything unusual. */
function textValue(value: string | number | boolean): string {
  const text = String(value);
  return /^[\w.:@\-\/\[\]]+$/.test(text) ? text : safeJson(text);
}

/**
 * JSON text with every character a peer could use to mislead whoever reads
 * the log in a terminal (JSON.stringify escapes only C0) escaped as \uXXXX.
 */
function safeJson(value: unknown): string {
  return escapeUnsafeJson(JSON.stringify(value));
}
