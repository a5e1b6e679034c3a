// The launcher ./chat (and .ci/deno behind it), as a new user runs it from a
// clone: with the pinned Deno on PATH it runs main.ts with exactly the flags
// of `deno task server`; with another Deno, or none, it fetches the pinned
// one through npx; with neither it says what it needs. Fake `deno` and `npx`
// scripts on a PATH of their own stand in for the real ones and record how
// they were called (the real npx would download Deno from npm).

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import config from "../deno.json" with { type: "json" };

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const POSIX = { ignore: Deno.build.os === "windows" };

/** The Deno version .ci/deno pins. */
const PINNED = (await Deno.readTextFile(`${ROOT}.ci/deno`)).match(/^DENO_VERSION=(\S+)$/m)?.[1];

/** A folder for PATH with what the scripts use (sh, dirname, grep) and the given fakes. */
async function fakePath(fakes: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "chat-launcher-" });
  for (const tool of ["sh", "dirname", "grep"]) {
    const { stdout } = await new Deno.Command("sh", { args: ["-c", `command -v ${tool}`] })
      .output();
    await Deno.symlink(new TextDecoder().decode(stdout).trim(), `${dir}/${tool}`);
  }
  for (const [name, script] of Object.entries(fakes)) {
    await Deno.writeTextFile(`${dir}/${name}`, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  }
  return dir;
}

/** A fake `deno` that says it is `version` and otherwise records its arguments and runs the real one. */
function fakeDeno(version: string, log: string): string {
  return `if [ "$1" = --version ]; then echo "deno ${version} (stable, release)"; exit 0; fi
echo "$@" >> ${log}
exec "${Deno.execPath()}" "$@"`;
}

async function launch(path: string, args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(`${ROOT}chat`, {
    args,
    env: { PATH: path, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test(
  "./chat --version runs main.ts with the pinned Deno on PATH and the flags of deno task server",
  POSIX,
  async () => {
    assert.ok(PINNED, ".ci/deno sets DENO_VERSION");
    const dir = await fakePath({ deno: fakeDeno(PINNED, "$0.log") });
    try {
      const { code, stdout, stderr } = await launch(dir, ["--version"]);
      assert.equal(code, 0, stderr);
      assert.equal(stdout, `chat ${config.version}\n`);
      const task = config.tasks.server.command.split(" ");
      const flags = task.slice(1, task.indexOf("main.ts")); // run --quiet --permission-set=chat …
      const logged = await Deno.readTextFile(`${dir}/deno.log`);
      assert.equal(logged, `${[...flags, `${ROOT}main.ts`, "--version"].join(" ")}\n`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "./chat fetches the pinned Deno through npx when the one on PATH is another version",
  POSIX,
  async () => {
    // The fake npx runs what follows deno@VERSION with the real Deno, as npx would.
    const dir = await fakePath({
      deno: fakeDeno("1.0.0", "$0.log"),
      npx: `echo "$@" >> $0.log
while [ "$#" -gt 0 ] && [ "\${1#deno@}" = "$1" ]; do shift; done; shift
exec "${Deno.execPath()}" "$@"`,
    });
    try {
      const { code, stdout, stderr } = await launch(dir, ["--version"]);
      assert.equal(code, 0, stderr);
      assert.equal(stdout, `chat ${config.version}\n`);
      const npx = await Deno.readTextFile(`${dir}/npx.log`);
      assert.match(
        npx,
        new RegExp(`^--yes --prefer-offline --no-update-notifier deno@${PINNED} eval `),
      );
      assert.equal(
        await Deno.stat(`${dir}/deno.log`).catch(() => null),
        null,
        "the other Deno never ran",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("./chat without Deno and without npx says what it needs", POSIX, async () => {
  const dir = await fakePath({});
  try {
    const { code, stdout, stderr } = await launch(dir, ["server"]);
    assert.equal(code, 127);
    assert.equal(stdout, "");
    assert.equal(
      stderr,
      `chat needs Deno ${PINNED} (https://deno.com), or Node.js with npx to fetch it\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
