// The release, checked without building it. `deno compile` needs to download
// its runtime (denort) from dl.deno.land, which this project's CI cannot
// reach; everything else is checked here: the permission set "chat" of
// deno.json is the one every task names, and it names exactly the environment
// the code reads; the pinned Deno accepts every compile flag and gets as far
// as the runtime for every target; an executable built around a stand-in
// runtime embeds exactly that permission set; the set is enough for a real
// server/client session; release.yml does what the release needs; and the
// install manual names every file it publishes. (How both workflows test:
// tests/ci_test.ts.)

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import config from "../deno.json" with { type: "json" };
import { runSession } from "./release/session.ts";
import { readWorkflow, runs } from "./_workflows.ts";
import { missing } from "./_tools.ts";
import { denoDir, withDenoDir } from "./_deno_dir.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** The release targets, as `deno compile --target` names them. */
const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

type Tasks = Record<string, { command: string }>;
const tasks = config.tasks as Tasks;

/** A permission set of deno.json: true for all of a kind, or a list of names. */
type PermissionSet = Record<string, boolean | string[] | { deny?: boolean | string[] }>;
/** The permission set the executable runs under, defined once in deno.json. */
const CHAT_SET: PermissionSet = config.permissions.chat;
/** What the executable may use; never everything, subprocesses or native code. */
const ALLOWED_KINDS = ["net", "read", "write", "env", "sys", "import"];

/** The commands of a task string, `a && b` being two, each split into words. */
function commands(task: string): string[][] {
  assert.doesNotMatch(task, /["'`$|;<>\\]|\|\||(?<!&)&(?!&)/, `plain words and && only: ${task}`);
  return task.split("&&").map((part) => part.trim().split(/\s+/));
}

/** The one `deno SUBCOMMAND` command of a task. */
function denoCommand(name: string, subcommand: string): string[] {
  const [command, ...more] = commands(tasks[name].command);
  assert.equal(more.length, 0, `${name}: one command`);
  assert.deepEqual(command.slice(0, 2), ["deno", subcommand], name);
  return command;
}

/** Every `deno compile` command of the compile tasks. */
function compileCommands(): { task: string; args: string[] }[] {
  return ["compile", "compile:all"].flatMap((task) =>
    commands(tasks[task].command).map((args) => {
      assert.deepEqual(args.slice(0, 2), ["deno", "compile"], task);
      return { task, args };
    })
  );
}

/** The permission flags of a command, in order. */
function permissionFlags(args: string[]): string[] {
  return args.filter((arg) =>
    /^(--(allow|deny|ignore)-[a-z]+|--no-prompt|-[ANRWES]|--permission-set|-P)(=|$)/.test(arg)
  );
}

/** The value of `--flag VALUE` (or `--flag=VALUE`) in `args`. */
function flagValue(args: string[], flag: string): string | undefined {
  const at = args.findIndex((arg) => arg === flag || arg.startsWith(`${flag}=`));
  if (at < 0) return undefined;
  return args[at] === flag ? args[at + 1] : args[at].slice(flag.length + 1);
}

/** The permission flags of `deno task server`: the set's name and no prompts. */
const PERMISSIONS = permissionFlags(denoCommand("server", "run"));
/** The variables the set lets the code read. */
const ALLOWED_ENV = CHAT_SET.env as string[];

async function deno(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/**
 * The metadata `deno compile` embeds in an executable (entrypoint, permissions,
 * flags): the last JSON object that starts with `{"argv":`.
 */
// deno-lint-ignore no-explicit-any
function embeddedMetadata(bytes: Uint8Array): Record<string, any> {
  const text = new TextDecoder("latin1").decode(bytes);
  const start = text.lastIndexOf('{"argv":');
  assert.ok(start >= 0, "the executable embeds its metadata");
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === "\\") i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === "{" || char === "[") depth++;
    else if ((char === "}" || char === "]") && --depth === 0) {
      return JSON.parse(text.slice(start, i + 1));
    }
  }
  throw new Error("the embedded metadata does not end");
}

Deno.test("the server, client and compile tasks name the one permission set, and add none", () => {
  assert.deepEqual(
    PERMISSIONS,
    ["--permission-set=chat", "--no-prompt"],
    "a missing permission fails, never prompts",
  );
  assert.deepEqual(permissionFlags(denoCommand("client", "run")), PERMISSIONS, "client");
  for (const { task, args } of compileCommands()) {
    assert.deepEqual(permissionFlags(args), PERMISSIONS, `${task}: ${args.join(" ")}`);
  }
});

/** The V8 flags every way of running chat gives (docs/benchmarks.md says why). */
const V8_FLAGS = ["--v8-flags=--max-semi-space-size=1"];

Deno.test("the server, client and compile tasks run V8 with the same flags (./chat: launcher_test)", () => {
  const v8 = (args: string[]) => args.filter((arg) => arg.startsWith("--v8-flags"));
  assert.deepEqual(v8(denoCommand("server", "run")), V8_FLAGS, "server");
  assert.deepEqual(v8(denoCommand("client", "run")), V8_FLAGS, "client");
  for (const { task, args } of compileCommands()) {
    assert.deepEqual(v8(args), V8_FLAGS, `${task}: ${args.join(" ")}`);
  }
});

