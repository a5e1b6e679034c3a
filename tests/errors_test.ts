// The error kinds and message helpers (lib/errors.ts), and main.ts staying
// lazy: before the subcommand is known it loads nothing but lib/errors.ts.

import assert from "node:assert/strict";
import { errorLine, errorMessage, errorReason } from "../lib/errors.ts";

Deno.test("errorMessage gives an Error's message and anything else's string form", () => {
  assert.equal(errorMessage(new TypeError("bad shape")), "bad shape");
  assert.equal(errorMessage("gone"), "gone");
  assert.equal(errorMessage(42), "42");
  assert.equal(errorMessage(undefined), "undefined");
});

Deno.test("errorLine keeps the first line only", () => {
  assert.equal(
    errorLine(new Error("handshake failed\n    at connect (x.ts:1:1)")),
    "handshake failed",
  );
  assert.equal(errorLine("one\ntwo"), "one");
});

Deno.test("errorReason words common file errors and drops the runtime's noise", async () => {
  const missing = await Deno.readFile("/nonexistent/chat/file").catch((error) => error);
  assert.equal(errorReason(missing), "no such file or directory");
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(
      errorReason(await Deno.readFile(dir).catch((error) => error)),
      "it is a directory",
    );
  } finally {
    await Deno.remove(dir);
  }
  assert.equal(errorReason(new Error("Address in use (os error 98).")), "Address in use");
  assert.equal(errorReason(new Error("refused.\nmore")), "refused");
});

/** The modules a file imports for their values (`import type` loads nothing at run time). */
async function valueImports(path: string): Promise<string[]> {
  const source = await Deno.readTextFile(new URL(path, import.meta.url));
  return [...source.matchAll(/^import\s+(?!type\b)[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]);
}

Deno.test("main.ts loads only deno.json and lib/errors.ts before it knows the subcommand", async () => {
  // Everything else (the X.509 library, TLS, node:util) is a dynamic import
  // per subcommand, so `chat --version` starts as fast as Deno does.
  assert.deepEqual(await valueImports("../main.ts"), ["./deno.json", "./lib/errors.ts"]);
  assert.deepEqual(await valueImports("../lib/errors.ts"), []);
});
