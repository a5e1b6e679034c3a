// `deno task bench --churn`: presence under churn beside a steady chat
// (issue 13). A population of idle core clients, a few members that watch
// presence and a stream of short logins (all three held by this script),
// and a steady chat measured by `chat bench` (in its own process),
// against a fresh server per run, in three configurations taking turns:
// no churn; churn on a server without presence (`--features none`); churn
// with presence. The difference between the last two is what presence
// costs: the server's CPU while the chat runs, and the chat's latency.
//
// The population logs in and then never reads: every chat message is
// still encrypted and written to each of them (the server's cost of a
// crowd), but reading it would cost this 2-core machine as much again,
// which is the clients' business, not the server's. The kernel's socket
// buffers hold what they are sent for the few minutes of a run.
//
// Each churner logs in as our client does (asking for presence, direct
// messages and heartbeats), waits for its `who` (or its `ok`, when the
// server has no presence), stays `lifeMs`, and closes politely. Watchers
// time each churner's join and leave from the moment the churner sent its
// login or closed.

import { chooseDialer, type Dialer } from "../lib/bench/dial.ts";
import { LineSplitter } from "../lib/lines.ts";
import { sleep, withDeadline } from "../lib/deadline.ts";
import { pool } from "./fault/schedule.ts";
import { errorMessage } from "../lib/errors.ts";
import { cpuSnapshot, cpuUse, describeCpu, startOurServer } from "./processes.ts";
import {
  columnMedians,
  type ColumnRow,
  columnsOk,
  formatColumns,
  type RunFigure,
} from "./table.ts";
import {
  benchProcess,
  DENO,
  describeMachine,
  describeReport,
  figureOf,
  log,
  MAIN,
  type Outcome,
  serverPermissions,
  write,
} from "./harness.ts";

/** A churn-beside-chat scenario. */
export interface ChurnScenario {
  name: string;
  /** Idle core clients held by one `chat bench` process. */
  population: number;
  /** Members that watch presence, held by this script. */
  watchers: number;
  /** Logins per second (and as many logouts, once the first churners leave). */
  churnPerSecond: number;
  /** How long each churner stays logged in. */
  lifeMs: number;
  /** The steady chat `chat bench` measures: its clients, messages per second, messages. */
  chat: { clients: number; rate: number; messages: number };
}

/** The full scenario: 200 logins and logouts a second beside 10,000 connected clients. */
export const CHURN_SCENARIO: ChurnScenario = {
  name: "churn 200/s beside 10,000 clients, chat R=1/s",
  population: 10_000,
  watchers: 20,
  churnPerSecond: 200,
  lifeMs: 1_000,
  chat: { clients: 10, rate: 1, messages: 30 },
};

/** `--churn --quick`: the same, small enough for CI. */
export const QUICK_CHURN_SCENARIO: ChurnScenario = {
  name: "churn 20/s beside 50 clients, chat R=20/s",
  population: 50,
  watchers: 5,
  churnPerSecond: 20,
  lifeMs: 200,
  chat: { clients: 5, rate: 20, messages: 40 },
};

/** The configurations compared, in the table's order. */
export const CHURN_CONFIGURATIONS = [
  { name: "no churn", churn: false, presence: true },
  { name: "churn, presence off", churn: true, presence: false },
  { name: "churn, presence on", churn: true, presence: true },
] as const;

/** The column the ratio is taken against: the same churn without presence. */
export const CHURN_BASE_COLUMN = 1;

/** Idle clients logging in at once while the population gathers. */
const POPULATION_LOGINS_AT_ONCE = 50;
/** The features our client asks for. */
const FEATURES = ["presence", "direct", "heartbeat"];
/** How long the churn runs before the chat starts. */
const WARMUP_MS = 2_000;
/** The longest a churner waits for its login answer. */
const LOGIN_TIMEOUT_MS = 10_000;
/** The longest line a watcher or churner reads (a `who` of 10,000 names is ~130 KB). */
const MAX_LINE_BYTES = 4 * 1024 * 1024;
const encoder = new TextEncoder();
const EVENT = /^\{"event":"(join|leave)","nickname":"([^"]*)"/;

/** What one run measured, besides the chat's report. */
interface ChurnFigures {
  outcome: Outcome;
  /** Server CPU-seconds per second while the chat ran. */
  serverCores: number;
  /** Logins completed per second while the chat ran. */
  loginsPerSecond: number;
  /** Churners that failed (refused, timed out, cut). */
  churnFailures: number;
  /** Watchers' join and leave events, and their latency (p99, ms). */
  events: number;
  eventP99Ms: number;
}

/**
 * Runs the scenario `runs` times in each configuration (taking turns); one
 * row per metric, one column per configuration.
 */
