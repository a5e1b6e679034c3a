// The shape of the tree that issue 11 drew, kept by a test so it cannot
// drift silently: ARCHITECTURE.md names every file of lib/ and bench/ (and
// names none that is gone); no file in lib/ over 450 lines; lib/client,
// lib/check, lib/bench and lib/server never import from each other (what
// they share lives at lib/); lib/ never imports bench/ or tests/, and bench/
// never imports tests/; `chat server` loads the X.509 and Redis libraries
// only when it needs them (deno info's module graph).

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** The longest a file in lib/ may grow before it wants splitting along its seams. */
const MAX_LIB_LINES = 450;
/** The subcommands' folders in lib/. */
const ROOMS = ["server", "client", "check", "bench"];

/** The .ts files under `dir` (relative to the root), recursively. */
async function sources(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...await sources(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) found.push(path);
  }
  return found.toSorted();
}

/** What `path` imports (static and dynamic, relative specifiers only), as paths from the root. */
async function importsOf(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${ROOT}${path}`);
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)];
  return specifiers.map(([, specifier]) => new URL(specifier, `file:///${path}`).pathname.slice(1));
}

Deno.test("ARCHITECTURE.md names every file of lib/ and bench/, and main.ts, as `path`", async () => {
  const text = await Deno.readTextFile(`${ROOT}ARCHITECTURE.md`);
  const named = new Set([...text.matchAll(/`([\w./-]+\.ts)`/g)].map(([, path]) => path));
  const files = ["main.ts", ...await sources("lib"), ...await sources("bench")];
  assert.ok(files.length > 80, `only ${files.length} files found`);
  assert.deepEqual(files.filter((file) => !named.has(file)), [], "files ARCHITECTURE.md misses");
});

Deno.test("every lib/ or bench/ file ARCHITECTURE.md names exists", async () => {
  const text = await Deno.readTextFile(`${ROOT}ARCHITECTURE.md`);
  // Lower case only: `lib/NAME/cli.ts` is a placeholder, not a file.
  const named = [...text.matchAll(/`((?:lib|bench)\/[a-z0-9_./-]+\.ts)`/g)].map(([, path]) => path);
  const missing = [];
  for (const path of new Set(named)) {
    if (!(await Deno.stat(`${ROOT}${path}`).catch(() => undefined))) missing.push(path);
  }
  assert.deepEqual(missing, [], "ARCHITECTURE.md names files that do not exist");
});

Deno.test(`no file in lib/ is over ${MAX_LIB_LINES} lines`, async () => {
  const long: string[] = [];
  for (const path of await sources("lib")) {
    const lines = (await Deno.readTextFile(`${ROOT}${path}`)).split("\n").length - 1;
    if (lines > MAX_LIB_LINES) long.push(`${path}: ${lines}`);
  }
  assert.deepEqual(long, []);
});

Deno.test("lib/'s subcommand folders never import each other; lib/ never imports bench/ or tests/", async () => {
  const wrong: string[] = [];
  for (const path of await sources("lib")) {
    const room = ROOMS.find((name) => path.startsWith(`lib/${name}/`));
    for (const target of await importsOf(path)) {
      const other = ROOMS.find((name) => target.startsWith(`lib/${name}/`));
      const sideways = other !== undefined && other !== room;
      if (sideways || !target.startsWith("lib/")) wrong.push(`${path} -> ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("bench/ never imports tests/", async () => {
  const wrong: string[] = [];
  for (const path of await sources("bench")) {
    for (const target of await importsOf(path)) {
      if (target.startsWith("tests/")) wrong.push(`${path} -> ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

/** The npm packages a module loads when it is imported, following static imports only. */
async function staticNpmPackages(path: string): Promise<{ eager: string[]; lazy: string[] }> {
  const { stdout, success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", path],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  type Dependency = { code?: { specifier: string }; isDynamic?: boolean };
  const graph = JSON.parse(new TextDecoder().decode(stdout)) as {
    roots: string[];
    modules: { specifier: string; dependencies?: Dependency[] }[];
    redirects: Record<string, string>;
  };
  const modules = new Map(graph.modules.map((module) => [module.specifier, module]));
  const resolve = (specifier: string) => graph.redirects[specifier] ?? specifier;
  const npm = (specifier: string) => specifier.match(/^npm:\/?(@?[^@]+)/)?.[1];
  const reached = (dynamic: boolean) => {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const walk = (specifier: string) => {
      if (seen.has(specifier)) return;
      seen.add(specifier);
      const name = npm(specifier);
      if (name !== undefined) {
        packages.add(name); // What an npm package loads in turn is its own business.
        return;
      }
      for (const dependency of modules.get(specifier)?.dependencies ?? []) {
        if (dependency.code !== undefined && (dynamic || !dependency.isDynamic)) {
          walk(resolve(dependency.code.specifier));
        }
      }
    };
    walk(resolve(graph.roots[0]));
    return [...packages].toSorted();
  };
  const eager = reached(false);
  return { eager, lazy: reached(true).filter((name) => !eager.includes(name)) };
}

Deno.test("chat server loads the X.509 and Redis libraries only when it needs them", async () => {
  // A server started with --cert/--key and no --redis never loads @peculiar/x509,
  // reflect-metadata or redis (about 25 MiB in every process): lib/server/cli.ts
  // imports the Redis link, and lib/server/cert.ts the X.509 library, dynamically.
  const { eager, lazy } = await staticNpmPackages("lib/server/cli.ts");
  const heavy = ["@peculiar/x509", "redis", "reflect-metadata"];
  assert.deepEqual(eager.filter((name) => heavy.includes(name)), []);
  // Still reachable (so this test would see them if they came back as static imports).
  assert.deepEqual(lazy.filter((name) => heavy.includes(name)), heavy);
});
