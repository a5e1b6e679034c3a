// The known-hosts file: server certificates the user chose to trust on a
// terminal, pinned by SHA-256 fingerprint, one `HOST:PORT FINGERPRINT` line
// each (`#` starts a comment), like ssh's known_hosts.
//
// The file lives in the user's config directory, which the caller passes in
// (cli.ts derives it from XDG_CONFIG_HOME or HOME), so tests use a temp dir.

import { dirname } from "node:path";
import { errorMessage, FatalError } from "../errors.ts";

/** The largest known-hosts file read; a bigger one is an error, not a memory sink. */
export const MAX_KNOWN_HOSTS_BYTES = 1024 * 1024;

/**
 * Pins in one file. Every call reads the file afresh, so two clients
 * running at once never overwrite each other's older view.
 *
 * @example
 * ```ts
 * const hosts = new KnownHosts("/home/me/.config/chat/known_hosts");
 * await hosts.add("localhost:1337", "AB:CD:…");
 * await hosts.get("localhost:1337"); // "AB:CD:…"
 * ```
 */
export class KnownHosts {
  /** The file's path. */
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** The pinned fingerprint of `host` (a `HOST:PORT` label), if any. */
  async get(host: string): Promise<string | undefined> {
    const key = host.toLowerCase();
    for (const entry of await this.#read()) {
      if (entry.host === key) return entry.fingerprint;
    }
    return undefined;
  }

  /** Pins `fingerprint` for `host`, replacing an older pin; creates the file (mode 0600). */
  async add(host: string, fingerprint: string): Promise<void> {
    const key = host.toLowerCase();
    const lines = (await this.#readText()).split("\n").filter((line) => {
      const [first] = line.trim().split(/\s+/);
      return line.trim() !== "" && first.toLowerCase() !== key;
    });
    if (lines.length === 0) lines.push("# chat: pinned server certificates (HOST:PORT SHA-256)");
    lines.push(`${key} ${fingerprint}`);
    const temp = `${this.path}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(temp, lines.join("\n") + "\n", { mode: 0o600 });
      await Deno.rename(temp, this.path);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw new FatalError(`cannot write ${this.path}: ${errorMessage(error)}`);
    }
  }

  async #read(): Promise<{ host: string; fingerprint: string }[]> {
    const entries = [];
    for (const line of (await this.#readText()).split("\n")) {
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith("#")) continue;
      const [host, fingerprint] = trimmed.split(/\s+/);
      if (host && fingerprint) entries.push({ host: host.toLowerCase(), fingerprint });
    }
    return entries;
  }

  async #readText(): Promise<string> {
    try {
      const info = await Deno.stat(this.path);
      if (info.size > MAX_KNOWN_HOSTS_BYTES) {
        throw new FatalError(
          `cannot read ${this.path}: it is larger than ${MAX_KNOWN_HOSTS_BYTES} bytes`,
        );
      }
      return await Deno.readTextFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "";
      if (error instanceof FatalError) throw error;
      throw new FatalError(`cannot read ${this.path}: ${errorMessage(error)}`);
    }
  }
}
