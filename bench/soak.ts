// `deno task soak`: the long version of the fault suite (tests/fault/), with
// its figures. Both run the scenarios of bench/fault/; here at full size:
//
// - fuzz: fast-check, 2,000 cases per property against an in-process server;
// - slowloris: 100 connections of each slow kind against a server process
//   with its default 10 s handshake deadline (and --login-timeout 15), one
//   byte a second, while two clients chat;
// - churn: 10,000 connect/login/disconnect cycles, twice: with V8's default
//   heap limit and with the heap capped at 48 MiB;
// - slow readers: 100 clients that never read while 20 chat, against the
//   same chat without them, three times each;
// - crash: 20 SIGKILLs under load with --data-dir, each followed by a restart
//   and a check of the whole replay.
//
// Figures go to stdout as markdown (docs/reliability.md holds a copy),
// progress to stderr. Exit status 1 when any check fails.
//
//   deno task soak [--quick] [--only fuzz,slowloris,churn,slow-readers,crash] [--seed N]
//
// Linux only (/proc). Takes about ten minutes; --quick about two.

import { intFlag } from "../lib/cli.ts";
import { errorMessage, UsageError } from "../lib/errors.ts";
import { describeMachine, log, scriptFlags, write } from "./harness.ts";
import { SOCKET_BUFFER_BYTES } from "../lib/server/socket_writer.ts";
import { DEFAULT_BATCH_BYTES } from "../lib/server/outbox.ts";
import { startInProcess } from "./in_process_server.ts";
import { type ChurnFigures, runChurn } from "./fault/churn.ts";
import { type CrashFigures, runCrash } from "./fault/crash.ts";
import { runFuzz } from "./fault/fuzz.ts";
import { type Latency, latency, quantile } from "./fault/latency.ts";
import { ServerProcess } from "./fault/server_process.ts";
import { runSlowloris, SLOW_KINDS } from "./fault/slowloris.ts";
import { runSlowReaders, type SlowReadersFigures } from "./fault/slow_readers.ts";

const USAGE = `Usage: deno task soak [--quick] [--only LIST] [--seed N]

Runs the fault scenarios at full size and prints their figures as markdown.

  --quick       smaller sizes (about two minutes): a smoke run
  --only LIST   some of: fuzz,slowloris,churn,slow-readers,crash (comma-separated)
  --seed N      seed of the fuzzer and of the kill schedule (default 20261127)
`;