export async function churnComparison(
  scenario: ChurnScenario,
  runs: number,
  dir: string,
  permissions: string[],
  benchExtra: string[],
): Promise<ColumnRow[]> {
  const results: ChurnFigures[][] = CHURN_CONFIGURATIONS.map(() => []);
  for (let i = 1; i <= runs; i++) {
    for (const [c, configuration] of CHURN_CONFIGURATIONS.entries()) {
      let figures: ChurnFigures;
      try {
        figures = await runOnce(scenario, configuration, dir, permissions, benchExtra);
      } catch (error) {
        const failure = errorMessage(error);
        figures = {
          outcome: { failure },
          serverCores: NaN,
          loginsPerSecond: NaN,
          churnFailures: 0,
          events: 0,
          eventP99Ms: NaN,
        };
      }
      results[c].push(figures);
      log(
        `  ${configuration.name}, run ${i}/${runs}: ${describeReport(figures.outcome)}; server ${
          figures.serverCores.toFixed(2)
        } cores; ${
          figures.loginsPerSecond.toFixed(0)
        } logins/s (${figures.churnFailures} failed); ${figures.events} events to watchers, p99 ${
          figures.eventP99Ms.toFixed(1)
        } ms\n`,
      );
    }
  }
  const row = (
    metric: string,
    better: "higher" | "lower",
    value: (figures: ChurnFigures) => number,
  ): ColumnRow => ({
    scenario: scenario.name,
    metric,
    better,
    columns: results.map((column) =>
      column.map((figures): RunFigure => figureOf(figures.outcome, value(figures)))
    ),
  });
  const latency = (figures: ChurnFigures, key: "p50" | "p99") =>
    "ok" in figures.outcome ? figures.outcome.latencyMs[key] : NaN;
  return [
    row("chat latency p50 ms", "lower", (f) => latency(f, "p50")),
    row("chat latency p99 ms", "lower", (f) => latency(f, "p99")),
    row("server CPU while the chat ran, cores", "lower", (f) => f.serverCores),
    row("logins done per second", "higher", (f) => f.loginsPerSecond),
    row("join/leave to a watcher p99 ms", "lower", (f) => f.eventP99Ms),
  ];
}

async function runOnce(
  scenario: ChurnScenario,
  configuration: (typeof CHURN_CONFIGURATIONS)[number],
  dir: string,
  permissions: string[],
  benchExtra: string[],
): Promise<ChurnFigures> {
  const server = await startOurServer(
    DENO,
    permissions,
    MAIN,
    dir,
    configuration.presence ? [] : ["--features", "none"],
  );
  const target = { addr: `127.0.0.1:${server.port}`, ca: server.certPath, raw: false };
  const watchers: Watcher[] = [];
  const population: Deno.TlsConn[] = [];
  const churn = new Churn();
  try {
    const pem = await Deno.readTextFile(server.certPath);
    const { dial } = await chooseDialer("127.0.0.1", server.port, { kind: "ca", pem });
    const login: Login = { port: server.port, pem };
    await pool(scenario.population, POPULATION_LOGINS_AT_ONCE, async (i) => {
      population.push(await loginAnswered(login, `idle${i}`));
    });
    for (let i = 0; i < scenario.watchers; i++) {
      watchers.push(await Watcher.login(dial, `watcher${i}`, churn));
    }
    if (configuration.churn) churn.start(login, scenario);
    await sleep(WARMUP_MS);
    const before = await cpuSnapshot([server.child.pid]);
    const ownBefore = await cpuSnapshot([Deno.pid]);
    const loginsBefore = churn.logins;
    const outcome = await benchProcess(target, [
      "--clients",
      String(scenario.chat.clients),
      "--senders",
      "1",
      "--rate",
      String(scenario.chat.rate),
      "--messages",
      String(scenario.chat.messages),
      "--size",
      "100",
      ...benchExtra,
    ]);
    const use = cpuUse(before, await cpuSnapshot([server.child.pid]));
    const own = cpuUse(ownBefore, await cpuSnapshot([Deno.pid])).server;
    log(`    ${describeCpu(use)} (of which this script's clients ${own.toFixed(1)})\n`);
    const loginsPerSecond = (churn.logins - loginsBefore) / use.seconds;
    await churn.stop();
    const latencies = watchers.flatMap((watcher) => watcher.latencies);
    return {
      outcome,
      serverCores: use.server / use.seconds,
      loginsPerSecond,
      churnFailures: churn.failures,
      events: latencies.length,
      eventP99Ms: quantile(latencies, 0.99),
    };
  } finally {
    await churn.stop();
    await Promise.all(watchers.map((watcher) => watcher.close()));
    await server.child.stop();
    for (const conn of population) conn.close();
  }
}

/** Where to log in: our server's port, and its certificate to trust. */
interface Login {
  port: number;
  pem: string;
}

/**
 * A client logged in (asking for `features`, when given): its first line
 * was the `ok`. Nothing more is read: the population never reads, and a
 * churner's `who` (~110 KB at 10,000 names) would cost this script what the
 * server spends sending it. Unread bytes stay in the kernel's buffers.
 */
