// `deno task bench --redis`: several of our servers sharing one chat through
// Redis (`chat server --redis URL`), measured the way bench/run.ts measures
// one: the same `chat bench` scenarios against one server without Redis,
// one server with Redis, and three servers with Redis, the clients spread
// round-robin over the three (`chat bench --addr a,b,c`). Every run gets a
// fresh private redis-server (`--save '' --appendonly no`: nothing on disk)
// and fresh servers, so no run replays another's history.

import {
  cpuSnapshot,
  cpuUse,
  describeCpu,
  type RunningServer,
  startOurServer,
  startRedis,
  startSharedServers,
} from "./processes.ts";
import { benchFlags, type LoadScenario } from "./scenarios.ts";
import type { ColumnRow } from "./table.ts";
import {
  benchProcess,
  DENO,
  describeReport,
  loadFigure,
  log,
  MAIN,
  METRIC_NAMES,
  type Outcome,
} from "./harness.ts";
import { errorMessage } from "../lib/errors.ts";

/** The configurations compared, in the table's order. */
export const REDIS_CONFIGURATIONS = [
  { name: "1 server, no Redis", servers: 1, redis: false },
  { name: "1 server, Redis", servers: 1, redis: true },
  { name: "3 servers, Redis", servers: 3, redis: true },
] as const;

/** The column the ratio is taken against: one server through Redis. */
export const REDIS_BASE_COLUMN = 1;

/**
 * Runs every scenario `runs` times against each configuration (the
 * configurations taking turns, so a noisy moment of the machine does not
 * fall on one of them only); one row per metric, one column per
 * configuration.
 */
export async function redisComparison(
  scenarios: readonly LoadScenario[],
  runs: number,
  dir: string,
  permissions: string[],
  benchExtra: string[],
): Promise<ColumnRow[]> {
  const rows: ColumnRow[] = [];
  for (const [index, scenario] of scenarios.entries()) {
    log(`[${index + 1}/${scenarios.length}] ${scenario.name}, through Redis\n`);
    const outcomes: Outcome[][] = REDIS_CONFIGURATIONS.map(() => []);
    for (let i = 1; i <= runs; i++) {
      for (const [c, configuration] of REDIS_CONFIGURATIONS.entries()) {
        let outcome: Outcome;
        let cpu = "";
        try {
          outcome = await runOnce(
            configuration,
            scenario,
            dir,
            permissions,
            benchExtra,
            (note) => cpu = `; ${note}`,
          );
        } catch (error) {
          outcome = { failure: errorMessage(error) };
        }
        outcomes[c].push(outcome);
        log(
          `  ${scenario.name}, ${configuration.name}, run ${i}/${runs}: ${
            describeReport(outcome)
          }${cpu}\n`,
        );
      }
    }
    for (const metric of scenario.metrics) {
      if (metric === "peak RSS MiB") continue; // Measured in the main table.
      rows.push({
        scenario: scenario.name,
        metric: METRIC_NAMES[metric],
        better: metric === "deliveries/s" ? "higher" : "lower",
        columns: outcomes.map((column) =>
          column.map((outcome) => loadFigure(metric, outcome, NaN))
        ),
      });
    }
  }
  return rows;
}

async function runOnce(
  configuration: (typeof REDIS_CONFIGURATIONS)[number],
  scenario: LoadScenario,
  dir: string,
  permissions: string[],
  benchExtra: string[],
  onCpu: (note: string) => void,
): Promise<Outcome> {
  const flags = [...benchFlags(scenario), ...benchExtra];
  /** Runs chat bench, noting where the CPU went (the servers' and Redis's summed). */
  const measure = async (servers: RunningServer[], ca: string, redisPid?: number) => {
    const pids = [...servers.map((server) => server.child.pid), ...redisPid ? [redisPid] : []];
    const before = await cpuSnapshot(pids);
    const outcome = await benchProcess(target(servers, ca), flags);
    onCpu(
      describeCpu(
        cpuUse(before, await cpuSnapshot(pids)),
        redisPid ? "servers and Redis" : "server",
      ),
    );
    return outcome;
  };
  if (!configuration.redis) {
    const server = await startOurServer(DENO, permissions, MAIN, dir);
    try {
      return await measure([server], server.certPath);
    } finally {
      await server.child.stop();
    }
  }
  const redis = await startRedis();
  try {
    const shared = await startSharedServers(
      DENO,
      permissions,
      MAIN,
      dir,
      redis.url,
      configuration.servers,
    );
    try {
      return await measure(shared.servers, shared.certPath, redis.child.pid);
    } finally {
      await shared.stop();
    }
  } finally {
    await redis.child.stop();
  }
}

function target(servers: RunningServer[], ca: string) {
  return {
    addr: servers.map((server) => `127.0.0.1:${server.port}`).join(","),
    ca,
    raw: false,
  };
}
