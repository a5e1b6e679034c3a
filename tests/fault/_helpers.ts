// Helpers shared by the fault suite (tests/fault/*_test.ts) and its long
// version (bench/soak.ts): the server as a real process with its open file
// descriptors and resident memory read from /proc, a certificate written
// once to files, latency figures, and a few small waits.
//
// The in-process server comes from tests/server/_helpers.ts. FaultClient is
// like its TestClient, plus TCP_NODELAY and a hook that times each line:
// without TCP_NODELAY the first frame after the handshake waits ~40 ms for a
// delayed ACK (Nagle), which would cost the fuzzer a minute and blur every
// latency figure.

import { fileURLToPath } from "node:url";
import config from "../../deno.json" with { type: "json" };
import { testIdentity } from "../server/_helpers.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
/** The permissions of `deno task server`, read from deno.json. */
const PERMISSIONS = config.tasks.server.command.split(" ").filter((word) => word.startsWith("--"));

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

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 20 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!await check()) {
    if (performance.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** The test certificate (SAN localhost), written to `dir` as cert.pem and key.pem. */
export async function writeIdentity(
  dir: string,
): Promise<{ certPem: string; certPath: string; keyPath: string }> {
  const { certPem, keyPem } = await testIdentity();
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
 * const client = await TestClient.login(server, "bob");
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
        ...PERMISSIONS,
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

/** The `p` quantile (0…1) of `values` (nearest rank); NaN when empty. */
export function quantile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Latency figures in milliseconds, rounded to 0.1 ms. */
export interface Latency {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** p50, p99 and max of `samples` (milliseconds). */
export function latency(samples: number[]): Latency {
  const round = (ms: number) => Number.isFinite(ms) ? Math.round(ms * 10) / 10 : NaN;
  return {
    count: samples.length,
    p50: round(quantile(samples, 0.5)),
    p99: round(quantile(samples, 0.99)),
    max: round(samples.reduce((a, b) => Math.max(a, b), -Infinity)),
  };
}

/** A small seeded generator (mulberry32), so a failing random schedule can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `work(i)` for i = 0…count-1 with at most `concurrency` at a time. */
export async function pool(
  count: number,
  concurrency: number,
  work: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

export { type Frame, type Target, TestClient as FaultClient } from "../server/_helpers.ts";
