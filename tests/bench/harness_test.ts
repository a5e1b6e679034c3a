// The `deno task bench` harness, as CI runs it: --quick, against our server,
// the reference peers when they are built (never needed) and ncat (ours
// alone, with a notice, where ncat or openssl is missing), checking
// correctness, not speed: every run completes, nothing lost or duplicated.

import assert from "node:assert/strict";
import { missing } from "../_tools.ts";
import { benchTask } from "./_helpers.ts";

type Runs = { value: number; lost: number; duplicated: number; failure?: string }[];

interface HarnessRow {
  scenario: string;
  metric: string;
  medians: Record<string, number | null>;
  runs: Record<string, Runs | string>;
  target: unknown;
  met: boolean | null;
}

Deno.test("deno task bench --quick measures ours, the reference and ncat without losing a message", async () => {
  const started = performance.now();
  // Without ncat (or openssl, which makes the certificate) only ours is measured, with a
  // notice: the harness would try to install ncat with apt-get, which is not a test's business.
  // The reference peers are measured when they are built on this machine, and never needed.
  const noNcat = missing("ncat", "openssl") ? ["--no-ncat"] : [];
  const { code, stdout, log } = await benchTask(["--quick", "--json", ...noNcat]);
  assert.equal(code, 0, log);
  assert.ok(performance.now() - started < 60_000, "the quick run stays quick");
  const result = JSON.parse(stdout);
  assert.equal(result.ok, true);
  assert.match(result.machine["load average at the start"], /^[\d.]+, [\d.]+, [\d.]+$/);
  const rows = result.rows as HarnessRow[];
  assert.deepEqual(
    [...new Set(rows.map((row) => row.scenario.split(" ")[0]))],
    ["fan-out", "latency", "replay", "scale"],
  );
  // The memory target is read from the server's peak RSS over a load run.
  assert.ok(rows.some((row) => row.metric === "server peak RSS, MiB"), "a peak RSS row");
  for (const row of rows) {
    assert.ok(Array.isArray(row.runs.ours), row.scenario);
    for (const run of row.runs.ours as Runs) {
      assert.equal(run.failure, undefined, `${row.scenario}: ${run.failure}`);
      assert.deepEqual([run.lost, run.duplicated], [0, 0], row.scenario);
    }
    const ours = row.medians.ours;
    assert.ok(ours !== null && Number.isFinite(ours) && ours > 0, `${row.scenario} ${row.metric}`);
    assert.equal(row.target, null, "--quick has no targets: they are about the full sizes");
  }
  const loadRows = rows.filter((row) => /^(fan-out|latency)/.test(row.scenario));
  assert.ok(loadRows.length > 0);
  /** Every run of `column` in the load rows completed, nothing lost or duplicated. */
  const clean = (column: string) => {
    for (const row of loadRows) {
      const runs = row.runs[column];
      assert.ok(Array.isArray(runs), `${column}, ${row.scenario}: ${runs}`);
      for (const run of runs) {
        assert.equal(run.failure, undefined, `${column}, ${row.scenario}: ${run.failure}`);
        assert.deepEqual([run.lost, run.duplicated], [0, 0], `${column}, ${row.scenario}`);
      }
    }
  };
  if (result.peers === "measured") {
    // Built on this machine: chatload measured every server, and chat bench beside it.
    assert.equal(result.generator, "chatload");
    clean("tokio");
    assert.match(
      result.table,
      /^\| scenario \| metric \| ours \| tokio \| ncat \| ours ÷ tokio \|/,
    );
    const generators = result.generators as HarnessRow[];
    assert.ok(generators.some((row) => row.metric === "deliveries/s against ours"));
    for (const row of generators) {
      for (const column of ["chat bench", "chatload"]) {
        const runs = row.runs[column] as Runs;
        for (const run of runs) assert.equal(run.failure, undefined, `${column}: ${run.failure}`);
      }
    }
    assert.match(result.generatorTable, /^\| scenario \| metric \| chat bench \| chatload \|/);
  } else {
    // Not built: chat bench measured, and the notice says how to build them.
    assert.equal(result.generator, "chat bench");
    assert.match(
      result.peers,
      /not built in .*: build them with `bash \.\.\/shared\/peers\/setup\.sh`/,
    );
    assert.deepEqual(result.generators, []);
    for (const row of loadRows) assert.equal(typeof row.runs.tokio, "string");
  }
  if (noNcat.length > 0) return; // tests/_tools.ts has said that ncat or openssl is missing.
  assert.equal(result.ncat, "measured");
  clean("ncat");
});

Deno.test("without the reference peers, chat bench measures and the run says how to build them", async () => {
  const empty = await Deno.makeTempDir();
  try {
    const { code, stdout: table, log } = await benchTask([
      "--quick",
      "--no-ncat",
      "--peers",
      empty,
    ]);
    assert.equal(code, 0, log);
    assert.match(log, /reference peers: tokio-chat-server and chatload not built in .*setup\.sh/);
    assert.match(table, /- every server measured by chat bench \(chatload: /);
    assert.match(table, /\| fan-out N=5 S=1 M=300 B=100 \| deliveries\/s \| [\d,]+ \| – \| – \|/);
    assert.doesNotMatch(table, /chat bench beside chatload/);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});
