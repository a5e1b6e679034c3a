// Tab in the input line (lib/client/completion.ts): nicknames from
// presence, commands at the start of a line.

import assert from "node:assert/strict";
import { commandsFor } from "../../lib/client/commands.ts";
import { complete, MAX_COMPLETIONS } from "../../lib/client/completion.ts";

const names = ["alice", "Alan", "bob", "carol"];

Deno.test("a nickname at the start of the line is completed with ': '", () => {
  assert.deepEqual(complete("ca", names), [["carol: "], "ca"]);
  assert.deepEqual(complete("CA", names), [["carol: "], "CA"], "case is ignored");
  assert.deepEqual(complete("al", names), [["alice: ", "Alan: "], "al"]);
});

Deno.test("inside a line the nickname alone; after /msg with a space", () => {
  assert.deepEqual(complete("thanks bo", names), [["bob"], "bo"]);
  assert.deepEqual(complete("/msg bo", names), [["bob "], "bo"]);
  assert.deepEqual(complete("/MSG  c", names), [["carol "], "c"]);
});

Deno.test("commands at the start of the line", () => {
  assert.deepEqual(complete("/w", names), [["/who"], "/w"]);
  assert.deepEqual(complete("/", names, commandsFor([])), [["/help", "/quit"], "/"]);
  assert.deepEqual(complete("/", names, commandsFor(["presence", "direct"])), [
    ["/help", "/msg ", "/quit", "/who"],
    "/",
  ]);
  assert.deepEqual(complete("/M", names), [["/msg "], "/M"]);
  assert.deepEqual(complete("/b", names), [["/ban ", "/bans"], "/b"], "all before a login");
  assert.deepEqual(complete("/kick c", names), [["carol "], "c"]);
});

Deno.test("nothing to complete: no candidates", () => {
  assert.deepEqual(complete("", names), [[], ""]);
  assert.deepEqual(complete("hello ", names), [[], ""]);
  assert.deepEqual(complete("zz", names), [[], "zz"]);
  assert.deepEqual(complete("x", []), [[], "x"]);
});

Deno.test("a huge room offers at most MAX_COMPLETIONS", () => {
  const many = Array.from({ length: 5000 }, (_, i) => `p${i}`);
  assert.equal(complete("p", many)[0].length, MAX_COMPLETIONS);
});
