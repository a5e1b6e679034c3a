// The processes `deno task bench` runs: our server, ncat, `chat bench`, and
// the tools that prepare them (openssl for ncat's certificate, apt-get when
// ncat is missing). Linux only: it raises `ulimit -n` through sh and reads
// memory from /proc.
//
// Every child's output is drained as it comes (a server logs a line per
// connection, and a full pipe would stall it), the last lines kept for
// error messages; every child is stopped with SIGTERM, then SIGKILL.

import { LineSplitter } from "../lib/lines.ts";
import { withDeadline } from "../lib/deadline.ts";
import { errorLine } from "../lib/errors.ts";

/** Open files a child may have: 10,000 clients need 10,000 sockets in each process. */
export const OPEN_FILES = 65_536;
/** Lines of a child's output kept for error messages. */
export const TAIL_LINES = 20;
/** How long a child may take to start listening. */
export const START_TIMEOUT_MS = 30_000;
/** How long a child may take to exit after SIGTERM before it is killed. */
export const STOP_TIMEOUT_MS = 5_000;

/** A running child process. */
export interface Child {
  pid: number;
  /** Stops it (SIGTERM, then SIGKILL) and waits until it is gone. */
  stop(): Promise<void>;
  /** Its exit, when it comes. */
  status: Promise<Deno.CommandStatus>;
  /** The last lines it wrote to stderr (and stdout, when not read by the caller). */
  tail(): string;
}

/**
 * Starts `command args…` with `ulimit -n` raised, feeding each line of its
 * stdout and stderr to the callbacks.
 */
export function spawn(
  command: string,
  args: string[],
  options: {
    cwd?: string;
    stdout?: (line: string) => void;
    stderr?: (line: string) => void;
  } = {},
): Child {
  const raise = `ulimit -n ${OPEN_FILES} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
  const child = new Deno.Command("sh", {
    args: ["-c", raise, "sh", command, ...args],
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  };
  const drained = Promise.all([
    drain(child.stdout, options.stdout ?? keep),
    drain(child.stderr, (line) => {
      keep(line);
      options.stderr?.(line);
    }),
  ]);
  const status = child.status.then(async (status) => {
    await drained;
    return status;
  });
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid,
    status,
    tail: () => tail.join("\n"),
    stop: () =>
      stopping ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch {
          // Exited already.
        }
        if (await withDeadline(status, STOP_TIMEOUT_MS) === undefined) {
          try {
            child.kill("SIGKILL");
          } catch {
            // Exited just now.
          }
        }
        await status;
      })(),
  };
}

async function drain(stream: ReadableStream<Uint8Array>, line: (text: string) => void) {
  const splitter = new LineSplitter(64 * 1024, { line, error: () => {} });
  for await (const chunk of stream) splitter.push(chunk);
  splitter.end();
}

/** Our server, started and listening. */
export interface RunningServer {
  child: Child;
  port: number;
  /** The generated certificate a client trusts with --ca. */
  certPath: string;
}

/**
 * Starts `chat server` on 127.0.0.1 and a free port, in `dir` (where it
 * generates its certificate, or reuses the one there), with the limits a
 * benchmark needs lifted: every client comes from one address and sends as
 * fast as it can. `extra` flags go after those (`--redis URL`, say);
 * `onLog` gets each line of its log (stderr).
 */
export async function startOurServer(
  deno: string,
  permissions: string[],
  main: string,
  dir: string,
  extra: string[] = [],
  onLog?: (line: string) => void,
): Promise<RunningServer> {
  let listening: (port: number) => void;
  const ready = new Promise<number>((resolve) => listening = resolve);
  const child = spawn(deno, [
    "run",
    ...permissions,
    main,
    "server",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--max-clients",
    "20000",
    "--max-per-ip",
    "20000",
    "--rate-limit",
    "0",
    ...extra,
  ], {
    cwd: dir,
    stdout: (line) => {
      const match = line.match(/^listening on .*:(\d+)$/);
      if (match) listening(Number(match[1]));
    },
    stderr: onLog,
  });
  const port = await withDeadline(
    Promise.race([ready, child.status.then(() => 0)]),
    START_TIMEOUT_MS,
  );
  if (port === undefined || port === 0) {
    await child.stop();
    throw new Error(`chat server did not start:\n${child.tail()}`);
  }
  return { child, port, certPath: `${dir}/certs/cert.pem` };
}

/** A private redis-server, started and answering. */
export interface RunningRedis {
  child: Child;
  port: number;
  /** `--redis` for it. */
  url: string;
}

/**
 * Starts a private `redis-server` on 127.0.0.1 and a free port, keeping
 * nothing on disk (`--save '' --appendonly no`): a benchmark's history is
 * thrown away with it. Resolves once it accepts connections.
 */
export async function startRedis(redisServer = "redis-server"): Promise<RunningRedis> {
  const port = freePort();
  let ready: () => void;
  const accepting = new Promise<void>((resolve) => ready = resolve);
  const child = spawn(redisServer, [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ], {
    stdout: (line) => {
      if (/Ready to accept connections/.test(line)) ready();
    },
  });
  const started = await withDeadline(
    Promise.race([accepting.then(() => true), child.status.then(() => false)]),
    START_TIMEOUT_MS,
  );
  if (started !== true) {
    await child.stop();
    throw new Error(`redis-server did not start:\n${child.tail()}`);
  }
  return { child, port, url: `redis://127.0.0.1:${port}` };
}

