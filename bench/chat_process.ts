// `chat` as a real process, for the tests and the fault scenarios: the
// entrypoint under the permissions of `deno task server` (read from
// deno.json, so the tests prove they are enough), output piped and
// collected as it comes, a server waited for until it listens, stopped with
// a signal.
//
// The benchmark starts its servers otherwise (bench/processes.ts
// startOurServer): with `ulimit -n` raised for 10,000 clients and only the
// last lines of a log kept, since a long run logs a line per connection.

import { MAIN, serverPermissions } from "./harness.ts";
import { sleep } from "../lib/deadline.ts";

export { MAIN };
/** The flags of `deno task server` (its permission set), read from deno.json. */
export const PERMISSIONS = serverPermissions();

/** How often {@linkcode ChatProcess.listening} looks at the output. */
const LISTEN_POLL_MS = 20;

/** Options of {@linkcode chatCommand}. */
export interface ChatCommandOptions {
  /** The working folder (where a server keeps certs/ and its data). */
  cwd?: string;
  /** Ends the process. */
  signal?: AbortSignal;
  /** Flags for `deno run` itself, before the script (such as --v8-flags=…). */
  denoFlags?: string[];
  /** Runs it under `ulimit -n` this many file descriptors (through sh). */
  maxFiles?: number;
}

/**
 * `chat ARGS` as a process, with piped output and the permissions of `deno task server`.
 *
 * @example
 * ```ts
 * const { code } = await chatCommand(["--version"]).output(); // 0
 * ```
 */
export function chatCommand(args: string[], options: ChatCommandOptions = {}): Deno.Command {
  const deno = [
    Deno.execPath(),
    "run",
    ...options.denoFlags ?? [],
    ...PERMISSIONS,
    MAIN,
    ...args,
  ];
  const [command, ...rest] = options.maxFiles === undefined
    ? deno
    : ["sh", "-c", `ulimit -n ${options.maxFiles} && exec "$@"`, "sh", ...deno];
  return new Deno.Command(command, {
    args: rest,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: options.signal,
  });
}

/**
 * Runs `chat ARGS` to its end (killed after `timeoutMs`) and returns its exit code and output.
 *
 * @example
 * ```ts
 * const { code, stderr } = await runChat(["server", "--port", "x"]); // 2, "chat: --port must be …"
 * ```
 */
export async function runChat(
  args: string[],
  cwd?: string,
  timeoutMs = 20_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await chatCommand(args, {
    cwd,
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/**
 * A `chat` process (usually `chat server`), with its output read as it comes.
 *
 * @example
 * ```ts
 * const dir = await Deno.makeTempDir();
 * const server = new ChatProcess(["server", "--host", "127.0.0.1", "--port", "0"], dir);
 * const port = await server.listening();
 * await server.stop(); // SIGTERM: the exit code, 0
 * ```
 */
export class ChatProcess {
  readonly child: Deno.ChildProcess;
  readonly args: string[];
  stdout = "";
  stderr = "";
  /** Set by {@linkcode ChatProcess.listening}. */
  port = 0;
  readonly #done: Promise<void>;
  #status: Deno.CommandStatus | undefined;

  constructor(
    args: string[],
    cwd: string,
    options: Pick<ChatCommandOptions, "denoFlags" | "maxFiles"> = {},
  ) {
    this.args = args;
    this.child = chatCommand(args, { cwd, ...options }).spawn();
    const collect = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) this[key] += text;
    };
    this.child.status.then((status) => this.#status = status);
    this.#done = Promise.all([
      collect(this.child.stdout, "stdout"),
      collect(this.child.stderr, "stderr"),
    ]).then(() => {});
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid;
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
      await sleep(LISTEN_POLL_MS);
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
    this.#signal(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = await Promise.race([
      this.child.status.then(() => false),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), graceMs)),
    ]);
    clearTimeout(timer);
    if (late) {
      await this.kill("SIGKILL");
      throw new Error(
        `chat ${
          this.args.join(" ")
        } still ran ${graceMs} ms after ${signal}; stderr:\n${this.stderr}`,
      );
    }
    return (await this.kill(signal)).code;
  }

  /** Sends `signal` (unless it has exited) and waits, however long, for the exit and the end of its output. */
  async kill(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    this.#signal(signal);
    const status = await this.child.status;
    await this.#done;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill("SIGKILL");
  }

  #signal(signal: Deno.Signal): void {
    if (this.#status !== undefined) return;
    try {
      this.child.kill(signal);
    } catch {
      // It exited meanwhile.
    }
  }
}
