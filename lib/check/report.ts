// How `chat check` tells its results: one line per check (`PASS relay: …`),
// then a summary, as text for people or as JSON lines for scripts; and the
// exit code the results add up to.
//
// Core checks decide the exit code. Extensions (§8) are informational: one
// that is offered and works is PASS, one that is not offered is SKIP, one
// that is offered but misbehaves is WARN, and none of them changes the exit
// code, so a core-only server passes.

import type { CheckResult } from "./probe.ts";

const COLORS = { PASS: "\x1b[32m", FAIL: "\x1b[31m", SKIP: "\x1b[33m", WARN: "\x1b[33m" };
const RESET = "\x1b[0m";

/** The word a result is printed with. */
export function label(result: CheckResult): keyof typeof COLORS {
  if (result.outcome === "pass") return "PASS";
  if (result.outcome === "skip") return "SKIP";
  return result.kind === "extension" ? "WARN" : "FAIL";
}

/**
 * One result as a line of text, the label coloured when `color` is set.
 *
 * @example
 * ```ts
 * formatResult({ name: "relay", kind: "core", outcome: "pass", detail: "ok" }, false);
 * // "PASS relay: ok\n"
 * ```
 */
export function formatResult(result: CheckResult, color: boolean): string {
  const word = label(result);
  const shown = color ? `${COLORS[word]}${word}${RESET}` : word;
  return `${shown} ${result.name}: ${result.detail}\n`;
}

/** One result as a JSON line: `{"check","kind","result","detail"}`. */
export function formatResultJson(result: CheckResult): string {
  return JSON.stringify({
    check: result.name,
    kind: result.kind,
    result: label(result).toLowerCase(),
    detail: result.detail,
  }) + "\n";
}

/** What the core results add up to. */
export interface Tally {
  passed: number;
  failed: number;
  /** Core checks not run (after a failed login, or interrupted). */
  notRun: number;
  /** The extension results, which never count toward the exit code. */
  extensions: CheckResult[];
}

/** Counts the results; `expected` is how many core checks there are. */
export function tally(results: CheckResult[], expected: number): Tally {
  const core = results.filter((r) => r.kind === "core");
  const passed = core.filter((r) => r.outcome === "pass").length;
  const failed = core.filter((r) => r.outcome === "fail").length;
  return {
    passed,
    failed,
    notRun: expected - passed - failed,
    extensions: results.filter((r) => r.kind === "extension"),
  };
}

/**
 * The summary line: `14 passed, 0 failed; extensions (informational): …`.
 */
export function formatSummary(t: Tally, color: boolean): string {
  let line = `${t.passed} passed, ${t.failed} failed`;
  if (t.notRun > 0) line += `, ${t.notRun} not run`;
  if (t.extensions.length > 0) {
    line += `; extensions (informational): ${
      t.extensions.map((r) => `${r.name.replace(/^ext /, "")} ${label(r).toLowerCase()}`).join(", ")
    }`;
  }
  const good = t.failed === 0 && t.notRun === 0;
  return color ? `${good ? COLORS.PASS : COLORS.FAIL}${line}${RESET}\n` : `${line}\n`;
}

/** The summary as a JSON line. */
export function formatSummaryJson(t: Tally): string {
  return JSON.stringify({
    passed: t.passed,
    failed: t.failed,
    notRun: t.notRun,
    ok: exitCode(t) === 0,
  }) + "\n";
}

/** 0 when every core check passed, 1 otherwise. */
export function exitCode(t: Tally): number {
  return t.failed === 0 && t.notRun === 0 ? 0 : 1;
}
