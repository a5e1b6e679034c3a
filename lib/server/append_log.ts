// An append-only log of lines on disk, as the server's durable files keep
// them (the history's messages.log, the registry's registry.log): loading
// with the one discipline both follow, and a writer for logs whose writes
// are rare enough to go one at a time.
//
// Loading checks every complete line. A torn last line (the server died
// mid-write) is cut off with a warning: it was never acknowledged, and
// everything before it stays. Damage anywhere else stops the server with
// one sentence naming the file and line, because skipping a line would be
// silent loss.
//
// Writing (AppendLog): each append is written and fsynced before its
// promise resolves, so a caller answers `ok` only for what is on disk. A
// failed write is cut back off the file (so it stays loadable) and the
// append rejects; the caller says so, and nothing half-written is ever
// followed by another line. The history's FileStore writes otherwise
// (group commit and retries, file_store.ts): it carries every message,
// where this carries a change now and then.

import { errorReason, FatalError, Unavailable } from "../errors.ts";

/** The log file as a writer uses it: a Deno.FsFile, or a test's wrapper around one. */
export interface LogFile {
  write(bytes: Uint8Array): Promise<number>;
  syncData(): Promise<void>;
  truncate(length: number): Promise<void>;
  seek(offset: number, whence: Deno.SeekMode): Promise<number>;
  close(): void;
}

/** How a loaded log's lines are checked, and where warnings go. */
export interface LoadOptions {
  /** What the file holds, for messages: "the history", "the registry". */
  what: string;
  /**
   * Takes one complete line (as text without its newline, as bytes with
   * it, and its 1-based number); returns why it is damaged, or undefined
   * when it is good. A line that is not UTF-8 is damaged before it gets here.
   */
  line(text: string, bytes: Uint8Array, number: number): string | undefined;
  /** Receives warnings, such as a torn last line that was cut off. */
  warn(message: string): void;
}

/**
 * Reads the log at `path` (a missing file is an empty log), hands every
 * complete line to `options.line`, cuts off a torn last line, and returns
 * the log opened for appending at its end, with its length. Every failure
 * is a FatalError of one sentence.
 *
 * @example
 * ```ts
 * const { file, size } = await loadLog("data/registry.log", {
 *   what: "the registry",
 *   line: (text) => text.startsWith("{") ? undefined : "not a JSON object",
 *   warn: (text) => Deno.stderr.writeSync(new TextEncoder().encode(text + "\n")),
 * });
 * file.close();
 * ```
 */
export async function loadLog(
  path: string,
  options: LoadOptions,
): Promise<{ file: Deno.FsFile; size: number }> {
  const { what, warn } = options;
  let data: Uint8Array;
  try {
    data = await Deno.readFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new FatalError(`cannot read ${what} ${path}: ${errorReason(error)}`);
    }
    data = new Uint8Array(0);
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let start = 0;
  let line = 0;
  while (start < data.length) {
    const end = data.indexOf(0x0a, start);
    if (end === -1) break;
    line++;
    let text: string | undefined;
    try {
      text = decoder.decode(data.subarray(start, end));
    } catch {
      // Reported below, as damage.
    }
    const damage = text === undefined
      ? "invalid UTF-8"
      : options.line(text, data.subarray(start, end + 1), line);
    if (damage !== undefined) {
      throw new FatalError(
        `cannot load ${what}: ${path} line ${line} is damaged (${damage}); the server never skips a line, so repair or move the file aside`,
      );
    }
    start = end + 1;
  }
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true, write: true, create: true });
    if (start < data.length) {
      await file.truncate(start);
      await file.syncData();
      warn(
        `cut off a torn last line in ${path} (line ${line + 1}, ${
          data.length - start
        } bytes without a newline: the server stopped mid-write)`,
      );
    }
    await file.seek(0, Deno.SeekMode.End);
  } catch (error) {
    // Opened, but not usable for appending: the server stops, and must not keep the handle.
    file?.close();
    throw new FatalError(`cannot open ${what} ${path} for writing: ${errorReason(error)}`);
  }
  return { file, size: start };
}

/**
 * Appends lines one at a time, each written and fsynced before its promise
 * resolves; see the top of this file.
 *
 * @example
 * ```ts
 * const { file, size } = await loadLog("data/registry.log", {
 *   what: "the registry", line: () => undefined, warn: () => {},
 * });
 * const log = new AppendLog(file, size, "data/registry.log");
 * await log.append(new TextEncoder().encode('{"kind":"unban","target":"10.0.0.1"}\n'));
 * await log.close();
 * ```
 */
export class AppendLog {
  readonly #file: LogFile;
  readonly #path: string;
  /** The length up to the last line written and fsynced. */
  #size: number;
  /** A write failed and could not be cut back yet: cut back before the next one. */
  #dirty = false;
  /** The appends, one after another. */
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(file: LogFile, size: number, path: string) {
    this.#file = file;
    this.#size = size;
    this.#path = path;
  }

  /**
   * Writes `bytes` (whole lines) after everything appended before, and
   * fsyncs. Rejects with Unavailable when the disk refused them (nothing of
   * them is then left in the file) or the log is closed.
   */
  append(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Unavailable(`${this.#path} is closed`));
    const done = this.#tail.then(() => this.#write(bytes));
    this.#tail = done.catch(() => {});
    return done;
  }

  /** Waits for the appends under way, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    this.#file.close();
  }

  async #write(bytes: Uint8Array): Promise<void> {
    try {
      if (this.#dirty) await this.#cutBack();
      this.#dirty = true;
      let written = 0;
      while (written < bytes.length) written += await this.#file.write(bytes.subarray(written));
      await this.#file.syncData();
      this.#dirty = false;
      this.#size += bytes.length;
    } catch (error) {
      // At once, so the file stays loadable; if this fails, the next append tries again first.
      if (this.#dirty) await this.#cutBack().catch(() => {});
      throw new Unavailable(`cannot write ${this.#path}: ${errorReason(error)}`);
    }
  }

  async #cutBack(): Promise<void> {
    await this.#file.truncate(this.#size);
    await this.#file.seek(this.#size, Deno.SeekMode.Start);
    this.#dirty = false;
  }
}
