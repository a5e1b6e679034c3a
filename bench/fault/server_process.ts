// `chat server` as a real process for the fault scenarios (bench/fault/) and
// their tests: on 127.0.0.1 (port 0), with the test certificate written to
// files, under the permissions of `deno task server`, its output collected as
// it comes, and its open file descriptors and resident memory read from /proc.

import { fileURLToPath } from "node:url";
import { serverPermissions } from "../harness.ts";
import { localIdentity } from "../in_process_server.ts";
import { until } from "./schedule.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** True where /proc tells a process's descriptors and memory (the process tests need it). */
export const HAS_PROC = Deno.build.os === "linux";

/**
 * Output of `command args` (cat or ls on /proc). Deno reads nothing under
 * /proc without --allow-all, which neither the tests nor the soak have; a
 * child process may.
 */
async function readProc(command: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (code !== 0) throw new Error(`${command} ${args.join(" ")}: ${decoder.decode(stderr).trim()}`);
  return decoder.decode(stdout);
}

/** The test certificate (SAN localhost), written to `dir` as cert.pem and key.pem. */
export async function writeIdentity(
  dir: string,
): Promise<{ certPem: string; certPath: string; keyPath: string }> {
  const { certPem, keyPem } = await localIdentity();
  const certPath = `${dir}/cert.pem`;
  const keyPath = `${dir}/key.pem`;
  await Deno.writeTextFile(certPath, certPem);
  await Deno.writeTextFile(keyPath, keyPem, { mode: 0o600 });
  return { certPem, certPath, keyPath };
}

/** What {@linkcode ServerProcess.start} needs besides the extra flags. */
export interface ServerProcessOptions {
  /** Working folder; also where cert.pem and key.pem are written. */
  dir: string;
  /** Flags after `chat server --host 127.0.0.1 --port 0 --cert … --key …`. */
  args?: string[];
  /** How long to wait for "listening on". */
  timeoutMs?: number;
  /** Flags for `deno run` itself, before the script (such as --v8-flags=…). */
  denoFlags?: string[];
}

/**
 * `chat server` as a real process on 127.0.0.1 (port 0), with the test
 * certificate, its output collected as it comes.
 *
 * @example
 * ```ts
 * await using server = await ServerProcess.start({ dir, args: ["--rate-limit", "0"] });
 * const client = await LineClient.login(server, "bob");
 * console.log(await server.fdCount(), await server.rssKiB());
 * ```
 */
export class ServerProcess {
  readonly child: Deno.ChildProcess;
  readonly certPem: string;
  port = 0;
  stdout = "";
  stderr = "";
  readonly #output: Promise<void>;
  #status: Deno.CommandStatus | undefined;

  private constructor(child: Deno.ChildProcess, certPem: string) {
    this.child = child;
    this.certPem = certPem;
    const collect = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) this[key] += text;
    };
    this.#output = Promise.all([
      collect(child.stdout, "stdout"),
      collect(child.stderr, "stderr"),
    ]).then(() => {});
    child.status.then((status) => this.#status = status);
  }

  /** Starts the server and waits until it listens; fails with its output otherwise. */
  static async start(options: ServerProcessOptions): Promise<ServerProcess> {
    const { certPem, certPath, keyPath } = await writeIdentity(options.dir);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...options.denoFlags ?? [],
        ...serverPermissions(),
        MAIN,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--cert",
        certPath,
        "--key",
        keyPath,
        ...options.args ?? [],
      ],
      cwd: options.dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const server = new ServerProcess(child, certPem);
    const listening = await until(() => {
      const match = /^listening on \S+:(\d+)$/m.exec(server.stdout);
      if (match) server.port = Number(match[1]);
      return match !== null || server.#status !== undefined;
    }, options.timeoutMs ?? 20_000);
    if (!listening || server.port === 0) {
      await server.kill("SIGKILL");
      throw new Error(
        `the server did not start; stdout: ${server.stdout} stderr: ${server.stderr}`,
      );
    }
    return server;
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Open file descriptors of the server process (sockets, files, epoll, pipes). */
  async fdCount(): Promise<number> {
    return (await readProc("ls", ["-1", `/proc/${this.pid}/fd`])).split("\n").filter(Boolean)
      .length;
  }

  /** Resident memory of the server process in KiB (VmRSS). */
  async rssKiB(): Promise<number> {
    const status = await readProc("cat", [`/proc/${this.pid}/status`]);
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (!match) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(match[1]);
  }

  /** Sends `signal` (unless it has exited) and waits for the exit and the end of its output. */
  async kill(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    if (this.#status === undefined) {
      try {
        this.child.kill(signal);
      } catch {
        // It exited meanwhile.
      }
    }
    const status = await this.child.status;
    await this.#output;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill("SIGKILL");
  }
}
