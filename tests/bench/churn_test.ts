// `deno task bench --churn --quick` end to end: the three configurations
// (no churn; churn without presence; churn with presence) run against fresh
// servers, the churners log in and out, the watchers hear their joins and
// leaves only when the server has presence, and the chat loses nothing.

import assert from "node:assert/strict";
import { benchTask } from "./_helpers.ts";

interface ChurnRow {
  metric: string;
  medians: Record<string, number>;
}

Deno.test("deno task bench --churn --quick: churn beside a chat, with and without presence", async () => {
  const { code, stdout, log } = await benchTask(["--churn", "--quick", "--json"]);
  assert.equal(code, 0, log);
  const result = JSON.parse(stdout);
  assert.equal(result.ok, true, log);
  const rows: ChurnRow[] = result.rows;
  const metric = (name: string) => {
    const row = rows.find((r) => r.metric === name);
    assert.ok(row, `no ${name} row: ${stdout}`);
    return row.medians;
  };
  const logins = metric("logins done per second");
  assert.equal(logins["no churn"], 0);
  assert.ok(logins["churn, presence off"] > 0, stdout);
  assert.ok(logins["churn, presence on"] > 0, stdout);
  for (const [configuration, p99] of Object.entries(metric("chat latency p99 ms"))) {
    assert.ok(Number.isFinite(p99) && p99 > 0, `${configuration}: chat p99 ${p99}`);
  }
  // Watchers hear churn only where the server has presence.
  assert.match(log, /churn, presence off, run 1\/1: .* 0 events to watchers/);
  assert.match(log, /churn, presence on, run 1\/1: .* [1-9]\d* events to watchers/);
});
