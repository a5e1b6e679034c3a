// `deno task bench`: issue 15's table. Our server beside the compiled
// reference (tokio-chat-server) and `ncat -l --chat --ssl`, all measured by
// chatload (bench/peers.ts), with ratios and the issue's targets; then
// `chat bench` beside chatload against our server. Each load scenario runs
// N times (3; 1 with --quick) against a fresh server process of each kind,
// interleaved (bench/comparison.ts), and the medians go into markdown
// tables on stdout; progress goes to stderr. The reference peers live
// outside the repository: without them (not built, or --no-peers) the
// table is ours and ncat measured by `chat bench`, with one line saying how
// to build them. The replay scenario measures ours only; the idle-clients
// one ours and the reference. Exit status 1 when a run against our server
// lost or duplicated a message or failed; the others' problems are
// reported, not fatal.
//
//   deno task bench [--quick] [--runs N] [--no-ncat] [--no-peers] [--peers DIR] [--workers K] [--json]
//   deno task bench --redis [--quick] [--runs N] [--workers K] [--json]
//   deno task bench --churn [--quick] [--runs N] [--workers K] [--json]
//
// `--redis` runs bench/redis.ts instead: one server without Redis, one with,
// and three sharing one chat through a private redis-server. `--churn` runs
// bench/churn_chat.ts: logins and logouts beside a steady chat, with and
// without presence.
//
// Linux only (sh, ulimit, /proc); needs openssl, and ncat (installed with
// apt-get when missing, which needs root); redis-server for --redis.

import { intFlag } from "../lib/cli.ts";
import { chooseDialer } from "../lib/bench/dial.ts";
import { MAX_WORKERS } from "../lib/bench/load.ts";
import { errorMessage } from "../lib/errors.ts";
import {
  absence,
  compareScenario,
  GENERATOR_HEADERS,
  primaryGenerator,
  SERVER_HEADERS,
  type ServerKind,
  SERVERS,
  startServerOf,
  type Targets,
} from "./comparison.ts";
import {
  BENCH_IDLE_TIMEOUT_S,
  benchProcess,
  describeMachine,
  describeReport,
  figureOf,
  loadAverage,
  log,
  scriptFlags,
  serverPermissions,
  write,
} from "./harness.ts";
import { findPeers, PEER_SERVER_MAX_CLIENTS, type Peers, peersDir } from "./peers.ts";
import { ensureNcat, ensureTool, makeCertificate, residentKiB, run } from "./processes.ts";
import { REDIS_BASE_COLUMN, REDIS_CONFIGURATIONS, redisComparison } from "./redis.ts";
import { fillHistory, timeReplay } from "./replay.ts";
import {
  FULL_SCENARIOS,
  QUICK_REDIS_SCENARIOS,
  QUICK_SCENARIOS,
  REDIS_SCENARIOS,
  type ReplayScenario,
  type ScaleScenario,
} from "./scenarios.ts";
import {
  columnMedians,
  columnsOk,
  type ComparisonRow,
  formatColumns,
  formatComparison,
  median,
  meetsTarget,
  type RunFigure,
} from "./table.ts";
import { mainChurn } from "./churn_chat.ts";

const USAGE =
  `Usage: deno task bench [--quick] [--runs N] [--no-ncat] [--no-peers] [--peers DIR] [--workers K] [--json]
       deno task bench --redis [--quick] [--runs N] [--workers K] [--json]
       deno task bench --churn [--quick] [--runs N] [--workers K] [--json]

Runs the benchmark scenarios against our server, the compiled reference
(tokio-chat-server) and ncat --chat --ssl, measured by chatload, and prints
a markdown table of the medians with ratios and issue 15's targets; then
chat bench beside chatload against our server. Without the reference peers
(../shared/peers, built by its setup.sh) chat bench measures ours and ncat.

  --quick      tiny scenarios, one run each (the CI smoke test)
  --runs N     runs per scenario and server (default 3; 1 with --quick)
  --no-ncat    leave ncat out
  --no-peers   leave the reference peers out (chat bench measures)
  --peers DIR  where tokio-chat-server and chatload are (default: $PEERS_DIR,
               else $PEERS_TARGET/release, else ~/.cache/chat-peers/release)
  --workers K  run each chat bench with --workers K (its clients spread over K threads)
  --redis      instead: one server without Redis, one with Redis and three sharing
               one chat through Redis (a private redis-server per run), side by side
  --churn      instead: logins and logouts at 200/s beside 10,000 connected clients and a
               steady chat, without churn, with churn and no presence, with presence
  --json       print one JSON object (machine, rows, tables) instead of markdown
`;

