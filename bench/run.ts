// `deno task bench`: our server against `ncat -l --chat --ssl`, on this
// machine, in one run. Each scenario of bench/scenarios.ts runs N times
// (3; 1 with --quick) against a fresh server process of each kind, through
// `chat bench` in its own process (so the generator never shares a process
// with what it measures), and the medians go into a markdown table on
// stdout; progress goes to stderr. The replay and idle-clients scenarios
// measure ours only. Exit status 1 when a run against our server lost or
// duplicated a message or failed; ncat's problems are reported, not fatal.
//
//   deno task bench [--quick] [--runs N] [--no-ncat] [--workers K] [--json]
//   deno task bench --redis [--quick] [--runs N] [--workers K] [--json]
//
// `--redis` runs bench/redis.ts instead: one server without Redis, one with,
// and three sharing one chat through a private redis-server.
//
// Linux only (sh, ulimit, /proc); needs openssl, and ncat (installed with
// apt-get when missing, which needs root); redis-server for --redis.

import { intFlag } from "../lib/cli.ts";
import { chooseDialer } from "../lib/bench/dial.ts";
import {
  type Child,
  cpuSnapshot,
  cpuUse,
  describeCpu,
  ensureNcat,
  ensureTool,
  freePort,
  makeCertificate,
  residentKiB,
  run,
  startNcat,
  startOurServer,
  watchPeakMemory,
} from "./processes.ts";
import { fillHistory, timeReplay } from "./replay.ts";
import {
  benchFlags,
  FULL_SCENARIOS,
  type LoadScenario,
  QUICK_REDIS_SCENARIOS,
  QUICK_SCENARIOS,
  REDIS_SCENARIOS,
  type ReplayScenario,
  type ScaleScenario,
} from "./scenarios.ts";
import {
  formatColumns,
  formatFigure,
  formatTable,
  median,
  type Row,
  type RunFigure,
} from "./table.ts";
import { MAX_WORKERS } from "../lib/bench/load.ts";
import { REDIS_BASE_COLUMN, REDIS_CONFIGURATIONS, redisComparison } from "./redis.ts";
import {
  BENCH_IDLE_TIMEOUT_S,
  benchProcess,
  type BenchTarget,
  DENO,
  describeMachine,
  describeReport,
  figureOf,
  loadFigure,
  log,
  MAIN,
  METRIC_NAMES,
  type Outcome,
  scriptFlags,
  serverPermissions,
  write,
} from "./harness.ts";
import { errorMessage } from "../lib/errors.ts";

const USAGE = `Usage: deno task bench [--quick] [--runs N] [--no-ncat] [--workers K] [--json]
       deno task bench --redis [--quick] [--runs N] [--workers K] [--json]

Runs the benchmark scenarios against our server and ncat --chat --ssl, and
prints a markdown table of the medians.

  --quick      tiny scenarios, one run each (the CI smoke test)
  --runs N     runs per scenario and server (default 3; 1 with --quick)
  --no-ncat    measure our server only
  --workers K  run each chat bench with --workers K (its clients spread over K threads)
  --redis      instead: one server without Redis, one with Redis and three sharing
               one chat through Redis (a private redis-server per run), side by side
  --json       print one JSON object (machine, rows, table) instead of markdown
`;