/** Several of our servers sharing one chat through Redis, in one folder (one certificate). */
export interface SharedServers {
  servers: RunningServer[];
  /** The certificate every one of them serves. */
  certPath: string;
  stop(): Promise<void>;
}

/**
 * Starts `count` of our servers with `--redis url`, in `dir`: the first
 * alone (it generates the certificate, or reuses the one there), the others
 * once it listens, so all of them serve the same certificate. `onLog`
 * gets each line of server i's log.
 */
export async function startSharedServers(
  deno: string,
  permissions: string[],
  main: string,
  dir: string,
  url: string,
  count: number,
  onLog?: (server: number, line: string) => void,
): Promise<SharedServers> {
  const extra = ["--redis", url];
  const servers: RunningServer[] = [];
  const stop = async () => {
    await Promise.all(servers.map((server) => server.child.stop()));
  };
  const start = (i: number) =>
    startOurServer(deno, permissions, main, dir, extra, onLog && ((line) => onLog(i, line)));
  try {
    servers.push(await start(0));
    const rest = await Promise.allSettled(
      Array.from({ length: count - 1 }, (_, i) => start(i + 1)),
    );
    for (const outcome of rest) if (outcome.status === "fulfilled") servers.push(outcome.value);
    const failed = rest.find((outcome) => outcome.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  } catch (error) {
    await stop();
    throw error;
  }
  return { servers, certPath: servers[0].certPath, stop };
}

/** Whether `command` is on PATH (through sh's `command -v`). */
export async function onPath(command: string): Promise<string | undefined> {
  try {
    return (await run("sh", ["-c", 'command -v "$1"', "sh", command])).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** ncat, started in chat mode with TLS. */
export interface RunningNcat {
  child: Child;
  port: number;
}

/**
 * Starts `ncat -l --chat --ssl -m 2000` on 127.0.0.1:`port` with the given
 * certificate, and waits until `ready()` (a TLS connection) succeeds.
 */
export async function startNcat(
  ncat: string,
  cert: string,
  key: string,
  port: number,
  ready: () => Promise<void>,
): Promise<RunningNcat> {
  const child = spawn(ncat, [
    "-l",
    "--chat",
    "--ssl",
    "--ssl-cert",
    cert,
    "--ssl-key",
    key,
    "-m",
    "2000",
    "127.0.0.1",
    String(port),
  ], { stderr: () => {} });
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (true) {
    try {
      await ready();
      return { child, port };
    } catch (error) {
      if (performance.now() > deadline) {
        await child.stop();
        throw new Error(`ncat did not start: ${error}\n${child.tail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Runs a command to its end; its output, or an error with the output. */
export async function run(command: string, args: string[], cwd?: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${code}:\n${text}`);
  return text;
}

/**
 * The path of ncat, installed with apt-get when missing (which needs root);
 * or why it is not available.
 */
export function ensureNcat(
  log: (text: string) => void,
): Promise<{ path: string } | { missing: string }> {
  return ensureTool("ncat", "ncat", log);
}

/**
 * The path of `command`, installed with apt-get (package `pkg`) when missing
 * (which needs root); or why it is not available.
 */
export async function ensureTool(
  command: string,
  pkg: string,
  log: (text: string) => void,
): Promise<{ path: string } | { missing: string }> {
  const path = await onPath(command);
  if (path) return { path };
  log(`${command} is missing: installing it with apt-get (package ${pkg})\n`);
  try {
    await run("apt-get", ["update", "-qq"]);
    await run("apt-get", ["install", "-y", "-qq", pkg]);
  } catch (error) {
    const reason = errorLine(error);
    return { missing: `${command} is not installed and apt-get could not install it (${reason})` };
  }
  const installed = await onPath(command);
  return installed
    ? { path: installed }
    : { missing: `apt-get installed ${pkg} but ${command} is not on PATH` };
}

/**
 * Makes a self-signed ECDSA certificate with openssl, with a subject
 * alternative name for localhost and 127.0.0.1, as `dir/NAME-cert.pem` and
 * `dir/NAME-key.pem`: for ncat CA:FALSE, which Deno.connectTls accepts
 * with --ca (as it does ours); with `authority` openssl's default CA:TRUE,
 * which Deno's TLS client refuses (the bench tests need one). The tests
 * use it for a pair made by someone else than our server.
 *
 * @example
 * ```ts
 * const dir = await Deno.makeTempDir();
 * const { cert, key } = await makeCertificate(dir); // dir/ncat-cert.pem, dir/ncat-key.pem
 * ```
 */
export async function makeCertificate(
  dir: string,
  authority = false,
  name = "ncat",
): Promise<{ cert: string; key: string }> {
  const cert = `${dir}/${name}-cert.pem`;
  const key = `${dir}/${name}-key.pem`;
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ...authority ? [] : ["-addext", "basicConstraints=critical,CA:FALSE"],
  ]);
  return { cert, key };
}

/**
 * A process's resident memory in KiB (VmRSS in /proc/PID/status). Read with
 * cat: Deno lets a script read /proc only with --allow-all.
 */
export async function residentKiB(pid: number): Promise<number> {
  return (await memoryOf(pid)).rss;
}

/** VmRSS and VmHWM (the peak resident size the kernel recorded) of a process, in KiB. */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await run("cat", [`/proc/${pid}/status`]);
  return parseMemory(status, pid);
}

/**
 * VmRSS and VmHWM of /proc/PID/status text, in KiB (VmHWM is VmRSS when the
 * kernel does not report it).
 *
 * @example
 * ```ts
 * parseMemory("VmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n", 1); // { rss: 1024, peak: 2048 }
 * ```
 */
export function parseMemory(status: string, pid: number): { rss: number; peak: number } {
  const rss = status.match(/^VmRSS:\s+(\d+) kB$/m);
  if (!rss) throw new Error(`no VmRSS in /proc/${pid}/status`);
  const peak = status.match(/^VmHWM:\s+(\d+) kB$/m);
  return { rss: Number(rss[1]), peak: Math.max(Number(rss[1]), Number(peak?.[1] ?? 0)) };
}

/** How often {@linkcode watchPeakMemory} samples VmRSS. */
export const MEMORY_SAMPLE_MS = 250;

/**
 * Watches a process's resident memory until `stop()`, which resolves to the
 * peak in KiB: the largest of VmRSS sampled every `everyMs` and VmHWM at
 * the end (the kernel's own high-water mark, which may miss memory that was
 * returned with madvise, hence the samples); NaN when the process could not
 * be read at all. A fresh server per run makes the peak the run's.
 */
export function watchPeakMemory(
  pid: number,
  everyMs = MEMORY_SAMPLE_MS,
): { stop(): Promise<number> } {
  let peak = NaN;
  const sample = async () => {
    try {
      const memory = await memoryOf(pid);
      peak = Number.isNaN(peak) ? memory.peak : Math.max(peak, memory.peak);
    } catch {
      // Gone, or not Linux: the peak so far stands.
    }
  };
  let stopped = false;
  const sampling = (async () => {
    while (!stopped) {
      await sample();
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await sampling;
      await sample();
      return peak;
    },
  };
}

/** CPU time, in seconds, as the kernel counts it at one moment. */
export interface CpuSnapshot {
  /** When it was taken (performance.now(), ms). */
  atMs: number;
  /** Every core's non-idle time, summed. */
  machine: number;
  /** This process's reaped children (a finished `chat bench` among them). */
  children: number;
  /** The watched processes (the servers), summed; NaN when one could not be read. */
  process: number;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
export const USER_HZ = 100;

/**
 * CPU time of the machine, of this process's finished children, and of
 * processes `pids`, from /proc (read with cat, in one go).
 */
export async function cpuSnapshot(pids: readonly number[]): Promise<CpuSnapshot> {
  const atMs = performance.now();
  const text = await run("sh", [
    "-c",
    'head -n 1 /proc/stat; for pid; do cat "/proc/$pid/stat" 2>/dev/null || echo gone; done',
    "sh",
    String(Deno.pid),
    ...pids.map(String),
  ]);
  return parseCpu(text, atMs);
}

/**
 * The {@linkcode CpuSnapshot} of `head -n 1 /proc/stat`, then this process's
 * and each watched one's /proc/PID/stat (or "gone").
 */
export function parseCpu(text: string, atMs: number): CpuSnapshot {
  const [total, self, ...watched] = text.trim().split("\n");
  const jiffies = total.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const busy = jiffies.slice(0, 8).reduce(
    (sum, value, i) => i === 3 || i === 4 ? sum : sum + value,
    0,
  );
  // /proc/PID/stat: the fields after the command's closing parenthesis, from field 3 on.
  const fields = (line: string | undefined) =>
    line === undefined ? [] : line.slice(line.lastIndexOf(")") + 2).split(" ").map(Number);
  const own = fields(self);
  let process = 0;
  for (const line of watched) {
    const other = fields(line);
    process += other.length > 14 ? other[11] + other[12] : NaN;
  }
  return {
    atMs,
    machine: busy / USER_HZ,
    // utime is field 14, stime 15, cutime 16, cstime 17: index field - 3 here.
    children: (own[13] + own[14]) / USER_HZ,
    process: process / USER_HZ,
  };
}

/**
 * Where the CPU went between two snapshots, in seconds: the watched
 * process, the children that finished meanwhile, the rest of the machine.
 *
 * @example
 * ```ts
 * const before = await cpuSnapshot([Deno.pid]);
 * const after = await cpuSnapshot([Deno.pid]);
 * describeCpu(cpuUse(before, after)); // "CPU s: server 2.0, chat bench 2.5, rest of the machine 0.8, in 5.6 s"
 * ```
 */
export function cpuUse(before: CpuSnapshot, after: CpuSnapshot): {
  seconds: number;
  server: number;
  bench: number;
  rest: number;
} {
  const server = after.process - before.process;
  const bench = after.children - before.children;
  return {
    seconds: (after.atMs - before.atMs) / 1000,
    server,
    bench,
    rest: Math.max(0, after.machine - before.machine - server - bench),
  };
}

/**
 * One phrase for the log; `server` names the watched processes, `generator`
 * the child that finished meanwhile.
 */
export function describeCpu(
  use: ReturnType<typeof cpuUse>,
  server = "server",
  generator = "chat bench",
): string {
  const f = (value: number) => Number.isFinite(value) ? value.toFixed(1) : "?";
  return `CPU s: ${server} ${f(use.server)}, ${generator} ${f(use.bench)}, rest of the machine ${
    f(use.rest)
  }, in ${f(use.seconds)} s`;
}
