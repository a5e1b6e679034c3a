// One definition of what CI does: .ci/run. Both workflows test with exactly
// that step; .ci/run installs exactly the tools the tests skip without
// (tests/_tools.ts) and runs `deno task ok` with the pinned Deno; the README
// gives .ci/run as the command that runs every test; and every Deno the
// project names is the version .ci/deno pins.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import config from "../deno.json" with { type: "json" };
import { TOOLS } from "./_tools.ts";
import { pinnedDeno, readWorkflow, steps, WORKFLOWS } from "./_workflows.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const tasks: Record<string, { command: string }> = config.tasks;

Deno.test("both workflows test with exactly .ci/run, and nothing else in that job installs or runs Deno", async () => {
  for (const path of WORKFLOWS) {
    const { jobs } = await readWorkflow(path);
    const runsOf = (jobs.test?.steps ?? []).flatMap((step) => step.run ? [step.run.trim()] : []);
    assert.equal(runsOf.filter((run) => run === ".ci/run").length, 1, `${path}: one .ci/run step`);
    for (const step of jobs.test.steps ?? []) {
      assert.doesNotMatch(
        step.uses ?? "",
        /setup-deno/,
        `${path}: the test job gets Deno from .ci/run`,
      );
      assert.doesNotMatch(step.run ?? "", /^\s*deno |apt-get/m, `${path}: ${step.run}`);
    }
  }
  const ci = await readWorkflow(".github/workflows/ci.yml");
  assert.ok("push" in ci.on && "pull_request" in ci.on, "ci.yml runs on pushes and pull requests");
});

Deno.test(".ci/run installs exactly the tools the tests skip without, then runs deno task ok with the pinned Deno", async () => {
  const script = await Deno.readTextFile(`${ROOT}.ci/run`);
  const installed = script.match(/^for tool in ([\w -]+); do$/m)?.[1].split(" ");
  assert.deepEqual(installed, [...TOOLS]);
  assert.match(script, /^\.ci\/deno task ok /m);
  assert.equal(
    tasks.ok.command,
    "deno fmt --check && deno lint && deno check --doc main.ts lib/ tests/ bench/ && deno task test",
  );
});

Deno.test("the README gives .ci/run as the command that runs every test, and ./chat server as the one that runs the server", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  assert.match(readme, /^\.ci\/run +# /m);
  assert.match(readme, /^\.\/chat server +# /m);
});

Deno.test("every Deno the project names is the pinned version, and the workflows only run tasks that exist", async () => {
  const version = await pinnedDeno();
  for (const path of WORKFLOWS) {
    const workflow = await readWorkflow(path);
    for (
      const step of steps(workflow).filter((step) => step.uses?.startsWith("denoland/setup-deno@"))
    ) {
      assert.equal(String(step.with?.["deno-version"]), version, path);
    }
    for (const [name, job] of Object.entries(workflow.jobs)) {
      for (const need of [job.needs ?? []].flat()) {
        assert.ok(need in workflow.jobs, `${path}: ${name} needs ${need}`);
      }
    }
    for (const step of steps(workflow)) {
      for (const [, task] of (step.run ?? "").matchAll(/deno task ([\w:-]+)/g)) {
        assert.ok(task in tasks, `${path}: deno task ${task}`);
      }
    }
  }
  for (const doc of ["README.md", "docs/install.md"]) {
    const text = await Deno.readTextFile(`${ROOT}${doc}`);
    for (const [named] of text.matchAll(/\bDeno \d+\.\d+\.\d+/g)) {
      assert.equal(named, `Deno ${version}`, doc);
    }
  }
});
