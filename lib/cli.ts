// What every subcommand's command line shares: flag parsing and the context
// main.ts hands in. A wrong command line is a UsageError (lib/errors.ts).
//
// Flag parsing uses node:util's parseArgs in place of @std/cli (JSR is out
// of reach here); this file is the only one that imports it, so going back
// to @std/cli is a change to this file alone.

import { parseArgs } from "node:util";
import type { Readable, Writable } from "node:stream";
import { errorLine, UsageError } from "./errors.ts";

/** What main.ts gives a subcommand: its world, injected. */
export interface CliContext {
  /** Reads an environment variable (undefined when unset or not permitted). */
  env(name: string): string | undefined;
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Aborted on SIGINT/SIGTERM (for subcommands that run until stopped). */
  signal: AbortSignal;
  /**
   * Calls `listener` whenever the process is asked to read its files again
   * (SIGHUP), from the first call on (absent: never). A subcommand calls it
   * only when it has files to read again: until then SIGHUP ends the
   * process as it always did (a terminal that closes takes its server along).
   */
  onReload?: (listener: () => void) => void;
  /** Whether standard input and output are terminals (absent: neither is). */
  isTerminal?: { stdin: boolean; stdout: boolean };
  /** Standard input as bytes, for subcommands that read it (absent: no input). */
  stdin?: () => ReadableStream<Uint8Array>;
  /** The terminal as node streams, for node:readline (absent: no terminal). */
  terminal?: () => { input: Readable; output: Writable };
}

/** One flag of a subcommand. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  /** A string flag that may be given more than once: its values go to `lists`. */
  multiple?: boolean;
}

/** Parsed flags: strings and booleans by long name, and the positionals. */
export interface ParsedFlags {
  values: Record<string, string | boolean | undefined>;
  /** The values of each `multiple` flag, in order (empty when it was not given). */
  lists: Record<string, string[]>;
  positionals: string[];
}

/**
 * Parses `args` against `spec`; an unknown flag, a missing value or an
 * unexpected positional is a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * parseFlags(["--port", "0"], { port: { type: "string" } }); // { values: { port: "0" }, lists: {}, positionals: [] }
 * ```
 */
export function parseFlags(
  args: string[],
  spec: Record<string, FlagSpec>,
  allowPositionals = false,
): ParsedFlags {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: spec,
      strict: true,
      allowPositionals,
    });
    const lists: ParsedFlags["lists"] = {};
    for (const [name, flag] of Object.entries(spec)) {
      if (!flag.multiple) continue;
      const given = (values as Record<string, unknown>)[name];
      lists[name] = Array.isArray(given) ? given.map(String) : [];
      delete (values as Record<string, unknown>)[name];
    }
    return { values: values as ParsedFlags["values"], lists, positionals };
  } catch (error) {
    // node:util words its messages in sentence case ("Unknown option '--x'");
    // ours are lower-case phrases (lib/errors.ts).
    const message = errorLine(error).replace(/\. To specify.*$/, "");
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1));
  }
}

/**
 * Reads an integer flag in `[min, max]`; `fallback` when absent.
 *
 * @example
 * ```ts
 * intFlag({ port: "1337" }, "port", 1337, 0, 65535); // 1337
 * ```
 */
export function intFlag(
  values: ParsedFlags["values"],
  name: string,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const text = String(raw).trim();
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(
      `--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(String(raw))}`,
    );
  }
  return value;
}
