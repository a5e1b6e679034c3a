// The `deno task bench` harness, as CI runs it: --quick, against our server
// and ncat (ours alone, with a notice, where ncat or openssl is missing),
// checking correctness, not speed: every run completes, nothing lost or
// duplicated.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import config from "../../deno.json" with { type: "json" };
import { missing } from "../_tools.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface HarnessRow {
  scenario: string;
  metric: string;
  ours: number;
  ncat: number | null;
  runs: {
    ours: { value: number; lost: number; duplicated: number; failure?: string }[];
    ncat: { value: number; lost: number; duplicated: number; failure?: string }[] | string | null;
  };
}

Deno.test("deno task bench --quick measures ours and ncat without losing a message", async () => {
  // The task's own command line, so the test runs exactly what people run.
  const words = config.tasks.bench.command.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  const started = performance.now();
  // Without ncat (or openssl, which makes its certificate) only ours is measured, with a
  // notice: the harness would try to install ncat with apt-get, which is not a test's business.
  const noNcat = missing("ncat", "openssl") ? ["--no-ncat"] : [];
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...words.slice(1), "--quick", "--json", ...noNcat],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const log = new TextDecoder().decode(stderr);
  assert.equal(code, 0, log);
  assert.ok(performance.now() - started < 60_000, "the quick run stays quick");
  const result = JSON.parse(new TextDecoder().decode(stdout));
  assert.equal(result.ok, true);
  const rows = result.rows as HarnessRow[];
  assert.deepEqual(
    [...new Set(rows.map((row) => row.scenario.split(" ")[0]))],
    ["fan-out", "latency", "replay", "scale"],
  );
  // The memory target is read from the server's peak RSS over a load run.
  assert.ok(rows.some((row) => row.metric === "server peak RSS, MiB"), "a peak RSS row");
  for (const row of rows) {
    for (const run of row.runs.ours) {
      assert.equal(run.failure, undefined, `${row.scenario}: ${run.failure}`);
      assert.deepEqual([run.lost, run.duplicated], [0, 0], row.scenario);
    }
    assert.ok(
      Number.isFinite(row.ours) && row.ours > 0,
      `${row.scenario} ${row.metric}: ${row.ours}`,
    );
  }
  if (noNcat.length > 0) return; // tests/_tools.ts has said that ncat or openssl is missing.
  assert.equal(result.ncat, "measured");
  const againstNcat = rows.filter((row) =>
    row.scenario.startsWith("fan-out") || row.scenario.startsWith("latency")
  );
  assert.ok(againstNcat.length > 0);
  for (const row of againstNcat) {
    assert.ok(Array.isArray(row.runs.ncat), row.scenario);
    for (const run of row.runs.ncat) {
      assert.equal(run.failure, undefined, `ncat, ${row.scenario}: ${run.failure}`);
      assert.deepEqual([run.lost, run.duplicated], [0, 0], `ncat, ${row.scenario}`);
    }
  }
  assert.match(result.table, /^\| scenario \| metric \| ours \| ncat \| ratio \|/);
});
