// Issue 15's comparison, one load scenario at a time: our server, the
// compiled reference (tokio-chat-server) and ncat, each measured with the
// same generator (chatload when it is built, `chat bench` otherwise), and,
// against our server, `chat bench` beside chatload. Every run gets a fresh
// server process; the order of the runs rotates from one repetition to the
// next (interleaved), so a burst of other work on this shared machine
// spreads over all columns instead of falling on one.

import { chooseDialer } from "../lib/bench/dial.ts";
import { errorMessage } from "../lib/errors.ts";
import {
  BENCH_HARD_LIMIT_MS,
  benchProcess,
  type BenchTarget,
  DENO,
  describeReport,
  loadFigure,
  log,
  MAIN,
  METRIC_NAMES,
  type Outcome,
} from "./harness.ts";
import { chatloadArgs, type Peers, runChatload, startPeerServer } from "./peers.ts";
import {
  type Child,
  cpuSnapshot,
  cpuUse,
  describeCpu,
  freePort,
  startNcat,
  startOurServer,
  watchPeakMemory,
} from "./processes.ts";
import { benchFlags, type LoadScenario } from "./scenarios.ts";
import { type ComparisonRow, formatFigure, type RunFigure, type Target } from "./table.ts";

/** The servers of the table, in the order of its columns. */
export const SERVERS = ["ours", "tokio", "ncat"] as const;
export type ServerKind = typeof SERVERS[number];
/** What the table calls them (tokio: tokio-chat-server; ncat: `ncat -l --chat --ssl`). */
export const SERVER_HEADERS = ["ours", "tokio", "ncat"];
/** The generators' table: `chat bench` against chatload, both against our server. */
export const GENERATOR_HEADERS = ["chat bench", "chatload"];
/** Issue 15: `chat bench` within 10 % of chatload's deliveries/s against the same server. */
export const GENERATOR_TARGET: Target = { against: "reference", op: "≥", limit: 0.9 };

export type Generator = "chatload" | "chat bench";

/** Where the servers under test come from, and how they are measured. */
export interface Targets {
  /** A temporary folder for the servers' files. */
  dir: string;
  /** `deno run` permission flags for our server and `chat bench`. */
  permissions: string[];
  /** Flags every `chat bench` gets besides the scenario's (`--workers K`). */
  benchExtra: string[];
  /** The one certificate (CA:FALSE, P-256) every server serves. */
  cert: string;
  key: string;
  /** ncat's path, or why it is not measured. */
  ncat: string | { missing: string };
  /** The reference peers, as far as they were found. */
  peers: Peers;
}

/** A fresh server of one kind, for one run. */
interface Started extends BenchTarget {
  child: Child;
  port: number;
}

/** Starts a fresh server of `kind`. */
export async function startServerOf(targets: Targets, kind: ServerKind): Promise<Started> {
  const { cert, key } = targets;
  if (kind === "ours") {
    const server = await startOurServer(DENO, targets.permissions, MAIN, targets.dir, [
      "--cert",
      cert,
      "--key",
      key,
    ]);
    const port = server.port;
    return { addr: `127.0.0.1:${port}`, ca: cert, raw: false, child: server.child, port };
  }
  if (kind === "tokio") {
    const peer = await startPeerServer(targets.peers.server!, cert, key);
    return {
      addr: `127.0.0.1:${peer.port}`,
      ca: cert,
      raw: false,
      child: peer.child,
      port: peer.port,
    };
  }
  const port = freePort();
  const pem = await Deno.readTextFile(cert);
  const started = await startNcat(targets.ncat as string, cert, key, port, async () => {
    const { dial } = await chooseDialer("127.0.0.1", port, { kind: "ca", pem });
    await (await dial({ data() {}, closed() {} })).close();
  });
  return { addr: `127.0.0.1:${port}`, ca: cert, raw: true, child: started.child, port };
}

/** Why a server is not in the table, or undefined when it is. */
export function absence(targets: Targets, kind: ServerKind): string | undefined {
  if (kind === "tokio") return targets.peers.server ? undefined : targets.peers.missing;
  if (kind === "ncat") return typeof targets.ncat === "string" ? undefined : targets.ncat.missing;
  return undefined;
}

/** The generator the table's columns are measured with. */
export function primaryGenerator(targets: Targets): Generator {
  return targets.peers.generator ? "chatload" : "chat bench";
}

