// The registry of `chat server --data-dir DIR`: registrations and bans in
// DIR/registry.log, one change a line (registry_record.ts), appended and
// fsynced before the change counts, so the `ok` a client gets is on disk.
// At start the file is replayed into memory with the history's discipline
// (append_log.ts): a torn last line is cut off with a warning and loses
// nothing before it; a damaged line anywhere else stops the server with one
// sentence. The data folder's lock, which the history's FileStore takes,
// keeps a second server from writing the same file.

import { join } from "node:path";
import { errorReason, FatalError } from "../errors.ts";
import { AppendLog, loadLog, type LogFile } from "./append_log.ts";
import { LocalRegistry, RegistryState } from "./registry.ts";
import { decodeChange, encodeChange } from "./registry_record.ts";

/** The registry's file name inside the data folder. */
export const REGISTRY_FILE = "registry.log";

/** Options of {@linkcode openFileRegistry}. */
export interface FileRegistryOptions {
  /** The wall clock timed bans end by. */
  clock: () => Date;
  /** Receives warnings, such as a torn last line that was cut off. */
  warn: (message: string) => void;
  /** Wraps the file once it is loaded: tests make its writes or fsyncs fail. */
  wrapLog?: (file: LogFile) => LogFile;
}

/**
 * Opens (creating when needed) the registry in the data folder `dir`,
 * loading what it holds. Every failure is a FatalError.
 *
 * @example
 * ```ts
 * const registry = await openFileRegistry("data", { clock: () => new Date(), warn: () => {} });
 * await registry.ban("10.0.0.7", null, "spam", "alice"); // on disk now
 * await registry.close();
 * ```
 */
export async function openFileRegistry(
  dir: string,
  options: FileRegistryOptions,
): Promise<LocalRegistry> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    throw new FatalError(`cannot use the data folder ${dir}: ${errorReason(error)}`);
  }
  const path = join(dir, REGISTRY_FILE);
  const state = new RegistryState(options.clock);
  const { file, size } = await loadLog(path, {
    what: "the registry",
    warn: options.warn,
    line: (text) => {
      const change = decodeChange(text);
      if (typeof change === "string") return change;
      state.apply(change);
    },
  });
  const log = new AppendLog(options.wrapLog?.(file) ?? file, size, path);
  const encoder = new TextEncoder();
  return new LocalRegistry({
    clock: options.clock,
    state,
    persist: (change) => log.append(encoder.encode(encodeChange(change))),
    close: () => log.close(),
  });
}
