// The front door and the manuals: every relative link in README.md,
// ARCHITECTURE.md and docs/*.md leads to a file that exists, and every
// #anchor to a heading in it (as GitHub names headings); docs/protocol.md
// is the shared protocol contract, word for word, wherever the shared copy
// is at hand. (That ARCHITECTURE.md names every file: tests/layout_test.ts.)

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
