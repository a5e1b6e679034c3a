// How `chat bench` reports a run: one plain line for people and logs, or one
// JSON object (`--json`) for scripts such as the `deno task bench` harness.

import type { LoadResult } from "./load.ts";
import { WRITE_BATCH_BYTES } from "./run_shape.ts";

/** The run's shape and setting, reported with its result. */
export interface RunSetting {
  addr: string;
  raw: boolean;
  /** The TLS client used (lib/bench/dial.ts). */
  tls: string;
  clients: number;
  senders: number;
  messages: number;
  size: number;
  rate?: number;
}

/** The JSON result of one run (`chat bench --json`). */
export interface BenchReport {
  ok: boolean;
  addr: string;
  mode: "protocol" | "raw";
  tls: string;
  clients: number;
  senders: number;
  messages: number;
  size: number;
  /** Messages per second per sender; null: as fast as possible. */
  rate: number | null;
  /** Whether several frames may share one write (protocol mode, as fast as possible). */
  coalescedWrites: boolean;
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  echoed: number;
  unknown: number;
  errors: number;
  seconds: number;
  deliveriesPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  connectSeconds: number;
  bytes: number;
  timedOut: boolean;
  failure: string | null;
}

/** True when nothing was lost or duplicated and no client failed or timed out. */
export function succeeded(result: LoadResult): boolean {
  return result.failure === undefined && result.totals.lost === 0 &&
    result.totals.duplicated === 0;
}

/** The result as the JSON object `--json` prints. */
export function toReport(setting: RunSetting, result: LoadResult): BenchReport {
  const t = result.totals;
  return {
    ok: succeeded(result),
    addr: setting.addr,
    mode: setting.raw ? "raw" : "protocol",
    tls: setting.tls,
    clients: setting.clients,
    senders: setting.senders,
    messages: setting.messages,
    size: setting.size,
    rate: setting.rate ?? null,
    coalescedWrites: !setting.raw && setting.rate === undefined,
    expected: t.expected,
    delivered: t.unique,
    lost: t.lost,
    duplicated: t.duplicated,
    outOfOrder: t.outOfOrder,
    echoed: t.echoed,
    unknown: t.unknown,
    errors: result.errors,
    seconds: round(result.seconds, 6),
    deliveriesPerSecond: Math.round(result.deliveriesPerSecond),
    latencyMs: {
      p50: round(result.latencyMs.p50, 3),
      p90: round(result.latencyMs.p90, 3),
      p99: round(result.latencyMs.p99, 3),
      max: round(result.latencyMs.max, 3),
    },
    connectSeconds: round(result.connectSeconds, 3),
    bytes: result.bytes,
    timedOut: result.timedOut,
    failure: result.failure ?? null,
  };
}

/**
 * The result as one plain line (without the newline).
 *
 * @example
 * ```ts
 * import type { LoadResult } from "./load.ts";
 *
 * declare const setting: RunSetting, result: LoadResult;
 * formatResult(setting, result);
 * // "198000/198000 deliveries in 1.234 s = 160454 deliveries/s; latency p50 3.1 ms, p90 …;
 * //  lost 0, duplicated 0, out of order 0 (100 clients, 1 sender × 2000 messages of 100 B, …)"
 * ```
 */
export function formatResult(setting: RunSetting, result: LoadResult): string {
  const t = result.totals;
  const l = result.latencyMs;
  const problems = [`lost ${t.lost}`, `duplicated ${t.duplicated}`, `out of order ${t.outOfOrder}`];
  if (t.echoed > 0) problems.push(`echoed to the sender ${t.echoed}`);
  if (t.unknown > 0) problems.push(`unknown tokens ${t.unknown}`);
  if (result.errors > 0) problems.push(`error replies ${result.errors}`);
  const pace = setting.rate === undefined
    ? setting.raw
      ? "as fast as possible, one message per write"
      : `as fast as possible, frames coalesced up to ${WRITE_BATCH_BYTES / 1024} KiB per write`
    : `${setting.rate} messages/s per sender`;
  const shape = `${setting.clients} clients, ${setting.senders} sender${
    setting.senders === 1 ? "" : "s"
  } × ${setting.messages} messages of ${setting.size} B, ${pace}, ${
    setting.raw ? "raw lines" : "protocol"
  }, ${setting.tls}, ${setting.addr}`;
  return `${t.unique}/${t.expected} deliveries in ${result.seconds.toFixed(3)} s = ${
    Math.round(result.deliveriesPerSecond)
  } deliveries/s; latency p50 ${ms(l.p50)}, p90 ${ms(l.p90)}, p99 ${ms(l.p99)}, max ${ms(l.max)}; ${
    problems.join(", ")
  } (${shape})`;
}

function ms(value: number): string {
  return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