const FLAGS = {
  quick: { type: "boolean" },
  runs: { type: "string" },
  "no-ncat": { type: "boolean" },
  workers: { type: "string" },
  redis: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Where the servers under test are, and how to trust them. */
interface Targets {
  dir: string;
  permissions: string[];
  /** Flags every `chat bench` gets besides the scenario's (`--workers K`). */
  benchExtra: string[];
  ncat?: { path: string; cert: string; key: string };
  ncatMissing?: string;
}

/** A fresh server of one kind, for one run. */
interface Started extends BenchTarget {
  child: Child;
}

async function startTarget(targets: Targets, kind: "ours" | "ncat"): Promise<Started> {
  if (kind === "ours") {
    const server = await startOurServer(DENO, targets.permissions, MAIN, targets.dir);
    return {
      addr: `127.0.0.1:${server.port}`,
      ca: server.certPath,
      raw: false,
      child: server.child,
    };
  }
  const ncat = targets.ncat!;
  const port = freePort();
  const pem = await Deno.readTextFile(ncat.cert);
  const started = await startNcat(ncat.path, ncat.cert, ncat.key, port, async () => {
    const { dial } = await chooseDialer("127.0.0.1", port, { kind: "ca", pem });
    await (await dial({ data() {}, closed() {} })).close();
  });
  return { addr: `127.0.0.1:${port}`, ca: ncat.cert, raw: true, child: started.child };
}

async function loadScenario(
  targets: Targets,
  scenario: LoadScenario,
  runs: number,
): Promise<Row[]> {
  const kinds = targets.ncat ? (["ours", "ncat"] as const) : (["ours"] as const);
  type Measured = { report: Outcome; peakKiB: number; cpu?: RunFigure["cpu"] };
  const measured: Record<"ours" | "ncat", Measured[]> = { ours: [], ncat: [] };
  for (let i = 1; i <= runs; i++) {
    for (const kind of kinds) {
      let report: Outcome;
      let peakKiB = NaN;
      let cpu: RunFigure["cpu"];
      try {
        const target = await startTarget(targets, kind);
        // A fresh server per run: its peak is this run's (startup included, which is small).
        const memory = watchPeakMemory(target.child.pid);
        const before = await cpuSnapshot([target.child.pid]);
        try {
          report = await benchProcess(target, [...benchFlags(scenario), ...targets.benchExtra]);
        } finally {
          cpu = cpuUse(before, await cpuSnapshot([target.child.pid]));
          peakKiB = await memory.stop();
          await target.child.stop();
        }
      } catch (error) {
        report = { failure: errorMessage(error) };
      }
      measured[kind].push({ report, peakKiB, cpu });
      const memoryNote = scenario.metrics.includes("peak RSS MiB")
        ? `, server peak RSS ${formatFigure(peakKiB / 1024)} MiB`
        : "";
      log(
        `  ${scenario.name}, ${kind} run ${i}/${runs}: ${describeReport(report)}${memoryNote}${
          cpu === undefined ? "" : `; ${describeCpu(cpu)}`
        }\n`,
      );
    }
  }
  return scenario.metrics.map((metric) => {
    const pick = ({ report, peakKiB, cpu }: Measured) => ({
      ...loadFigure(metric, report, peakKiB),
      cpu,
    });
    return {
      scenario: scenario.name,
      metric: METRIC_NAMES[metric],
      better: metric === "deliveries/s" ? "higher" : "lower",
      ours: measured.ours.map(pick),
      ncat: targets.ncat ? measured.ncat.map(pick) : targets.ncatMissing,
    };
  });
}

async function replayScenario(
  targets: Targets,
  scenario: ReplayScenario,
  runs: number,
): Promise<Row[]> {
  const target = await startTarget(targets, "ours");
  const seconds: RunFigure[] = [];
  const rate: RunFigure[] = [];
  let memory: RunFigure[] = [];
  try {
    const pem = await Deno.readTextFile(target.ca);
    const port = Number(target.addr.split(":")[1]);
    const { dial } = await chooseDialer("127.0.0.1", port, { kind: "ca", pem });
    const timeout = BENCH_IDLE_TIMEOUT_S * 1000;
    const history = await fillHistory(dial, scenario.messages, scenario.size, timeout);
    log(`  ${scenario.name}: stored in ${history.seconds.toFixed(1)} s\n`);
    const rss = await residentKiB(target.child.pid);
    memory = [{ value: rss / 1024, lost: 0, duplicated: 0, outOfOrder: 0 }];
    for (let i = 1; i <= runs; i++) {
      const timing = await timeReplay(dial, history, i, timeout);
      const lost = scenario.messages - timing.messages;
      seconds.push({ value: timing.seconds, lost, duplicated: 0, outOfOrder: 0 });
      rate.push({ value: timing.megabytesPerSecond, lost, duplicated: 0, outOfOrder: 0 });
      log(
        `  ${scenario.name}, run ${i}/${runs}: ${timing.messages} messages, ${
          (timing.bytes / 1e6).toFixed(1)
        } MB in ${timing.seconds.toFixed(3)} s = ${timing.megabytesPerSecond.toFixed(0)} MB/s\n`,
      );
    }
  } catch (error) {
    const failure = errorMessage(error);
    log(`  ${scenario.name}: FAILED: ${failure}\n`);
    seconds.push({ value: NaN, lost: 0, duplicated: 0, outOfOrder: 0, failure });
    rate.push({ value: NaN, lost: 0, duplicated: 0, outOfOrder: 0, failure });
  } finally {
    await target.child.stop();
  }
  return [
    {
      scenario: scenario.name,
      metric: "one new client's full replay, s",
      better: "lower",
      ours: seconds,
    },
    { scenario: scenario.name, metric: "replay MB/s", better: "higher", ours: rate },
    {
      scenario: scenario.name,
      metric: "server RSS with the history, MiB",
      better: "lower",
      ours: memory,
    },
  ];
}

async function scaleScenario(
  targets: Targets,
  scenario: ScaleScenario,
  runs: number,
): Promise<Row[]> {
  const perClient: RunFigure[] = [];
  const login: RunFigure[] = [];
  for (let i = 1; i <= runs; i++) {
    const target = await startTarget(targets, "ours");
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const before = await residentKiB(target.child.pid);
      let during: Promise<number> | undefined;
      const report = await benchProcess(
        target,
        [
          "--clients",
          String(scenario.clients),
          "--senders",
          "0",
          "--hold",
          String(Math.ceil(scenario.settleMs / 1000) + 1),
          ...targets.benchExtra,
        ],
        (line) => {
          if (line.startsWith("holding ") && during === undefined) {
            during = new Promise((resolve) => setTimeout(resolve, scenario.settleMs))
              .then(() => residentKiB(target.child.pid));
          }
        },
      );
      const after = during === undefined ? NaN : await during;
      const kib = (after - before) / scenario.clients;
      perClient.push(figureOf(report, kib));
      login.push(figureOf(report, "ok" in report ? report.connectSeconds : NaN));
      log(
        `  ${scenario.name}, run ${i}/${runs}: server RSS ${(before / 1024).toFixed(0)} MiB → ${
          (after / 1024).toFixed(0)
        } MiB = ${kib.toFixed(1)} KiB per client; ${
          describeReport(report).replace(/^.*?lost/, "lost")
        }\n`,
      );
    } finally {
      await target.child.stop();
    }
  }
  return [
    {
      scenario: scenario.name,
      metric: "server RSS per client, KiB",
      better: "lower",
      ours: perClient,
    },
    {
      scenario: scenario.name,
      metric: "log in all (50 at a time), s",
      better: "lower",
      ours: login,
    },
  ];
}

