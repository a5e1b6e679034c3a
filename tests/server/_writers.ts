// In-memory Writers for the outbox and hub tests: one that takes everything,
// one that takes at most a few bytes per call, one that blocks until
// released, and one that fails.

import type { Writer } from "../../lib/server/outbox.ts";

/** Records every write; `maxPerWrite` caps how many bytes one call accepts. */
export class MemoryWriter implements Writer {
  /** Each call's accepted bytes, copied (the caller may reuse its buffer). */
  readonly writes: Uint8Array[] = [];
  readonly #maxPerWrite: number;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  /** Calls waiting at the gate right now. */
  blocked = 0;

  constructor(options: { maxPerWrite?: number; blocked?: boolean } = {}) {
    this.#maxPerWrite = options.maxPerWrite ?? Infinity;
    if (options.blocked) this.block();
  }

  async write(bytes: Uint8Array): Promise<number> {
    while (this.#gate) {
      this.blocked++;
      await this.#gate;
      this.blocked--;
    }
    const n = Math.min(bytes.length, this.#maxPerWrite);
    this.writes.push(bytes.slice(0, n));
    return n;
  }

  /** Makes later writes wait until {@linkcode release}. */
  block(): void {
    this.#gate ??= new Promise((resolve) => this.#open = resolve);
  }

  /** Lets waiting and later writes through. */
  release(): void {
    this.#open?.();
    this.#gate = undefined;
    this.#open = undefined;
  }

  /** Everything written so far, as text. */
  get text(): string {
    const decoder = new TextDecoder();
    return this.writes.map((w) => decoder.decode(w, { stream: true })).join("") + decoder.decode();
  }

  /** Everything written so far, one parsed JSON value per line. */
  get frames(): unknown[] {
    const text = this.text;
    if (text === "") return [];
    if (!text.endsWith("\n")) {
      throw new Error(`Output ends mid-line: ${JSON.stringify(text.slice(-40))}`);
    }
    return text.slice(0, -1).split("\n").map((line) => JSON.parse(line));
  }
}

/** A writer whose peer is gone: every write rejects, after `okWrites` successful ones. */
export class BrokenWriter implements Writer {
  readonly error = new Error("Broken pipe");
  #okWrites: number;
  written = 0;

  constructor(okWrites = 0) {
    this.#okWrites = okWrites;
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#okWrites-- > 0) {
      this.written += bytes.length;
      return Promise.resolve(bytes.length);
    }
    return Promise.reject(this.error);
  }
}

/** Lets pumps run: a few turns of the event loop. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}
