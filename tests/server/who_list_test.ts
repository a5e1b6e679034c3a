// The roster's nicknames kept encoded in runs (lib/server/who_list.ts): the
// `who` it encodes is always the bytes encodeWho gives for the same list.

import assert from "node:assert/strict";
import { encodeWho } from "../../lib/protocol.ts";
import { RUN_LENGTH, WhoList } from "../../lib/server/who_list.ts";
import { seededRandom } from "../../bench/fault/schedule.ts";

const decoder = new TextDecoder();

/** The nicknames of an encoded `who`, in order. */
function nicknamesOf(bytes: Uint8Array): string[] {
  const text = decoder.decode(bytes);
  assert.ok(text.endsWith("\n"));
  return JSON.parse(text).nicknames;
}

Deno.test("an empty list encodes an empty who", () => {
  assert.equal(decoder.decode(new WhoList().encode()), encodeWho([]));
});

Deno.test("joins keep their order; a leave moves the last one into its place", () => {
  const list = new WhoList();
  for (const name of ["ann", "bob", "cat", "dan"]) list.add(name, name.toUpperCase());
  list.delete("bob");
  list.delete("nobody");
  assert.deepEqual(nicknamesOf(list.encode()), ["ANN", "DAN", "CAT"]);
  list.add("cat", "Cat");
  assert.deepEqual(nicknamesOf(list.encode()), ["ANN", "DAN", "Cat"]);
  assert.equal(list.size, 3);
});

Deno.test("under random joins and leaves across many runs, who is always exactly the roster, byte for byte", () => {
  const random = seededRandom(13);
  const list = new WhoList();
  const roster = new Map<string, string>();
  for (let step = 0; step < 20_000; step++) {
    const join = roster.size === 0 || random() < 0.55;
    if (join) {
      const key = `k${Math.floor(random() * 3 * RUN_LENGTH * 4)}`;
      // Nicknames with quotes, backslashes and separators JSON must escape.
      const nickname = `${key} "\\${step % 7 === 0 ? "\u2028" : ""}é`;
      roster.set(key, nickname);
      list.add(key, nickname);
    } else {
      const keys = [...roster.keys()];
      const key = keys[Math.floor(random() * keys.length)];
      roster.delete(key);
      list.delete(key);
    }
    if (step % 997 === 0 || step > 19_990) {
      const bytes = list.encode();
      const names = nicknamesOf(bytes);
      assert.deepEqual(names.toSorted(), [...roster.values()].sort(), `step ${step}`);
      assert.equal(decoder.decode(bytes), encodeWho(names), `step ${step}: not encodeWho's bytes`);
    }
  }
  assert.ok(roster.size > 2 * RUN_LENGTH, `only ${roster.size} in the end: too few runs`);
});
