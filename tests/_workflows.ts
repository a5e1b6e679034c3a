// The GitHub workflows (.github/workflows/*.yml) as data, for the tests that
// keep them in line with .ci/run, deno.json and the pinned Deno.

import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The workflows: every push and pull request (ci), and a tag v* (release). */
export const WORKFLOWS = [".github/workflows/ci.yml", ".github/workflows/release.yml"];

/** One step of a job. */
export interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string>;
}

/** One job of a workflow. */
export interface Job {
  needs?: string | string[];
  steps?: Step[];
  // deno-lint-ignore no-explicit-any
  [key: string]: any;
}

/** A workflow, parsed. */
export interface Workflow {
  // deno-lint-ignore no-explicit-any
  on: any;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

/** Reads a workflow file (a path from the repository's root). */
export async function readWorkflow(path: string): Promise<Workflow> {
  return parse(await Deno.readTextFile(`${ROOT}${path}`)) as Workflow;
}

/** Every step of every job of a workflow. */
export function steps(workflow: Workflow): Step[] {
  return Object.values(workflow.jobs).flatMap((job) => job.steps ?? []);
}

/** Every `run:` script of a job, joined. */
export function runs(job: Job): string {
  return (job.steps ?? []).map((step) => step.run ?? "").join("\n");
}

/** The Deno version the project pins (.ci/deno, behind ./chat and .ci/run). */
export async function pinnedDeno(): Promise<string> {
  const script = await Deno.readTextFile(`${ROOT}.ci/deno`);
  const version = script.match(/^DENO_VERSION=(\S+)$/m)?.[1];
  if (version === undefined) throw new Error(".ci/deno does not set DENO_VERSION");
  return version;
}
