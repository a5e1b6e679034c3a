// Flag parsing shared by every subcommand (lib/cli.ts): a wrong command line
// is a UsageError whose message is a lower-case phrase (lib/errors.ts), even
// where node:util words it in sentence case.

import assert from "node:assert/strict";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { UsageError } from "../lib/errors.ts";

const SPEC = { port: { type: "string" as const }, json: { type: "boolean" as const } };

function usageMessage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    return error.message;
  }
  assert.fail("no UsageError");
}

Deno.test("parses known flags and refuses positionals unless allowed", () => {
  const parsed = parseFlags(["--port", "0", "--json"], SPEC);
  assert.deepEqual({ ...parsed.values }, { port: "0", json: true });
  assert.deepEqual(parsed.positionals, []);
  assert.deepEqual(parseFlags(["host", "--json"], SPEC, true).positionals, ["host"]);
  assert.match(usageMessage(() => parseFlags(["host"], SPEC)), /^unexpected argument 'host'/);
});

Deno.test("a flag given more than once collects its values in order, apart from the rest", () => {
  const spec = { ...SPEC, op: { type: "string" as const, multiple: true } };
  const parsed = parseFlags(["--op", "a", "--port", "1", "--op", "b"], spec);
  assert.deepEqual(parsed.lists, { op: ["a", "b"] });
  assert.deepEqual({ ...parsed.values }, { port: "1" });
  assert.deepEqual(parseFlags([], spec).lists, { op: [] });
  assert.deepEqual(parseFlags(["--port", "1"], SPEC).lists, {});
});

Deno.test("an unknown flag or a missing value is a lower-case usage phrase, without node's advice", () => {
  assert.equal(usageMessage(() => parseFlags(["--bogus"], SPEC)), "unknown option '--bogus'");
  assert.match(
    usageMessage(() => parseFlags(["--port"], SPEC)),
    /^option '--port <value>' argument missing$/,
  );
});

Deno.test("intFlag reads an integer in range and names the flag otherwise", () => {
  assert.equal(intFlag({}, "port", 1337, 0, 65535), 1337);
  assert.equal(intFlag({ port: " 80 " }, "port", 1337, 0, 65535), 80);
  assert.equal(
    usageMessage(() => intFlag({ port: "70000" }, "port", 1337, 0, 65535)),
    '--port must be an integer from 0 to 65535, got "70000"',
  );
  assert.match(usageMessage(() => intFlag({ port: "1e3" }, "port", 1337, 0, 65535)), /got "1e3"/);
});