/** This machine, this Deno, this commit: the table's context. */
async function main(args: string[]): Promise<number> {
  const values = scriptFlags("bench", args, FLAGS, USAGE);
  if (typeof values === "number") return values;
  const quick = values.quick === true;
  const runs = intFlag(values, "runs", quick ? 1 : 3, 1, 100);
  const workers = intFlag(values, "workers", 1, 1, MAX_WORKERS);
  const benchExtra = workers === 1 ? [] : ["--workers", String(workers)];
  if (values.redis) return await mainRedis(quick, runs, benchExtra, values.json === true);
  const scenarios = quick ? QUICK_SCENARIOS : FULL_SCENARIOS;
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-" });
  try {
    const targets: Targets = { dir, permissions: serverPermissions(), benchExtra };
    if (values["no-ncat"]) targets.ncatMissing = "--no-ncat";
    else {
      const found = await ensureNcat(log);
      if ("path" in found) targets.ncat = { path: found.path, ...await makeCertificate(dir) };
      else {
        targets.ncatMissing = found.missing;
        log(`ncat skipped: ${found.missing}\n`);
      }
    }
    const machine = await describeMachine(true);
    log(`bench: ${scenarios.length} scenarios, ${runs} run${runs === 1 ? "" : "s"} each\n`);
    const rows: Row[] = [];
    for (const [index, scenario] of scenarios.entries()) {
      log(`[${index + 1}/${scenarios.length}] ${scenario.name}\n`);
      try {
        if (scenario.kind === "load") rows.push(...await loadScenario(targets, scenario, runs));
        else if (scenario.kind === "replay") {
          rows.push(...await replayScenario(targets, scenario, runs));
        } else rows.push(...await scaleScenario(targets, scenario, runs));
      } catch (error) {
        const failure = errorMessage(error);
        log(`  ${scenario.name}: FAILED: ${failure}\n`);
        rows.push({
          scenario: scenario.name,
          metric: "failed",
          better: "higher",
          ours: [{ value: NaN, lost: 0, duplicated: 0, outOfOrder: 0, failure }],
        });
      }
    }
    const table = formatTable(rows);
    const ok = rows.every((row) =>
      row.ours.every((run) => run.failure === undefined && run.lost === 0 && run.duplicated === 0)
    );
    if (values.json) {
      const medians = rows.map((row) => ({
        scenario: row.scenario,
        metric: row.metric,
        ours: median(row.ours.map((run) => run.value)),
        ncat: Array.isArray(row.ncat) ? median(row.ncat.map((run) => run.value)) : null,
        runs: { ours: row.ours, ncat: row.ncat ?? null },
      }));
      write(
        Deno.stdout,
        JSON.stringify({
          ok,
          machine,
          runs,
          ncat: targets.ncatMissing ?? "measured",
          rows: medians,
          table,
        }) + "\n",
      );
    } else {
      const context = Object.entries(machine).map(([key, value]) => `- ${key}: ${value}`).join(
        "\n",
      );
      write(
        Deno.stdout,
        `${context}\n- runs per scenario: ${runs} (medians shown)${
          workers === 1 ? "" : `\n- chat bench --workers ${workers}`
        }\n\n${table}`,
      );
    }
    return ok ? 0 : 1;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `deno task bench --redis`: bench/redis.ts's comparison, as a table. */
async function mainRedis(
  quick: boolean,
  runs: number,
  benchExtra: string[],
  json: boolean,
): Promise<number> {
  const found = await ensureTool("redis-server", "redis-server", log);
  if (!("path" in found)) {
    log(`bench --redis: ${found.missing}\n`);
    return 1;
  }
  const scenarios = quick ? QUICK_REDIS_SCENARIOS : REDIS_SCENARIOS;
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-redis-" });
  try {
    const machine = {
      ...await describeMachine(false),
      redis: (await run(found.path, ["--version"])).trim(),
    };
    log(`bench --redis: ${scenarios.length} scenarios, ${runs} run${runs === 1 ? "" : "s"} each\n`);
    const rows = await redisComparison(scenarios, runs, dir, serverPermissions(), benchExtra);
    const headers = REDIS_CONFIGURATIONS.map((configuration) => configuration.name);
    const table = formatColumns(rows, headers, REDIS_BASE_COLUMN, "3 servers vs 1 (Redis)");
    const ok = rows.every((row) =>
      row.columns.every((column) =>
        column.every((run) => run.failure === undefined && run.lost === 0 && run.duplicated === 0)
      )
    );
    if (json) {
      const medians = rows.map((row) => ({
        scenario: row.scenario,
        metric: row.metric,
        medians: Object.fromEntries(
          headers.map((header, i) => [header, median(row.columns[i].map((run) => run.value))]),
        ),
        runs: Object.fromEntries(headers.map((header, i) => [header, row.columns[i]])),
      }));
      write(Deno.stdout, JSON.stringify({ ok, machine, runs, rows: medians, table }) + "\n");
    } else {
      const context = Object.entries(machine).map(([key, value]) => `- ${key}: ${value}`).join(
        "\n",
      );
      write(
        Deno.stdout,
        `${context}\n- runs per scenario: ${runs} (medians shown)${
          benchExtra.length === 0 ? "" : `\n- chat bench ${benchExtra.join(" ")}`
        }\n\n${table}`,
      );
    }
    return ok ? 0 : 1;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
