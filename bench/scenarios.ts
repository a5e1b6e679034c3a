// What `deno task bench` measures: the scenarios of issue 15 (our server
// against the compiled reference and ncat, with the targets), and
// the tiny versions of them that `--quick` (the CI smoke test) runs.

import type { Target } from "./table.ts";

/** What a load scenario's rows show. */
export type LoadMetric = "deliveries/s" | "p50 ms" | "p99 ms" | "peak RSS MiB";

/** A `chat bench` run against ours and ncat. */
export interface LoadScenario {
  kind: "load";
  /** What the table calls it. */
  name: string;
  clients: number;
  senders: number;
  messages: number;
  size: number;
  /** Messages per second per sender; undefined: as fast as possible. */
  rate?: number;
  /** What the table shows of it (peak RSS: the server's, over the run). */
  metrics: readonly LoadMetric[];
  /** Issue 15's target for a metric, when it has one. */
  targets?: Partial<Record<LoadMetric, Target>>;
  /** Whether `chat bench` is run too, against our server, to compare it with chatload. */
  generators?: boolean;
}

/** One new client's full replay of a filled history (ours only). */
export interface ReplayScenario {
  kind: "replay";
  name: string;
  messages: number;
  size: number;
}

/** Many idle logged-in clients: the server's memory per client (ours only). */
export interface ScaleScenario {
  kind: "scale";
  name: string;
  clients: number;
  /** How long the server's memory is left to settle once all are logged in, before it is read. */
  settleMs: number;
  /** Issue 15's target for the memory per client. */
  target?: Target;
}

export type Scenario = LoadScenario | ReplayScenario | ScaleScenario;

/** Issue 15: fan-out deliveries/s at least the reference's. */
const AS_FAST: Target = { against: "reference", op: "≥", limit: 1 };
/** Issue 15: p99 at most the reference's. */
const AS_QUICK: Target = { against: "reference", op: "≤", limit: 1 };
/** Issue 15: peak RSS at N=1000 at most 1.5 times the reference's. */
const MEMORY_AT_1000: Target = { against: "reference", op: "≤", limit: 1.5 };
/** Issue 15: peak RSS at N=10 at most 64 MiB. */
const MEMORY_AT_10: Target = { against: "value", op: "≤", limit: 64, unit: "MiB" };
/** Issue 15: at most 30 KiB per idle client. */
const MEMORY_PER_CLIENT: Target = { against: "value", op: "≤", limit: 30, unit: "KiB" };

function fanOut(
  clients: number,
  senders: number,
  messages: number,
  memory?: Target,
): LoadScenario {
  return {
    kind: "load",
    name: `fan-out N=${clients} S=${senders} M=${messages} B=100`,
    clients,
    senders,
    messages,
    size: 100,
    metrics: memory ? ["deliveries/s", "peak RSS MiB"] : ["deliveries/s"],
    targets: { "deliveries/s": AS_FAST, ...memory ? { "peak RSS MiB": memory } : {} },
    generators: true,
  };
}

function steady(
  clients: number,
  senders: number,
  messages: number,
  rate: number,
): LoadScenario {
  return {
    kind: "load",
    name: `latency N=${clients} S=${senders} M=${messages} R=${rate}/s B=100`,
    clients,
    senders,
    messages,
    size: 100,
    rate,
    metrics: ["p50 ms", "p99 ms"],
    targets: { "p99 ms": AS_QUICK },
  };
}

/** The full run of `deno task bench`: issue 15's table. */
export const FULL_SCENARIOS: readonly Scenario[] = [
  fanOut(10, 1, 20_000, MEMORY_AT_10),
  fanOut(100, 1, 10_000),
  fanOut(100, 10, 1_000),
  fanOut(1_000, 1, 500, MEMORY_AT_1000),
  steady(100, 1, 1_000, 200),
  steady(1_000, 10, 100, 10),
  { kind: "replay", name: "replay 1,000,000 × 100 B", messages: 1_000_000, size: 100 },
  {
    kind: "scale",
    name: "scale 10,000 idle clients",
    clients: 10_000,
    settleMs: 2_000,
    target: MEMORY_PER_CLIENT,
  },
];

/** The scenario without issue 15's targets, which are about the full sizes. */
function untargeted<T extends Scenario>(scenario: T): T {
  return { ...scenario, targets: undefined, target: undefined };
}

/** `deno task bench --quick`: every kind of scenario, small enough for CI (no targets). */
export const QUICK_SCENARIOS: readonly Scenario[] = ([
  fanOut(5, 1, 300, MEMORY_AT_10),
  fanOut(20, 4, 50, MEMORY_AT_1000),
  steady(5, 1, 40, 200),
  { kind: "replay", name: "replay 5,000 × 100 B", messages: 5_000, size: 100 },
  { kind: "scale", name: "scale 200 idle clients", clients: 200, settleMs: 200 },
] satisfies Scenario[]).map(untargeted);

/**
 * `deno task bench --redis`: the same server through Redis, one against
 * three (clients spread round-robin over them), beside one without Redis.
 */
export const REDIS_SCENARIOS: readonly LoadScenario[] = [
  fanOut(100, 1, 2_000),
  steady(100, 1, 1_000, 200),
];

/** `deno task bench --redis --quick`. */
export const QUICK_REDIS_SCENARIOS: readonly LoadScenario[] = [
  fanOut(6, 1, 300),
  steady(6, 1, 40, 200),
];

/** The `chat bench` flags of a load scenario (without address, trust and --raw). */
export function benchFlags(scenario: LoadScenario): string[] {
  const flags = [
    "--clients",
    String(scenario.clients),
    "--senders",
    String(scenario.senders),
    "--messages",
    String(scenario.messages),
    "--size",
    String(scenario.size),
  ];
  if (scenario.rate !== undefined) flags.push("--rate", String(scenario.rate));
  return flags;
}
