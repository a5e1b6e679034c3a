// What `deno task bench` measures: the scenarios of issue 4, and the tiny
// versions of them that `--quick` (the CI smoke test) runs.

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
}

export type Scenario = LoadScenario | ReplayScenario | ScaleScenario;

function fanOut(
  clients: number,
  senders: number,
  messages: number,
  memory = false,
): LoadScenario {
  return {
    kind: "load",
    name: `fan-out N=${clients} S=${senders} M=${messages} B=100`,
    clients,
    senders,
    messages,
    size: 100,
    metrics: memory ? ["deliveries/s", "peak RSS MiB"] : ["deliveries/s"],
  };
}

function steady(
  clients: number,
  senders: number,
  messages: number,
  rate: number,
  memory = false,
): LoadScenario {
  return {
    kind: "load",
    name: `latency N=${clients} S=${senders} M=${messages} R=${rate}/s B=100`,
    clients,
    senders,
    messages,
    size: 100,
    rate,
    metrics: memory ? ["p50 ms", "p99 ms", "peak RSS MiB"] : ["p50 ms", "p99 ms"],
  };
}

/** The full run of `deno task bench`. */
export const FULL_SCENARIOS: readonly Scenario[] = [
  fanOut(10, 1, 20_000),
  fanOut(100, 1, 2_000),
  fanOut(100, 10, 500),
  fanOut(1_000, 1, 200, true),
  steady(100, 1, 1_000, 200),
  steady(1_000, 10, 100, 10, true),
  { kind: "replay", name: "replay 1,000,000 × 100 B", messages: 1_000_000, size: 100 },
  { kind: "scale", name: "scale 10,000 idle clients", clients: 10_000, settleMs: 2_000 },
];

/** `deno task bench --quick`: every kind of scenario, small enough for CI. */
export const QUICK_SCENARIOS: readonly Scenario[] = [
  fanOut(5, 1, 300),
  fanOut(20, 4, 50, true),
  steady(5, 1, 40, 200),
  { kind: "replay", name: "replay 5,000 × 100 B", messages: 5_000, size: 100 },
  { kind: "scale", name: "scale 200 idle clients", clients: 200, settleMs: 200 },
];

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
