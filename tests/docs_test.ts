// The front door and the manuals: every relative link in README.md,
// ARCHITECTURE.md and docs/*.md leads to a file that exists, and every
// #anchor to a heading in it (as GitHub names headings); ARCHITECTURE.md
// names every source file of lib/ and bench/, and every file it names
// exists; docs/protocol.md is the shared protocol contract, word for word,
// wherever the shared copy is at hand.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The markdown files a reader of the repository follows links in. */
async function documents(): Promise<string[]> {
  const docs: string[] = ["README.md", "ARCHITECTURE.md"];
  for await (const entry of Deno.readDir(`${ROOT}docs`)) {
    if (entry.isFile && entry.name.endsWith(".md")) docs.push(`docs/${entry.name}`);
  }
  return docs.toSorted();
}

/** The text outside fenced code blocks and inline code (where brackets are not links). */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** The anchors of a markdown file's headings. */
function anchors(markdown: string): Set<string> {
  const headings = prose(markdown).matchAll(/^#{1,6} (.+)$/gm);
  return new Set([...headings].map(([, text]) => anchorOf(text.replaceAll("`", ""))));
}

Deno.test("GitHub's anchors: lower case, punctuation dropped, spaces as hyphens", () => {
  assert.equal(anchorOf("Several servers through Redis"), "several-servers-through-redis");
  assert.equal(anchorOf("History: memory, disk, restarts"), "history-memory-disk-restarts");
  assert.equal(anchorOf("Checking a server: chat check"), "checking-a-server-chat-check");
});

Deno.test("every relative link in README.md, ARCHITECTURE.md and docs/ leads to a file, and its #anchor to a heading", async () => {
  const broken: string[] = [];
  let checked = 0;
  for (const doc of await documents()) {
    const text = await Deno.readTextFile(`${ROOT}${doc}`);
    for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      checked++;
      const [path, anchor] = target.split("#");
      const file = path === "" ? `${ROOT}${doc}` : new URL(path, `file://${ROOT}${doc}`).pathname;
      const linked = await Deno.readTextFile(file).catch(() => undefined);
      if (linked === undefined && !(await Deno.stat(file).catch(() => undefined))) {
        broken.push(`${doc}: ${target} (no such file)`);
      } else if (anchor !== undefined && !anchors(linked ?? "").has(anchor)) {
        broken.push(`${doc}: ${target} (no such heading)`);
      }
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked > 20, `only ${checked} links found`);
});

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

/** Where the shared contract lives beside a checkout (the main one, or a worktree of it). */
const SHARED = [`${ROOT}../shared/PROTOCOL.md`, `${ROOT}../../shared/PROTOCOL.md`];
const shared = (await Promise.all(SHARED.map((path) => Deno.readTextFile(path).catch(() => ""))))
  .find((text) => text !== "");
if (shared === undefined) {
  Deno.stderr.writeSync(
    new TextEncoder().encode("the protocol copy is not compared: no shared/PROTOCOL.md here\n"),
  );
}

Deno.test("docs/protocol.md is the shared PROTOCOL.md, word for word", {
  ignore: shared === undefined,
}, async () => {
  assert.equal(await Deno.readTextFile(`${ROOT}docs/protocol.md`), shared);
});