/** One measured run. */
interface Measured {
  report: Outcome;
  peakKiB: number;
  cpu?: RunFigure["cpu"];
}

/** One run of `scenario` against a fresh server of `kind`, driven by `generator`. */
async function measure(
  targets: Targets,
  scenario: LoadScenario,
  kind: ServerKind,
  generator: Generator,
): Promise<Measured> {
  let report: Outcome;
  let peakKiB = NaN;
  let cpu: RunFigure["cpu"];
  try {
    const target = await startServerOf(targets, kind);
    // A fresh server per run: its peak is this run's (startup included, which is small).
    const memory = watchPeakMemory(target.child.pid);
    const before = await cpuSnapshot([target.child.pid]);
    try {
      report = generator === "chatload"
        ? await runChatload(
          targets.peers.generator!,
          chatloadArgs(scenario, target.port, target.raw),
          BENCH_HARD_LIMIT_MS,
        )
        : await benchProcess(target, [...benchFlags(scenario), ...targets.benchExtra]);
    } finally {
      cpu = cpuUse(before, await cpuSnapshot([target.child.pid]));
      peakKiB = await memory.stop();
      await target.child.stop();
    }
  } catch (error) {
    report = { failure: errorMessage(error) };
  }
  return { report, peakKiB, cpu };
}

/** Issue 15's rows of one load scenario, and (when both generators ran) the generators' rows. */
export interface ScenarioRows {
  rows: ComparisonRow[];
  generators: ComparisonRow[];
}

/**
 * Runs `scenario` `runs` times against every server of the table (and,
 * with chatload and `scenario.generators`, `chat bench` against ours),
 * interleaved, and turns the runs into rows.
 */
export async function compareScenario(
  targets: Targets,
  scenario: LoadScenario,
  runs: number,
): Promise<ScenarioRows> {
  const generator = primaryGenerator(targets);
  const plan: { kind: ServerKind; generator: Generator }[] = SERVERS
    .filter((kind) => absence(targets, kind) === undefined)
    .map((kind) => ({ kind, generator }));
  const compareGenerators = generator === "chatload" && scenario.generators === true;
  if (compareGenerators) plan.push({ kind: "ours", generator: "chat bench" });
  const measured = new Map<string, Measured[]>();
  for (let i = 0; i < runs; i++) {
    // Interleaved: each repetition starts one further along the plan.
    for (let step = 0; step < plan.length; step++) {
      const { kind, generator: by } = plan[(i + step) % plan.length];
      const run = await measure(targets, scenario, kind, by);
      const key = `${kind}/${by}`;
      measured.set(key, [...measured.get(key) ?? [], run]);
      const memoryNote = scenario.metrics.includes("peak RSS MiB")
        ? `, server peak RSS ${formatFigure(run.peakKiB / 1024)} MiB`
        : "";
      log(
        `  ${scenario.name}, ${kind} with ${by}, run ${i + 1}/${runs}: ${
          describeReport(run.report)
        }${memoryNote}${run.cpu === undefined ? "" : `; ${describeCpu(run.cpu, kind, by)}`}\n`,
      );
    }
  }
  const figures = (key: string, metric: LoadScenario["metrics"][number]) =>
    (measured.get(key) ?? []).map(({ report, peakKiB, cpu }) => ({
      ...loadFigure(metric, report, peakKiB),
      cpu,
    }));
  const rows = scenario.metrics.map((metric): ComparisonRow => ({
    scenario: scenario.name,
    metric: METRIC_NAMES[metric],
    columns: SERVERS.map((kind) =>
      absence(targets, kind) ?? figures(`${kind}/${generator}`, metric)
    ),
    target: scenario.targets?.[metric],
  }));
  if (!compareGenerators) return { rows, generators: [] };
  const cpuOf = (key: string) =>
    (measured.get(key) ?? []).map(({ report, cpu }) => ({
      ...loadFigure("deliveries/s", report, NaN),
      value: cpu?.bench ?? NaN,
    }));
  const generators: ComparisonRow[] = [
    {
      scenario: scenario.name,
      metric: "deliveries/s against ours",
      columns: [
        figures("ours/chat bench", "deliveries/s"),
        figures("ours/chatload", "deliveries/s"),
      ],
      target: GENERATOR_TARGET,
    },
    {
      scenario: scenario.name,
      metric: "generator CPU s (startup included)",
      columns: [cpuOf("ours/chat bench"), cpuOf("ours/chatload")],
    },
  ];
  return { rows, generators };
}