const FLAGS = {
  quick: { type: "boolean" },
  only: { type: "string" },
  seed: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const SECTIONS = ["fuzz", "slowloris", "churn", "slow-readers", "crash"] as const;
type Section = typeof SECTIONS[number];

/** A section's markdown, and whether its checks held. */
interface Outcome {
  markdown: string;
  ok: boolean;
}

const mib = (kib: number) => (kib / 1024).toFixed(1);
const ms = (l: Latency) => `${l.p50} / ${l.p99} / ${l.max}`;

function table(head: (string | number)[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n") + "\n";
}

async function withTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "chat-soak-" });
  try {
    return await work(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function fuzz(quick: boolean, seed: number): Promise<Outcome> {
  const numRuns = quick ? 300 : 2000;
  await using server = await startInProcess();
  const started = performance.now();
  const figures = await runFuzz(server, { numRuns, seed });
  const seconds = (performance.now() - started) / 1000;
  return {
    ok: true,
    markdown: table(
      ["cases", "lines sent", "answered with an error", "relayed", "seconds", "seed"],
      [[
        figures.runs,
        figures.lines,
        figures.errors,
        figures.relays,
        seconds.toFixed(0),
        seed,
      ]],
    ) +
      `\nEvery case passed: each bad line got exactly one error, each good one was relayed (and acked when it had an id), in order, and the connection went on.\n`,
  };
}

async function slowloris(quick: boolean): Promise<Outcome> {
  return await withTempDir(async (dir) => {
    const loginSeconds = 15;
    await using server = await ServerProcess.start({
      dir,
      args: ["--login-timeout", String(loginSeconds), "--max-per-ip", "1000"],
    });
    const perKind = quick ? 20 : 100;
    const figures = await runSlowloris(server, {
      perKind,
      dripMs: 1000,
      handshakeTimeoutMs: 10_000,
      loginTimeoutMs: loginSeconds * 1000,
      chatEveryMs: 50,
    });
    const rows = SLOW_KINDS.map((kind) => {
      const l = latency(figures.lifetimes[kind]);
      const deadline = kind === "no login" || kind === "drip login"
        ? "login 15 s"
        : "handshake 10 s";
      return [
        kind,
        l.count,
        deadline,
        `${(l.p50 / 1000).toFixed(2)} s`,
        `${(l.max / 1000).toFixed(2)} s`,
        figures.survivors[kind],
      ];
    });
    const reasons = (reason: string) =>
      server.stderr.match(new RegExp(`disconnect .*reason="${reason}"`, "g"))?.length ?? 0;
    const survivors = Object.values(figures.survivors).reduce((a, b) => a + b, 0);
    const ok = survivors === 0 && figures.received === figures.sent;
    return {
      ok,
      markdown: table(
        ["kind", "connections", "deadline", "cut after (p50)", "cut after (max)", "still open"],
        rows,
      ) +
        `\nServer log: ${reasons("TLS handshake timeout")} × "TLS handshake timeout", ${
          reasons("login timeout")
        } × "login timeout". Bytes dripped in all: ${figures.dripped}.\n\n` +
        `Meanwhile two clients chatted: ${figures.received} of ${figures.sent} messages arrived, delay p50 / p99 / max ${
          ms(figures.chat)
        } ms over the whole run, ${
          ms(figures.chatHeld)
        } ms once all slow connections were open (the opening burst of TLS handshakes is this process's too).\n`,
    };
  });
}

async function churn(quick: boolean): Promise<Outcome> {
  const cycles = quick ? 1000 : 10_000;
  const runs: [string, string[], ChurnFigures][] = [];
  for (
    const [label, denoFlags] of [
      ["default V8 heap", []],
      ["heap capped at 48 MiB", ["--v8-flags=--max-old-space-size=48"]],
    ] as const
  ) {
    log(`  churn: ${label}\n`);
    const figures = await withTempDir(async (dir) => {
      await using server = await ServerProcess.start({
        dir,
        args: ["--max-per-ip", "1000", "--rate-limit", "0"],
        denoFlags: [...denoFlags],
      });
      return await runChurn(server, { cycles, concurrency: 8, warmup: 500, samples: 9 });
    });
    runs.push([label, [...denoFlags], figures]);
  }
  let ok = true;
  let markdown = "";
  for (const [label, , f] of runs) {
    const fds = f.samples.map((s) => s.fds);
    ok &&= f.failures === 0 && f.connects === f.disconnects &&
      Math.max(...fds) - Math.min(...fds) <= 2;
    markdown += `**${label}**: ${f.cycles} cycles in ${f.seconds.toFixed(1)} s (${
      (f.cycles / f.seconds).toFixed(0)
    } cycles/s, 8 at a time), ${f.failures} failed; the server logged ${f.connects} connects and ${f.disconnects} disconnects.\n\n`;
    markdown += table(
      ["after cycles", ...f.samples.map((s) => s.cycles)],
      [
        ["open fds", ...f.samples.map((s) => s.fds)],
        ["RSS MiB", ...f.samples.map((s) => mib(s.rssKiB))],
      ],
    ) + "\n";
  }
  return { ok, markdown };
}

async function slowReaders(quick: boolean): Promise<Outcome> {
  const sendQueueBytes = 256 * 1024;
  const size = quick
    ? { idlers: 20, chatters: 8, perChatter: 200, messageBytes: 4096, pairs: 1 }
    : { idlers: 100, chatters: 20, perChatter: 1000, messageBytes: 1024, pairs: 3 };
  const results: { idlers: number; figures: SlowReadersFigures }[] = [];
  for (let pair = 0; pair < size.pairs; pair++) {
    for (const idlers of [0, size.idlers]) {
      log(`  slow readers: ${idlers} idlers (${pair + 1}/${size.pairs})\n`);
      const figures = await withTempDir((dir) =>
        runSlowReaders(dir, {
          idlers,
          chatters: size.chatters,
          perChatter: size.perChatter,
          ratePerSecond: 50,
          messageBytes: size.messageBytes,
          sendQueueBytes,
        })
      );
      results.push({ idlers, figures });
    }
  }
  const rows = results.map(({ idlers, figures: f }) => [
    idlers,
    f.cut,
    `${f.delivered} / ${f.expected}`,
    f.disorder,
    ms(f.delay),
    mib(f.rssPeakKiB - f.rssStartKiB),
  ]);
  const p99 = (idlers: number) =>
    quantile(results.filter((r) => r.idlers === idlers).map((r) => r.figures.delay.p99), 0.5);
  const grew = (idlers: number) =>
    Math.max(
      ...results.filter((r) => r.idlers === idlers).map((r) =>
        r.figures.rssPeakKiB - r.figures.rssStartKiB
      ),
    );
  const ratio = p99(size.idlers) / p99(0);
  const perIdler = sendQueueBytes + SOCKET_BUFFER_BYTES + DEFAULT_BATCH_BYTES;
  const allowanceKiB = (size.idlers * perIdler) / 1024;
  const ok =
    results.every(({ idlers, figures: f }) =>
      f.delivered === f.expected && f.disorder === 0 && f.cut === idlers
    ) && ratio <= 2 && grew(size.idlers) - grew(0) <= allowanceKiB;
  return {
    ok,
    markdown:
      `${size.chatters} chatters, each sending ${size.perChatter} messages of ${size.messageBytes} bytes at 50/s and reading all the others'; --send-queue-bytes ${sendQueueBytes}.\n\n` +
      table(
        [
          "idlers",
          "cut (send queue full)",
          "delivered",
          "out of order",
          "delay p50 / p99 / max ms",
          "server RSS growth MiB",
        ],
        rows,
      ) +
      `\nMedian p99 with ${size.idlers} idlers / without: ${p99(size.idlers)} / ${p99(0)} ms = **${
        ratio.toFixed(2)
      }×** (bound: 2×). ` +
      `Largest RSS growth with idlers ${mib(grew(size.idlers))} MiB, without ${
        mib(grew(0))
      } MiB; the send-queue cap, the socket's buffer and one write batch per idler allow ${
        mib(allowanceKiB)
      } MiB more.\n`,
  };
}

async function crash(quick: boolean, seed: number): Promise<Outcome> {
  const f: CrashFigures = await withTempDir((dir) =>
    runCrash(dir, {
      cycles: quick ? 3 : 20,
      senders: 4,
      window: 32,
      killAfterMs: quick ? [200, 1000] : [500, 3000],
      seed,
      messageBytes: 100,
    })
  );
  return {
    ok: f.problems.length === 0,
    markdown: table(
      [
        "SIGKILLs",
        "sent",
        "acked",
        "stored in the end",
        "stored, ack not received",
        "torn last lines cut",
        "problems",
      ],
      [[f.cycles, f.sent, f.acked, f.stored, f.storedUnacked, f.tornLines, f.problems.length]],
    ) +
      `\nRestart (spawn to listening, log loaded) p50 / max: ${f.restartMs.p50} / ${f.restartMs.max} ms; ` +
      `reading the whole replay p50 / max: ${f.replayMs.p50} / ${f.replayMs.max} ms; ` +
      `send to ack (fsync included) p50 / p99 / max: ${ms(f.ackMs)} ms.\n` +
      (f.problems.length > 0
        ? `\nProblems:\n\n${f.problems.map((p) => `- ${p}`).join("\n")}\n`
        : ""),
  };
}

async function main(args: string[]): Promise<number> {
  const values = scriptFlags("soak", args, FLAGS, USAGE);
  if (typeof values === "number") return values;
  const quick = values.quick === true;
  let seed: number;
  const only = String(values.only ?? SECTIONS.join(",")).split(",").map((s) => s.trim());
  try {
    seed = intFlag(values, "seed", 20261127, 0, 2 ** 31 - 1);
    const unknown = only.filter((s) => !(SECTIONS as readonly string[]).includes(s));
    if (unknown.length > 0) throw new UsageError(`--only: unknown section ${unknown.join(", ")}`);
  } catch (error) {
    if (error instanceof UsageError) {
      log(`soak: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  const titles: Record<Section, string> = {
    "fuzz": "Fuzzing (fast-check)",
    "slowloris": "Slowloris",
    "churn": "Churn",
    "slow-readers": "Slow readers",
    "crash": "Crash (SIGKILL with --data-dir)",
  };
  const runs: Record<Section, () => Promise<Outcome>> = {
    "fuzz": () => fuzz(quick, seed),
    "slowloris": () => slowloris(quick),
    "churn": () => churn(quick),
    "slow-readers": () => slowReaders(quick),
    "crash": () => crash(quick, seed),
  };
  const machine = await describeMachine();
  let out = Object.entries(machine).map(([key, value]) => `- ${key}: ${value}`).join("\n") +
    `\n- size: ${quick ? "--quick" : "full"}\n`;
  let ok = true;
  const started = performance.now();
  for (const section of SECTIONS.filter((s) => only.includes(s))) {
    log(`soak: ${section}\n`);
    const t0 = performance.now();
    let outcome: Outcome;
    try {
      outcome = await runs[section]();
    } catch (error) {
      const reason = errorMessage(error);
      outcome = { ok: false, markdown: `FAILED: ${reason}\n` };
    }
    const seconds = (performance.now() - t0) / 1000;
    log(`soak: ${section} ${outcome.ok ? "ok" : "FAILED"} in ${seconds.toFixed(0)} s\n`);
    ok &&= outcome.ok;
    out += `\n### ${titles[section]} (${seconds.toFixed(0)} s)${
      outcome.ok ? "" : " — FAILED"
    }\n\n${outcome.markdown}`;
  }
  out += `\nTotal: ${((performance.now() - started) / 1000).toFixed(0)} s, ${
    ok ? "every check held" : "some check FAILED"
  }.\n`;
  write(Deno.stdout, out);
  return ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