async function loginAnswered(
  target: Login,
  nickname: string,
  features?: string[],
): Promise<Deno.TlsConn> {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: target.port,
    caCerts: [target.pem],
  });
  try {
    const login = features === undefined
      ? { command: "login", nickname }
      : { command: "login", nickname, features };
    await conn.write(encoder.encode(JSON.stringify(login) + "\n"));
    const buffer = new Uint8Array(1024);
    let text = "";
    while (!text.includes("\n")) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error(`${nickname}: closed before the login answer`);
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    if (!text.startsWith('{"status":"ok"')) throw new Error(`${nickname}: ${text.split("\n")[0]}`);
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

/** The stream of short logins, and when each churner logged in and left. */
class Churn {
  logins = 0;
  failures = 0;
  /** When churner `name` sent its login, and when it closed (performance.now()). */
  readonly sentAt = new Map<string, number>();
  readonly closedAt = new Map<string, number>();
  #running = false;
  #loop: Promise<void> | undefined;
  readonly #live = new Set<Promise<void>>();

  start(target: Login, scenario: ChurnScenario): void {
    this.#running = true;
    this.#loop = this.#run(target, scenario);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    await Promise.all(this.#live);
  }

  async #run(target: Login, scenario: ChurnScenario): Promise<void> {
    const started = performance.now();
    for (let i = 0; this.#running; i++) {
      // Logins are due at start + i / rate: a late timer makes a burst, never a slower churn.
      const due = started + i * 1000 / scenario.churnPerSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const one = this.#one(target, `churner${i}`, scenario.lifeMs).catch(() => {
        this.failures++;
      });
      this.#live.add(one);
      one.finally(() => this.#live.delete(one));
    }
  }

  async #one(target: Login, name: string, lifeMs: number): Promise<void> {
    this.sentAt.set(name, performance.now());
    const login = loginAnswered(target, name, FEATURES);
    const conn = await withDeadline(login, LOGIN_TIMEOUT_MS);
    if (conn === undefined) {
      login.then((late) => late.close(), () => {});
      throw new Error(`${name}: no answer`);
    }
    try {
      this.logins++;
      await sleep(lifeMs);
    } finally {
      this.closedAt.set(name, performance.now());
      conn.close();
    }
  }
}

/** A member that watches presence and times each churner's join and leave. */
class Watcher {
  readonly latencies: number[];
  readonly #close: () => Promise<void>;

  private constructor(latencies: number[], close: () => Promise<void>) {
    this.latencies = latencies;
    this.#close = close;
  }

  static async login(dial: Dialer, name: string, churn: Churn): Promise<Watcher> {
    const latencies: number[] = [];
    let ready: (() => void) | undefined;
    const loggedIn = new Promise<void>((resolve) => ready = resolve);
    const splitter = new LineSplitter(MAX_LINE_BYTES, {
      line: (text) => {
        if (text.startsWith('{"event":"who"') || text === '{"status":"ok"}') ready?.();
        const event = EVENT.exec(text);
        if (event === null) return;
        const from = (event[1] === "join" ? churn.sentAt : churn.closedAt).get(event[2]);
        if (from !== undefined) latencies.push(performance.now() - from);
      },
      error: () => {},
    });
    const conn = await dial({ data: (chunk) => splitter.push(chunk), closed: () => {} });
    await conn.write(
      encoder.encode(
        JSON.stringify({ command: "login", nickname: name, features: FEATURES }) + "\n",
      ),
    );
    await loggedIn;
    return new Watcher(latencies, () => conn.close());
  }

  close(): Promise<void> {
    return this.#close();
  }
}

/** The `q` quantile of `values` (NaN when empty). */
function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** `deno task bench --churn [--quick] [--runs N]`: the comparison as a table (or JSON). */
export async function mainChurn(
  quick: boolean,
  runs: number,
  benchExtra: string[],
  json: boolean,
): Promise<number> {
  const scenario = quick ? QUICK_CHURN_SCENARIO : CHURN_SCENARIO;
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-churn-" });
  try {
    const machine = await describeMachine(false);
    log(
      `bench --churn: ${scenario.name}, ${runs} run${
        runs === 1 ? "" : "s"
      } of each configuration\n`,
    );
    const rows = await churnComparison(scenario, runs, dir, serverPermissions(), benchExtra);
    const headers = CHURN_CONFIGURATIONS.map((configuration) => configuration.name);
    const table = formatColumns(rows, headers, CHURN_BASE_COLUMN, "presence on vs off");
    const ok = columnsOk(rows);
    if (json) {
      const medians = columnMedians(rows, headers);
      write(
        Deno.stdout,
        JSON.stringify({ ok, machine, runs, scenario, rows: medians, table }) + "\n",
      );
    } else {
      const context = Object.entries(machine).map(([key, value]) => `- ${key}: ${value}`);
      write(
        Deno.stdout,
        `${context.join("\n")}\n- runs per configuration: ${runs} (medians shown)\n- scenario: ${
          JSON.stringify(scenario)
        }\n\n${table}`,
      );
    }
    return ok ? 0 : 1;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
