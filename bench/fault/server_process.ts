// `chat server` as a real process for the fault scenarios (bench/fault/) and
// their tests: a ChatProcess (bench/chat_process.ts) on 127.0.0.1 (port 0),
// with the test certificate written to files, and its open file descriptors
// and resident memory read from /proc.

import { ChatProcess } from "../chat_process.ts";
import { localIdentity } from "../in_process_server.ts";

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
  /** Runs it under `ulimit -n` this many file descriptors. */
  maxFiles?: number;
}

/**
 * `chat server` as a real process on 127.0.0.1 (port 0), with the test
 * certificate, its output collected as it comes.
 *
 * @example
 * ```ts
 * import { LineClient } from "./line_client.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await ServerProcess.start({ dir, args: ["--rate-limit", "0"] });
 * const client = await LineClient.login(server, "bob");
 * console.log(await server.fdCount(), await server.rssKiB());
 * ```
 */
export class ServerProcess extends ChatProcess {
  /** The certificate it serves, for a client's `ca`. */
  readonly certPem: string;

  private constructor(args: string[], options: ServerProcessOptions, certPem: string) {
    super(args, options.dir, { denoFlags: options.denoFlags, maxFiles: options.maxFiles });
    this.certPem = certPem;
  }

  /** Starts the server and waits until it listens; fails with its output otherwise. */
  static async start(options: ServerProcessOptions): Promise<ServerProcess> {
    const { certPem, certPath, keyPath } = await writeIdentity(options.dir);
    const args = [
      "server",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--cert",
      certPath,
      "--key",
      keyPath,
    ];
    const server = new ServerProcess([...args, ...options.args ?? []], options, certPem);
    try {
      await server.listening(options.timeoutMs ?? 20_000);
    } catch (error) {
      await server.kill("SIGKILL");
      throw error;
    }
    return server;
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
}