Deno.test("the permission set allows no subprocesses, native code or remote code, and names its variables", () => {
  for (const kind of Object.keys(CHAT_SET)) assert.ok(ALLOWED_KINDS.includes(kind), kind);
  assert.deepEqual(CHAT_SET.import, { deny: true }, "no code from the network");
  assert.ok(ALLOWED_ENV.length > 0 && ALLOWED_ENV.every((name) => /^[A-Z_]+$/.test(name)));
});

Deno.test("the permission set lists exactly the environment variables the code reads", async () => {
  // Environment variables often hold secrets, so the list is exact. main.ts
  // reads a variable it may not as unset, so a missing name would fail quietly:
  // this is where it shows.
  const read = new Set<string>();
  const files = [`${ROOT}main.ts`];
  for (let i = 0, dirs = [`${ROOT}lib`]; i < dirs.length; i++) {
    for await (const entry of Deno.readDir(dirs[i])) {
      const path = `${dirs[i]}/${entry.name}`;
      if (entry.isDirectory) dirs.push(path);
      else if (entry.name.endsWith(".ts")) files.push(path);
    }
  }
  for (const path of files) {
    const source = await Deno.readTextFile(path);
    for (const [, name] of source.matchAll(/\benv(?:\.get)?\(\s*"([A-Z0-9_]+)"/g)) read.add(name);
  }
  // The Redis client library reads two debug switches of its own, by name.
  for (const name of await libraryEnv("@redis/client")) read.add(name);
  assert.deepEqual(ALLOWED_ENV.toSorted(), [...read].toSorted());
});

/** The `process.env.NAME` reads in an npm package's code, from Deno's cache (version from deno.lock). */
async function libraryEnv(name: string): Promise<string[]> {
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`));
  const version = Object.keys(lock.npm ?? {}).find((key) => key.startsWith(`${name}@`))
    ?.slice(name.length + 1).split("_")[0];
  assert.ok(version, `${name} is not in deno.lock`);
  const cache = denoDir();
  const root = `${cache}/npm/registry.npmjs.org/${name}/${version}`;
  const names = new Set<string>();
  for (let i = 0, dirs = [root]; i < dirs.length; i++) {
    for await (const entry of Deno.readDir(dirs[i])) {
      const path = `${dirs[i]}/${entry.name}`;
      if (entry.isDirectory) dirs.push(path);
      else if (entry.name.endsWith(".js")) {
        const source = await Deno.readTextFile(path);
        for (const [, env] of source.matchAll(/process\.env\.([A-Z0-9_]+)/g)) names.add(env);
        assert.doesNotMatch(source, /process\.env\[|Object\.keys\(process\.env\)/, path);
      }
    }
  }
  return [...names];
}

Deno.test("deno task compile builds dist/chat for this machine", () => {
  const [{ args }, ...rest] = compileCommands();
  assert.equal(rest.length, TARGETS.length);
  assert.equal(flagValue(args, "--target"), undefined);
  assert.equal(flagValue(args, "--output"), "dist/chat");
  assert.equal(args.at(-1), "main.ts");
});

Deno.test("deno task compile:all builds every release target into dist/", () => {
  const all = compileCommands().filter(({ task }) => task === "compile:all");
  assert.deepEqual(all.map(({ args }) => flagValue(args, "--target")), TARGETS);
  for (const { args } of all) {
    const target = flagValue(args, "--target")!;
    const exe = target.includes("windows") ? ".exe" : "";
    assert.equal(flagValue(args, "--output"), `dist/chat-${target}${exe}`);
    assert.equal(args.at(-1), "main.ts");
  }
});

Deno.test("the pinned Deno knows every flag of the tasks", async () => {
  // --quiet and the like are deno's own flags, listed by `deno --help`.
  const global = (await deno(["--help"])).stdout;
  const help = {
    run: (await deno(["run", "--help"])).stdout + global,
    compile: (await deno(["compile", "--help"])).stdout + global,
  };
  const used = [
    ["run", denoCommand("server", "run")],
    ["run", denoCommand("client", "run")],
    ...compileCommands().map(({ args }) => ["compile", args] as const),
  ] as const;
  for (const [subcommand, args] of used) {
    for (const arg of args.filter((word) => word.startsWith("-"))) {
      const name = arg.split("=")[0];
      const known = new RegExp(`(^|[\\s,])${name}(?=[\\s=\\[,]|$)`, "m");
      assert.match(help[subcommand], known, `deno ${subcommand} --help lists ${name}`);
    }
  }
});

Deno.test("deno compile gets as far as the runtime download for every target", async () => {
  // DENORT_BIN names the runtime to embed instead of downloading it. A missing
  // file makes compile stop right there, after it parsed the flags (targets
  // included), resolved the module graph (npm packages, lazy imports) and type
  // checked: what is left is the download this machine cannot make.
  const dir = await Deno.makeTempDir({ prefix: "chat-compile-" });
  try {
    const attempt = async ({ args }: { args: string[] }) => {
      const output = args.indexOf("--output");
      const target = flagValue(args, "--target") ?? "host";
      if (output < 0) return { target, code: -1, stdout: "", stderr: "no --output" };
      const changed = args.with(output + 1, `${dir}/${target}/chat`).slice(1);
      return { target, ...await deno(changed, { DENORT_BIN: `${dir}/no-such-denort` }) };
    };
    const [first, ...rest] = compileCommands();
    const results = [await attempt(first)]; // Fills the type-check cache for the others.
    results.push(...await Promise.all(rest.map(attempt)));
    for (const { target, code, stderr } of results) {
      assert.notEqual(code, 0, target);
      assert.match(stderr, /Could not find denort/, `${target}:\n${stderr}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the executable embeds exactly the permission set, and only the npm packages it uses", async () => {
  // A stand-in runtime (any executable of this machine's format) lets compile
  // finish: the output cannot run, but it carries what a real one would, the
  // metadata with the permissions included.
  const standIn = Deno.build.os === "linux" ? "/usr/bin/true" : Deno.execPath();
  const dir = await Deno.makeTempDir({ prefix: "chat-compile-" });
  try {
    const [{ args }] = compileCommands();
    const output = `${dir}/chat`;
    const compiled = await deno(args.with(args.indexOf("--output") + 1, output).slice(1), {
      DENORT_BIN: standIn,
    });
    assert.equal(compiled.code, 0, compiled.stderr);
    const metadata = embeddedMetadata(await Deno.readFile(output));
    assert.deepEqual(metadata.permissions, {
      ...metadata.permissions,
      allow_net: [], // [] is all, null is none.
      allow_read: [],
      allow_write: [],
      allow_env: ALLOWED_ENV,
      allow_sys: [],
      allow_run: null,
      allow_ffi: null,
      deny_import: [],
      prompt: false,
    });
    assert.equal(metadata.log_level, null, "deno's own warnings stay on (no --quiet)");
    // The V8 flags of the task (Deno adds its own before them).
    assert.deepEqual(
      (metadata.v8_flags as string[]).filter((flag) => V8_FLAGS.includes(`--v8-flags=${flag}`)),
      V8_FLAGS.map((flag) => flag.replace("--v8-flags=", "")),
    );
    // The tree of embedded files: the server's certificate library, not the test's YAML parser.
    assert.match(compiled.stderr, /@peculiar/);
    assert.match(compiled.stderr, /reflect-metadata/);
    assert.doesNotMatch(compiled.stderr, /yaml/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "the permission set runs a server and its clients (deno run, as the executable would)",
  { ignore: missing("tmux") },
  async () => {
    await runSession({
      command: [Deno.execPath(), ...denoCommand("server", "run").slice(1, -2), MAIN],
      tty: true,
      // The session moves HOME; the module cache stays where it is.
      env: withDenoDir({}),
    });
  },
);

Deno.test("release.yml tests, builds every target, sums and attaches them on a tag v*", async () => {
  const release = await readWorkflow(".github/workflows/release.yml");
  assert.deepEqual(release.on.push.tags, ["v*"]);
  assert.deepEqual(release.permissions, { contents: "read" });
  const { test, build, smoke, release: publish } = release.jobs;
  assert.match(runs(test), /^\.ci\/run$/m); // tests/ci_test.ts: exactly as in ci.yml
  assert.match(runs(build), /^deno task compile:all$/m);
  assert.match(runs(build), /^sha256sum chat-\* > SHA256SUMS$/m);
  assert.deepEqual(build.needs, "test");
  // Each native executable runs the session on its own OS before anything is published.
  const outputs = compileCommands().filter(({ task }) => task === "compile:all")
    .map(({ args }) => flagValue(args, "--output")!.replace("dist/", ""));
  for (const { chat } of smoke.strategy.matrix.include) assert.ok(outputs.includes(chat), chat);
  assert.match(runs(smoke), /tests\/release\/session\.ts/);
  assert.deepEqual(publish.needs, ["build", "smoke"]);
  assert.deepEqual(publish.permissions, { contents: "write" });
  assert.match(runs(publish), /gh release create "\$TAG" dist\/chat-\* dist\/SHA256SUMS/);
  assert.match(runs(publish), /gh release upload "\$TAG" dist\/chat-\* dist\/SHA256SUMS/);
});

Deno.test("the install manual names every release file", async () => {
  const manual = await Deno.readTextFile(`${ROOT}docs/install.md`);
  const section = manual.split("<!-- install:start -->")[1]?.split("<!-- install:end -->")[0];
  assert.ok(section, "docs/install.md has the install markers");
  for (const { args } of compileCommands().filter(({ task }) => task === "compile:all")) {
    assert.ok(section.includes(flagValue(args, "--output")!.replace("dist/", "")));
  }
  assert.match(section, /SHA256SUMS/);
  assert.match(section, /deno task compile:all/);
});
