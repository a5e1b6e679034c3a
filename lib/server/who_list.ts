// The nicknames of the roster (presence.ts), kept encoded for the `who`
// event. A `who` lists everyone, and under churn every login asks for one:
// encoding 10,000 nicknames afresh each time cost ~2 ms of the server's CPU
// per login (0.4 of a core at 200 logins a second). Here the nicknames sit
// in runs of RUN_LENGTH, each run encoded once and again only when it
// changes (a join changes the last run, a leave its own and the last), so a
// `who` costs re-encoding at most a couple of runs, and one copy.

import { encodeNicknameRun, encodeWhoOf } from "../protocol.ts";

/** Nicknames per encoded run. */
export const RUN_LENGTH = 256;

/**
 * The roster's nicknames, in runs; see the top of this file. The order is
 * the order of joining, except that a leave moves the last one into its
 * place (PROTOCOL.md §10 lists a set).
 *
 * @example
 * ```ts
 * const list = new WhoList();
 * list.add("alice", "Alice");
 * list.add("bob", "bob");
 * list.delete("alice");
 * new TextDecoder().decode(list.encode()); // '{"event":"who","nicknames":["bob"]}\n'
 * ```
 */
export class WhoList {
  readonly #names: string[] = [];
  readonly #keys: string[] = [];
  readonly #index = new Map<string, number>();
  /** Each run's encoding; undefined until encoded, or since it changed. */
  readonly #runs: (Uint8Array | undefined)[] = [];

  /** How many nicknames it holds. */
  get size(): number {
    return this.#names.length;
  }

  /** Adds `nickname` under `key` (or renames the one there). */
  add(key: string, nickname: string): void {
    const at = this.#index.get(key);
    if (at !== undefined) {
      this.#names[at] = nickname;
      this.#changed(at);
      return;
    }
    this.#index.set(key, this.#names.length);
    this.#names.push(nickname);
    this.#keys.push(key);
    this.#changed(this.#names.length - 1);
  }

  /** Removes the nickname under `key`, if any: the last one takes its place. */
  delete(key: string): void {
    const at = this.#index.get(key);
    if (at === undefined) return;
    this.#index.delete(key);
    const last = this.#names.length - 1;
    const lastName = this.#names.pop()!;
    const lastKey = this.#keys.pop()!;
    this.#changed(last);
    if (at !== last) {
      this.#names[at] = lastName;
      this.#keys[at] = lastKey;
      this.#index.set(lastKey, at);
      this.#changed(at);
    }
    this.#runs.length = Math.ceil(this.#names.length / RUN_LENGTH);
  }

  /** The `who` event of every nickname held, as one line's bytes. */
  encode(): Uint8Array {
    for (let run = 0; run < this.#runs.length; run++) {
      this.#runs[run] ??= encodeNicknameRun(
        this.#names.slice(run * RUN_LENGTH, (run + 1) * RUN_LENGTH),
      );
    }
    return encodeWhoOf(this.#runs as Uint8Array[]);
  }

  #changed(at: number): void {
    const run = Math.floor(at / RUN_LENGTH);
    if (run < this.#runs.length) this.#runs[run] = undefined;
    else this.#runs.length = run + 1;
  }
}
