// `chat` as a real process for tests: with the permissions of `deno task
// server` (read from deno.json, so the tests prove they are enough), output
// piped and collected, and a server that is waited for until it listens.

import { fileURLToPath } from "node:url";
import { serverPermissions } from "../bench/harness.ts";

/** The entrypoint every process runs. */
export const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
/** The flags of `deno task server` (its permission set), read from deno.json: the tests prove they are enough. */
export const PERMISSIONS = serverPermissions();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `chat ARGS` as a process in `cwd`, with piped output and the permissions of `deno task server`. */
export function chatCommand(args: string[], cwd?: string, signal?: AbortSignal): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal,
  });
}

/** Runs `chat ARGS` to its end (killed after `timeoutMs`) and returns its exit code and output. */
export async function runChat(
  args: string[],
  cwd?: string,
  timeoutMs = 20_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await chatCommand(args, cwd, AbortSignal.timeout(timeoutMs))
    .output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** A `chat server` process, with its output read as it comes. */
export class ChatServer {
  readonly child: Deno.ChildProcess;
  readonly args: string[];
  stdout = "";
  stderr = "";
  /** Set by {@linkcode ChatServer.listening}. */
  port = 0;
  readonly #done: Promise<void>;
  #status: Deno.CommandStatus | undefined;

  constructor(args: string[], cwd: string) {
    this.args = args;
    this.child = chatCommand(args, cwd).spawn();
    const collect = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) this[key] += text;
    };
    this.child.status.then((status) => this.#status = status);
    this.#done = Promise.all([
      collect(this.child.stdout, "stdout"),
      collect(this.child.stderr, "stderr"),
    ]).then(() => {});
  }

  /** The exit status once the process has ended. */
  get exited(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** Waits for "listening on HOST:PORT" and returns the port; throws if the process ends first. */
  async listening(timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const match = /^listening on (\S+):(\d+)$/m.exec(this.stdout);
      if (match) return this.port = Number(match[2]);
      if (this.#status) break;
      await sleep(20);
    }
    throw new Error(
      `chat ${this.args.join(" ")}: no "listening on" line (exit ${this.#status?.code}); ` +
        `stdout: ${this.stdout} stderr: ${this.stderr}`,
    );
  }

  /**
   * Sends `signal` (unless it has exited already) and waits for the exit; returns the code.
   * A process still running `graceMs` later is killed, and that is an error.
   */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5000): Promise<number> {
    if (!this.#status) {
      try {
        this.child.kill(signal);
      } catch {
        // Exited meanwhile.
      }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = await Promise.race([
      this.child.status.then(() => false),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), graceMs)),
    ]);
    clearTimeout(timer);
    if (late) {
      this.child.kill("SIGKILL");
      await this.child.status;
      await this.#done;
      throw new Error(
        `chat ${
          this.args.join(" ")
        } still ran ${graceMs} ms after ${signal}; stderr:\n${this.stderr}`,
      );
    }
    const status = await this.child.status;
    await this.#done;
    return status.code;
  }
}
