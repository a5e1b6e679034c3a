// Who may do what, by identity (PROTOCOL.md §13): the server's operators
// (`--op FINGERPRINT`, repeatable, and `--ops FILE`) and, when the server
// admits only whom it invited, the invitation list (`--invited FILE`).
//
// A list file holds one fingerprint a line, as `chat identity` or
// `openssl x509 -fingerprint -sha256` prints it (either case, colons or
// not, openssl's `sha256 Fingerprint=` in front or not); `#` starts a
// comment, to the end of the line, and blank lines are skipped. The files
// are read at start, where a bad one stops the server with its line
// number, and again on reload (SIGHUP, wired by main.ts), where a bad one
// keeps the list as it was and says why: a typo must never lock everyone
// out, nor let everyone in.

import { errorReason, FatalError } from "../errors.ts";
import { parseFingerprint } from "../fingerprint.ts";

/** The largest list file read; a bigger one is an error, not a memory sink. */
export const MAX_LIST_FILE_BYTES = 1024 * 1024;

/** What the command line says about access. */
export interface AccessConfig {
  /** `--op` fingerprints, already normalised (`AB:CD:…`). */
  ops: readonly string[];
  /** `--ops FILE`: more operators, one fingerprint a line. */
  opsFile?: string;
  /** `--invited FILE`: when given, only these identities (and operators) may log in. */
  invitedFile?: string;
}

/** What a reload came to: the sizes of the lists now, and why a file was not taken. */
export interface AccessReload {
  /** Operators now (`--op` and `--ops` together). */
  ops: number;
  /** Invited identities now; undefined without `--invited`. */
  invited?: number;
  /** One sentence per file that could not be read or was damaged (its old list is kept). */
  problems: string[];
}

/**
 * Operators and invitations, by identity; see the top of this file.
 *
 * @example
 * ```ts
 * const access = await AccessLists.load({ ops: ["AB:".repeat(31) + "AB"] });
 * access.isOperator("AB:".repeat(31) + "AB"); // true
 * access.isInvited(undefined); // true: without --invited everyone is
 * ```
 */
export class AccessLists {
  readonly #config: AccessConfig;
  #fileOps: ReadonlySet<string>;
  #invited: ReadonlySet<string> | undefined;
  /** Reloads, one after another. */
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(
    config: AccessConfig,
    fileOps: ReadonlySet<string>,
    invited: ReadonlySet<string> | undefined,
  ) {
    this.#config = config;
    this.#fileOps = fileOps;
    this.#invited = invited;
  }

  /** Reads the list files; a missing, unreadable or damaged one is a FatalError. */
  static async load(config: AccessConfig): Promise<AccessLists> {
    const ops = config.opsFile === undefined
      ? new Set<string>()
      : await readIdentityList(config.opsFile, "--ops");
    const invited = config.invitedFile === undefined
      ? undefined
      : await readIdentityList(config.invitedFile, "--invited");
    return new AccessLists(config, ops, invited);
  }

  /** True when the server admits only invited identities (`--invited`). */
  get inviteOnly(): boolean {
    return this.#invited !== undefined;
  }

  /** How many operators there are (`--op` and `--ops` together). */
  get operatorCount(): number {
    return new Set([...this.#config.ops, ...this.#fileOps]).size;
  }

  /** True when `identity` is one of the server's operators. */
  isOperator(identity: string | undefined): boolean {
    return identity !== undefined &&
      (this.#config.ops.includes(identity) || this.#fileOps.has(identity));
  }

  /**
   * True when `identity` may log in as far as invitations go: always
   * without `--invited`; with it, only the invited and the operators.
   */
  isInvited(identity: string | undefined): boolean {
    if (this.#invited === undefined) return true;
    return identity !== undefined && (this.#invited.has(identity) || this.isOperator(identity));
  }

  /**
   * Reads the list files again. A file that cannot be read or is damaged
   * keeps its old list; the answer says why. Never rejects.
   */
  reload(): Promise<AccessReload> {
    const done = this.#tail.then(() => this.#reload());
    this.#tail = done;
    return done;
  }

  async #reload(): Promise<AccessReload> {
    const problems: string[] = [];
    const { opsFile, invitedFile } = this.#config;
    if (opsFile !== undefined) {
      try {
        this.#fileOps = await readIdentityList(opsFile, "--ops");
      } catch (error) {
        problems.push(`${errorReason(error)}; the operators stay as they were`);
      }
    }
    if (invitedFile !== undefined) {
      try {
        this.#invited = await readIdentityList(invitedFile, "--invited");
      } catch (error) {
        problems.push(`${errorReason(error)}; the invitations stay as they were`);
      }
    }
    return { ops: this.operatorCount, invited: this.#invited?.size, problems };
  }
}

/**
 * Reads a list file of identities (see the top of this file); a file that
 * cannot be read, is too big or has a line that is not a fingerprint is a
 * FatalError naming `flag`, the file and the line.
 */
export async function readIdentityList(path: string, flag: string): Promise<Set<string>> {
  let text: string;
  try {
    if ((await Deno.stat(path)).size > MAX_LIST_FILE_BYTES) {
      throw new FatalError(`${flag} ${path}: larger than ${MAX_LIST_FILE_BYTES} bytes`);
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof FatalError) throw error;
    throw new FatalError(`cannot read ${flag} ${path}: ${errorReason(error)}`);
  }
  const parsed = parseIdentityList(text);
  if (typeof parsed === "string") throw new FatalError(`${flag} ${path} ${parsed}`);
  return parsed;
}

/**
 * The identities of a list file's text, or what is wrong with it
 * (`line N: …`).
 *
 * @example
 * ```ts
 * parseIdentityList("# alice\n" + "ab".repeat(32) + "  # her laptop\n"); // Set { "AB:AB:…" }
 * parseIdentityList("alice\n"); // 'line 1: "alice" is not a SHA-256 fingerprint …'
 * ```
 */
export function parseIdentityList(text: string): Set<string> | string {
  const identities = new Set<string>();
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const entry = lines[index].replace(/#.*/, "").trim().replace(/^sha256 fingerprint=/i, "");
    if (entry === "") continue;
    const identity = parseFingerprint(entry);
    if (identity === undefined) {
      const shown = entry.length > 40 ? `${entry.slice(0, 40)}…` : entry;
      return `line ${index + 1}: ${
        JSON.stringify(shown)
      } is not a SHA-256 fingerprint (AB:CD:… as chat identity prints it)`;
    }
    identities.add(identity);
  }
  return identities;
}
