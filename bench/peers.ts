// The compiled reference peers of issue 15, when they are built: the
// `tokio-chat-server` the table compares our server with, and `chatload`,
// the lean load generator every server of the table is measured with (and
// that `chat bench` is compared with). They live outside the repository
// (../shared/peers, built into ~/.cache/chat-peers/release by its
// setup.sh); `deno task bench` measures without them when they are not
// there, and nothing else (CI, the tests) ever needs them.

import { join } from "node:path";
import { withDeadline } from "../lib/deadline.ts";
import type { BenchReport } from "../lib/bench/result.ts";
import { type Child, spawn, START_TIMEOUT_MS } from "./processes.ts";
import type { LoadScenario } from "./scenarios.ts";

/** The peers' binaries, as ../shared/peers/setup.sh builds them. */
export const PEER_SERVER = "tokio-chat-server";
export const PEER_GENERATOR = "chatload";
/** How to build them, in one line (printed when they are missing). */
export const BUILD_PEERS = "bash ../shared/peers/setup.sh";
/** The most connections tokio-chat-server takes (its MAX_CONNECTIONS is 8192). */
export const PEER_SERVER_MAX_CLIENTS = 8_000;
/** chatload's `--idle`: a receiver that hears nothing this long fails the run (ncat logs in slowly). */
export const CHATLOAD_IDLE_S = 60;

/** The peers found, or why they were not. */
export interface Peers {
  server?: string;
  generator?: string;
  /** Where they were looked for. */
  dir: string;
  /** What is missing and how to build it; undefined when both were found. */
  missing?: string;
}

/**
 * The folder the peers are looked for in: `flag` (`--peers DIR`), else
 * $PEERS_DIR, else $PEERS_TARGET/release (setup.sh's target), else
 * ~/.cache/chat-peers/release.
 *
 * @example
 * ```ts
 * peersDir(undefined, { HOME: "/home/me" }); // "/home/me/.cache/chat-peers/release"
 * peersDir(undefined, { PEERS_TARGET: "/tmp/p" }); // "/tmp/p/release"
 * ```
 */
export function peersDir(
  flag: string | undefined,
  env: Record<string, string | undefined>,
): string {
  if (flag !== undefined) return flag;
  if (env.PEERS_DIR) return env.PEERS_DIR;
  if (env.PEERS_TARGET) return join(env.PEERS_TARGET, "release");
  return join(env.HOME ?? "~", ".cache", "chat-peers", "release");
}

/** Looks for the two binaries in `dir`. */
export async function findPeers(dir: string): Promise<Peers> {
  const executable = async (name: string) => {
    const path = join(dir, name);
    try {
      const info = await Deno.stat(path);
      return info.isFile && (info.mode === null || (info.mode & 0o111) !== 0) ? path : undefined;
    } catch {
      return undefined;
    }
  };
  const server = await executable(PEER_SERVER);
  const generator = await executable(PEER_GENERATOR);
  const absent = [server ? [] : [PEER_SERVER], generator ? [] : [PEER_GENERATOR]].flat();
  return {
    server,
    generator,
    dir,
    missing: absent.length === 0
      ? undefined
      : `${absent.join(" and ")} not built in ${dir}: build them with \`${BUILD_PEERS}\``,
  };
}

/** tokio-chat-server, started and listening. */
export interface RunningPeer {
  child: Child;
  port: number;
}

/** Starts tokio-chat-server on 127.0.0.1 and a free port with `cert` and `key`. */
export async function startPeerServer(
  path: string,
  cert: string,
  key: string,
): Promise<RunningPeer> {
  let listening: (port: number) => void;
  const ready = new Promise<number>((resolve) => listening = resolve);
  const child = spawn(path, ["0", cert, key], {
    stdout: (line) => {
      const match = line.match(/^listening on .*:(\d+)$/);
      if (match) listening(Number(match[1]));
    },
  });
  const port = await withDeadline(
    Promise.race([ready, child.status.then(() => 0)]),
    START_TIMEOUT_MS,
  );
  if (port === undefined || port === 0) {
    await child.stop();
    throw new Error(`${PEER_SERVER} did not start:\n${child.tail()}`);
  }
  return { child, port };
}