const FLAGS = {
  quick: { type: "boolean" },
  runs: { type: "string" },
  "no-ncat": { type: "boolean" },
  "no-peers": { type: "boolean" },
  peers: { type: "string" },
  workers: { type: "string" },
  redis: { type: "boolean" },
  churn: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Columns of a row measured for ours only. */
const OURS_ONLY = ["ours only", "ours only"];

async function replayScenario(
  targets: Targets,
  scenario: ReplayScenario,
  runs: number,
): Promise<ComparisonRow[]> {
  const target = await startServerOf(targets, "ours");
  const seconds: RunFigure[] = [];
  const rate: RunFigure[] = [];
  let memory: RunFigure[] = [];
  try {
    const pem = await Deno.readTextFile(target.ca);
    const { dial } = await chooseDialer("127.0.0.1", target.port, { kind: "ca", pem });
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
  const row = (metric: string, runs: RunFigure[]): ComparisonRow => ({
    scenario: scenario.name,
    metric,
    columns: [runs, ...OURS_ONLY],
  });
  return [
    row("one new client's full replay, s", seconds),
    row("replay MB/s", rate),
    row("server RSS with the history, MiB", memory),
  ];
}

/**
 * Idle clients: the server's memory per logged-in client, ours and the
 * reference's (at most {@linkcode PEER_SERVER_MAX_CLIENTS} for it), each
 * held by `chat bench --senders 0 --hold` (chatload cannot hold).
 */
async function scaleScenario(
  targets: Targets,
  scenario: ScaleScenario,
  runs: number,
): Promise<ComparisonRow[]> {
  const kinds = (["ours", "tokio"] as const).filter((kind) => absence(targets, kind) === undefined);
  const perClient = new Map<ServerKind, RunFigure[]>();
  const login = new Map<ServerKind, RunFigure[]>();
  for (let i = 0; i < runs; i++) {
    for (let step = 0; step < kinds.length; step++) {
      const kind = kinds[(i + step) % kinds.length];
      const clients = kind === "tokio"
        ? Math.min(scenario.clients, PEER_SERVER_MAX_CLIENTS)
        : scenario.clients;
      const target = await startServerOf(targets, kind);
      try {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const before = await residentKiB(target.child.pid);
        let during: Promise<number> | undefined;
        const report = await benchProcess(
          target,
          [
            "--clients",
            String(clients),
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
        const kib = (after - before) / clients;
        perClient.set(kind, [...perClient.get(kind) ?? [], figureOf(report, kib)]);
        const seconds = figureOf(report, "ok" in report ? report.connectSeconds : NaN);
        login.set(kind, [...login.get(kind) ?? [], seconds]);
        log(
          `  ${scenario.name}, ${kind} with ${clients} clients, run ${i + 1}/${runs}: server RSS ${
            (before / 1024).toFixed(0)
          } MiB → ${(after / 1024).toFixed(0)} MiB = ${kib.toFixed(1)} KiB per client; ${
            describeReport(report).replace(/^.*?lost/, "lost")
          }\n`,
        );
      } finally {
        await target.child.stop();
      }
    }
  }
  const columns = (figures: Map<ServerKind, RunFigure[]>) =>
    SERVERS.map((kind) =>
      kind === "ncat" ? "not measured" : absence(targets, kind) ?? figures.get(kind) ?? []
    );
  return [
    {
      scenario: scenario.name,
      metric: "server RSS per client, KiB",
      columns: columns(perClient),
      target: scenario.target,
    },
    { scenario: scenario.name, metric: "log in all (50 at a time), s", columns: columns(login) },
  ];
}

/** Whether every run of the first column (ours, or chat bench against ours) went right. */
function firstColumnClean(rows: readonly ComparisonRow[]): boolean {
  return rows.every((row) => {
    const ours = row.columns[0];
    return typeof ours === "string" ||
      ours.every((run) => run.failure === undefined && run.lost === 0 && run.duplicated === 0);
  });
}

/** A row as JSON: the medians and runs of each column by header, the target and whether it is met. */
function rowJson(row: ComparisonRow, headers: readonly string[]) {
  const byHeader = <T>(f: (runs: RunFigure[] | string) => T) =>
    Object.fromEntries(headers.map((header, i) => [header, f(row.columns[i] ?? "not measured")]));
  return {
    scenario: row.scenario,
    metric: row.metric,
    medians: byHeader((runs) =>
      typeof runs === "string" ? null : median(runs.map((run) => run.value))
    ),
    runs: byHeader((runs) => runs),
    target: row.target ?? null,
    met: meetsTarget(row) ?? null,
  };
}

async function main(args: string[]): Promise<number> {
  const values = scriptFlags("bench", args, FLAGS, USAGE);
  if (typeof values === "number") return values;
  const quick = values.quick === true;
  const runs = intFlag(values, "runs", quick ? 1 : 3, 1, 100);
  const workers = intFlag(values, "workers", 1, 1, MAX_WORKERS);
  const benchExtra = workers === 1 ? [] : ["--workers", String(workers)];
  if (values.redis) return await mainRedis(quick, runs, benchExtra, values.json === true);
  if (values.churn) return await mainChurn(quick, runs, benchExtra, values.json === true);
  const scenarios = quick ? QUICK_SCENARIOS : FULL_SCENARIOS;
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-" });
  try {
    let ncat: Targets["ncat"] = { missing: "--no-ncat" };
    if (!values["no-ncat"]) {
      const found = await ensureNcat(log);
      ncat = "path" in found ? found.path : found;
      if (!("path" in found)) log(`ncat skipped: ${found.missing}\n`);
    }
    let peers: Peers;
    if (values["no-peers"]) peers = { dir: "", missing: "--no-peers" };
    else {
      const env = (name: string) => Deno.env.get(name);
      const where = peersDir(values.peers as string | undefined, {
        PEERS_DIR: env("PEERS_DIR"),
        PEERS_TARGET: env("PEERS_TARGET"),
        HOME: env("HOME"),
      });
      peers = await findPeers(where);
      if (peers.missing !== undefined) log(`reference peers: ${peers.missing}\n`);
    }
    const { cert, key } = await makeCertificate(dir, false, "bench");
    const targets: Targets = {
      dir,
      permissions: serverPermissions(),
      benchExtra,
      cert,
      key,
      ncat,
      peers,
    };
    const machine = await describeMachine(typeof ncat === "string");
    const generator = primaryGenerator(targets);
    log(
      `bench: ${scenarios.length} scenarios, ${runs} run${
        runs === 1 ? "" : "s"
      } each, measured by ${generator}\n`,
    );
    const rows: ComparisonRow[] = [];
    const generatorRows: ComparisonRow[] = [];
    for (const [index, scenario] of scenarios.entries()) {
      log(`[${index + 1}/${scenarios.length}] ${scenario.name}\n`);
      try {
        if (scenario.kind === "load") {
          const measured = await compareScenario(targets, scenario, runs);
          rows.push(...measured.rows);
          generatorRows.push(...measured.generators);
        } else if (scenario.kind === "replay") {
          rows.push(...await replayScenario(targets, scenario, runs));
        } else rows.push(...await scaleScenario(targets, scenario, runs));
      } catch (error) {
        const failure = errorMessage(error);
        log(`  ${scenario.name}: FAILED: ${failure}\n`);
        rows.push({
          scenario: scenario.name,
          metric: "failed",
          columns: [[{ value: NaN, lost: 0, duplicated: 0, outOfOrder: 0, failure }], ...OURS_ONLY],
        });
      }
    }
    machine["load average at the end"] = await loadAverage();
    const table = formatComparison(rows, SERVER_HEADERS);
    const generatorTable = generatorRows.length === 0
      ? undefined
      : formatComparison(generatorRows, GENERATOR_HEADERS);
    const ok = firstColumnClean(rows) && firstColumnClean(generatorRows);
    const measuredBy = `measured by ${generator}${
      generator === "chatload" ? "" : ` (chatload: ${peers.missing})`
    }`;
    if (values.json) {
      write(
        Deno.stdout,
        JSON.stringify({
          ok,
          machine,
          runs,
          generator,
          peers: peers.missing ?? "measured",
          ncat: typeof ncat === "string" ? "measured" : ncat.missing,
          rows: rows.map((row) => rowJson(row, SERVER_HEADERS)),
          generators: generatorRows.map((row) => rowJson(row, GENERATOR_HEADERS)),
          table,
          generatorTable: generatorTable ?? null,
        }) + "\n",
      );
    } else {
      const context = Object.entries(machine).map(([key, value]) => `- ${key}: ${value}`).join(
        "\n",
      );
      const notes = [
        `- runs per scenario and server: ${runs} (medians shown), interleaved, a fresh server per run`,
        `- every server ${measuredBy}; tokio: tokio-chat-server, ncat: ncat -l --chat --ssl`,
        "- ratios are plain quotients (ours ÷ the other): above 1 is better for deliveries/s, worse for latency and memory",
        ...(peers.missing === undefined ? [] : [`- reference: ${peers.missing}`]),
        ...(typeof ncat === "string" ? [] : [`- ncat: ${ncat.missing}`]),
        ...(workers === 1 ? [] : [`- chat bench --workers ${workers}`]),
      ];
      write(
        Deno.stdout,
        `${context}\n${notes.join("\n")}\n\n${table}${
          generatorTable === undefined
            ? ""
            : `\nchat bench beside chatload, both against our server:\n\n${generatorTable}`
        }`,
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
    const ok = columnsOk(rows);
    if (json) {
      const medians = columnMedians(rows, headers);
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
