// How results are told: the labels (extensions never FAIL), colour only when
// asked for, the summary, and an exit code that only core checks decide.

import assert from "node:assert/strict";
import type { CheckResult } from "../../lib/check/probe.ts";
import {
  exitCode,
  formatResult,
  formatResultJson,
  formatSummary,
  formatSummaryJson,
  label,
  tally,
} from "../../lib/check/report.ts";

const core = (outcome: CheckResult["outcome"], name = "relay"): CheckResult => ({
  name,
  kind: "core",
  outcome,
  detail: "why",
});
const ext = (outcome: CheckResult["outcome"], name = "ext seq"): CheckResult => ({
  name,
  kind: "extension",
  outcome,
  detail: "why",
});

Deno.test("a core check is PASS, FAIL or SKIP; an extension that misbehaves is WARN", () => {
  assert.equal(label(core("pass")), "PASS");
  assert.equal(label(core("fail")), "FAIL");
  assert.equal(label(core("skip")), "SKIP");
  assert.equal(label(ext("pass")), "PASS");
  assert.equal(label(ext("skip")), "SKIP");
  assert.equal(label(ext("fail")), "WARN");
});

Deno.test("a result is one line, coloured only when asked", () => {
  assert.equal(formatResult(core("fail"), false), "FAIL relay: why\n");
  assert.equal(formatResult(core("pass"), true), "\x1b[32mPASS\x1b[0m relay: why\n");
  assert.deepEqual(JSON.parse(formatResultJson(ext("fail"))), {
    check: "ext seq",
    kind: "extension",
    result: "warn",
    detail: "why",
  });
});

Deno.test("extensions never change the exit code; a core failure or a core check not run does", () => {
  const allCore = [core("pass", "a"), core("pass", "b")];
  assert.equal(exitCode(tally([...allCore, ext("skip"), ext("fail")], 2)), 0);
  assert.equal(exitCode(tally([core("pass", "a"), core("fail", "b")], 2)), 1);
  assert.equal(exitCode(tally([core("pass", "a"), core("skip", "b")], 2)), 1);
  assert.equal(exitCode(tally([core("pass", "a")], 2)), 1, "interrupted before the second");
});

Deno.test("the summary counts core checks and lists extensions apart", () => {
  const t = tally([core("pass", "a"), core("fail", "b"), ext("pass", "ext ids"), ext("skip")], 3);
  assert.equal(
    formatSummary(t, false),
    "1 passed, 1 failed, 1 not run; extensions (informational): ids pass, seq skip\n",
  );
  assert.deepEqual(JSON.parse(formatSummaryJson(t)), {
    passed: 1,
    failed: 1,
    notRun: 1,
    ok: false,
  });
  assert.equal(
    formatSummary(tally([core("pass")], 1), true),
    "\x1b[32m1 passed, 0 failed\x1b[0m\n",
  );
});