/** What chatload's one `key=value` line says, in the terms of `chat bench --json`'s report. */
export type ChatloadReport =
  & Pick<
    BenchReport,
    | "ok"
    | "clients"
    | "expected"
    | "delivered"
    | "lost"
    | "duplicated"
    | "outOfOrder"
    | "echoed"
    | "errors"
    | "connectSeconds"
    | "seconds"
    | "deliveriesPerSecond"
  >
  & {
    /** Receivers that heard nothing for chatload's `--idle`. */
    timeouts: number;
    /** Connections the server closed. */
    closed: number;
    latencyMs: { p50: number; p99: number; max: number };
    /** What went wrong (lost, duplicated, timed out, closed), or null. */
    failure: string | null;
  };

/** The keys of chatload's line the harness reads, each a number. */
const CHATLOAD_KEYS = [
  "clients",
  "expected",
  "delivered",
  "lost",
  "dup",
  "ooo",
  "echo",
  "errors",
  "timeouts",
  "closed",
  "connect_secs",
  "secs",
  "deliveries_per_s",
  "p50_ms",
  "p99_ms",
  "max_ms",
] as const;

/**
 * Reads chatload's result line (`mode=json clients=100 … max_ms=3.2`);
 * undefined when `line` is not one (a key missing or not a number).
 *
 * @example
 * ```ts
 * parseChatload("mode=json clients=3 senders=1 msgs=2 bytes=100 rate=0 delivered=4 expected=4 lost=0 dup=0 ooo=0 echo=0 errors=0 timeouts=0 closed=0 connect_secs=0.010 send_secs=0.001 secs=0.002 deliveries_per_s=2000 p50_ms=0.500 p99_ms=0.900 max_ms=0.900")
 *   ?.deliveriesPerSecond; // 2000
 * ```
 */
export function parseChatload(line: string): ChatloadReport | undefined {
  const fields = new Map<string, string>();
  for (const word of line.trim().split(/\s+/)) {
    const equals = word.indexOf("=");
    if (equals > 0) fields.set(word.slice(0, equals), word.slice(equals + 1));
  }
  const value: Record<string, number> = {};
  for (const key of CHATLOAD_KEYS) {
    const text = fields.get(key);
    const number = text === undefined || text === "" ? NaN : Number(text);
    if (!Number.isFinite(number)) return undefined;
    value[key] = number;
  }
  const problems = [
    value.lost > 0 ? `${value.lost} lost` : "",
    value.dup > 0 ? `${value.dup} duplicated` : "",
    value.timeouts > 0 ? `${value.timeouts} receivers timed out` : "",
    value.closed > 0 ? `${value.closed} connections closed by the server` : "",
  ].filter((problem) => problem !== "");
  return {
    ok: problems.length === 0,
    clients: value.clients,
    expected: value.expected,
    delivered: value.delivered,
    lost: value.lost,
    duplicated: value.dup,
    outOfOrder: value.ooo,
    echoed: value.echo,
    errors: value.errors,
    timeouts: value.timeouts,
    closed: value.closed,
    connectSeconds: value.connect_secs,
    seconds: value.secs,
    deliveriesPerSecond: value.deliveries_per_s,
    latencyMs: { p50: value.p50_ms, p99: value.p99_ms, max: value.max_ms },
    failure: problems.length === 0 ? null : `chatload: ${problems.join(", ")}`,
  };
}

/** chatload's command line for a scenario against `127.0.0.1:port` (`--raw` for ncat). */
export function chatloadArgs(scenario: LoadScenario, port: number, raw: boolean): string[] {
  return [
    ...(raw ? ["--raw"] : []),
    `127.0.0.1:${port}`,
    String(scenario.clients),
    "-s",
    String(scenario.senders),
    "-m",
    String(scenario.messages),
    "-b",
    String(scenario.size),
    ...(scenario.rate === undefined ? [] : ["--rate", String(scenario.rate)]),
    "--idle",
    String(CHATLOAD_IDLE_S),
  ];
}

/** Runs chatload to its end; its report, or why there is none. */
export async function runChatload(
  path: string,
  args: string[],
  hardLimitMs: number,
): Promise<ChatloadReport | { failure: string }> {
  const lines: string[] = [];
  const child = spawn(path, args, { stdout: (line) => lines.push(line) });
  const timer = setTimeout(() => child.stop(), hardLimitMs);
  try {
    await child.status;
  } finally {
    clearTimeout(timer);
  }
  for (const line of lines.toReversed()) {
    const report = parseChatload(line);
    if (report !== undefined) return report;
  }
  return { failure: `chatload printed no result:\n${child.tail()}` };
}
