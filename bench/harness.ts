// What bench/run.ts (ours against ncat) and bench/redis.ts (servers sharing
// a chat through Redis) have in common: `chat bench` in a process of its
// own under the permissions of `deno task server`, its JSON report turned
// into a figure of the table, and the log on stderr.

import config from "../deno.json" with { type: "json" };
import { fileURLToPath } from "node:url";
import { type FlagSpec, type ParsedFlags, parseFlags } from "../lib/cli.ts";
import { UsageError } from "../lib/errors.ts";
import { run, spawn } from "./processes.ts";
import type { BenchReport } from "../lib/bench/result.ts";
import type { LoadMetric } from "./scenarios.ts";
import { formatFigure, type RunFigure } from "./table.ts";

/** A `chat bench` run fails when nothing happens for this long (ncat logs 1,000 clients in slowly). */
export const BENCH_IDLE_TIMEOUT_S = 60;
/** The longest one `chat bench` process may run before it is killed. */
export const BENCH_HARD_LIMIT_MS = 15 * 60 * 1000;

export const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
export const DENO = Deno.execPath();
const encoder = new TextEncoder();

/** The flags of `deno task server` (its permission set), which `chat bench` runs under too. */
export function serverPermissions(): string[] {
  return config.tasks.server.command.split(/\s+/).filter((word) => word.startsWith("--"));
}

export function write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let offset = 0; offset < bytes.length;) offset += stream.writeSync(bytes.subarray(offset));
}

export const log = (text: string) => write(Deno.stderr, text);

/**
 * Reads a script's flags: the values, or the exit code when it is done
 * already (2 after a usage error, with the usage on stderr; 0 after --help).
 */
export function scriptFlags(
  name: string,
  args: string[],
  flags: Record<string, FlagSpec>,
  usage: string,
): ParsedFlags["values"] | number {
  let values;
  try {
    values = parseFlags(args, flags).values;
  } catch (error) {
    if (error instanceof UsageError) {
      log(`${name}: ${error.message}\n\n${usage}`);
      return 2;
    }
    throw error;
  }
  if (values.help) {
    write(Deno.stdout, usage);
    return 0;
  }
  return values;
}

/** The machine, runtime and commit the figures come from (ncat's version too, when asked). */
export async function describeMachine(withNcat = false): Promise<Record<string, string>> {
  // With cat: Deno lets a script read /proc only with --allow-all.
  const read = async (path: string) => {
    try {
      return await run("cat", [path]);
    } catch {
      return "";
    }
  };
  const attempt = async (command: string, args: string[]) => {
    try {
      return (await run(command, args)).trim();
    } catch {
      return "unknown";
    }
  };
  const root = fileURLToPath(new URL("..", import.meta.url));
  const memory = Number((await read("/proc/meminfo")).match(/^MemTotal:\s+(\d+)/m)?.[1] ?? NaN);
  const dirty = await attempt("git", ["-C", root, "status", "--porcelain", "--untracked-files=no"]);
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cpu: (await read("/proc/cpuinfo")).match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown",
    cores: String(navigator.hardwareConcurrency),
    memory: `${(memory / 1024 / 1024).toFixed(1)} GiB`,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    commit: (await attempt("git", ["-C", root, "rev-parse", "--short", "HEAD"])) +
      (dirty !== "" && dirty !== "unknown" ? " with uncommitted changes" : ""),
    "load average at the start": await loadAverage(),
    ...(withNcat
      ? { ncat: (await attempt("sh", ["-c", "ncat --version 2>&1"])).split("\n")[0] }
      : {}),
  };
}

/** The machine's load averages over 1, 5 and 15 minutes (as `uptime` shows them). */
export async function loadAverage(): Promise<string> {
  try {
    return (await run("cat", ["/proc/loadavg"])).split(" ").slice(0, 3).join(", ");
  } catch {
    return "unknown";
  }
}

/** Where `chat bench` connects, and how. */
export interface BenchTarget {
  /** `host:port`, several comma-separated for servers sharing one chat. */
  addr: string;
  /** The certificate to trust (`--ca`). */
  ca: string;
  /** `--raw`: a line-broadcast server (ncat). */
  raw: boolean;
}

/**
 * What the table reads of a load generator's report: `chat bench --json`'s
 * (a {@linkcode BenchReport}) or chatload's line (bench/peers.ts).
 */
export interface GeneratorReport {
  ok: boolean;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  deliveriesPerSecond: number;
  latencyMs: { p50: number; p99: number };
  connectSeconds: number;
  failure: string | null;
}

/** A report, or why there is none. */
export type Outcome = GeneratorReport | { failure: string };

/** Runs `chat bench --json` against `target` with `flags`; its report, or a failure. */
export async function benchProcess(
  target: BenchTarget,
  flags: string[],
  onStderr?: (line: string) => void,
): Promise<BenchReport | { failure: string }> {
  const lines: string[] = [];
  const child = spawn(DENO, [
    "run",
    ...serverPermissions(),
    MAIN,
    "bench",
    "--addr",
    target.addr,
    "--ca",
    target.ca,
    "--json",
    "--timeout",
    String(BENCH_IDLE_TIMEOUT_S),
    ...(target.raw ? ["--raw"] : []),
    ...flags,
  ], { stdout: (line) => lines.push(line), stderr: onStderr });
  const timer = setTimeout(() => child.stop(), BENCH_HARD_LIMIT_MS);
  try {
    await child.status;
  } finally {
    clearTimeout(timer);
  }
  const json = lines.findLast((line) => line.startsWith("{"));
  if (json === undefined) return { failure: `chat bench printed no result:\n${child.tail()}` };
  return JSON.parse(json) as BenchReport;
}

/** A run's figure; a failed run's is NaN (left out of the median) with its failure. */
export function figureOf(report: Outcome, value: number): RunFigure {
  if (!("ok" in report)) {
    return { value: NaN, lost: 0, duplicated: 0, outOfOrder: 0, failure: report.failure };
  }
  return {
    // A failed run's figure would be of a different thing (a partial run): it is left out of the median.
    value: report.failure === null ? value : NaN,
    lost: report.lost,
    duplicated: report.duplicated,
    outOfOrder: report.outOfOrder,
    failure: report.failure ?? undefined,
  };
}

/** The figure of a load metric: from `chat bench`'s report, or the server's peak memory. */
export function loadFigure(metric: LoadMetric, report: Outcome, peakKiB: number): RunFigure {
  if (!("ok" in report)) return figureOf(report, NaN);
  const value = metric === "deliveries/s"
    ? report.deliveriesPerSecond
    : metric === "p50 ms"
    ? report.latencyMs.p50
    : metric === "p99 ms"
    ? report.latencyMs.p99
    : peakKiB / 1024;
  return figureOf(report, value);
}

/** What the table calls a load metric. */
export const METRIC_NAMES: Record<LoadMetric, string> = {
  "deliveries/s": "deliveries/s",
  "p50 ms": "latency p50 ms",
  "p99 ms": "latency p99 ms",
  "peak RSS MiB": "server peak RSS, MiB",
};

/** One line of the log for a run. */
export function describeReport(report: Outcome): string {
  if (!("ok" in report)) return `FAILED: ${report.failure}`;
  const text = `${formatFigure(report.deliveriesPerSecond)} deliveries/s, p50 ${
    formatFigure(report.latencyMs.p50)
  } ms, p99 ${
    formatFigure(report.latencyMs.p99)
  } ms, lost ${report.lost}, duplicated ${report.duplicated}, out of order ${report.outOfOrder}`;
  return report.failure === null ? text : `${text}; FAILED: ${report.failure}`;
}
