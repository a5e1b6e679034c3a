// What presence says on screen (lib/client/presence_lines.ts): the summary
// at login, /who's list, single joins and leaves, and the fold of a busy
// moment, on a fake clock.

import assert from "node:assert/strict";
import {
  eventLine,
  FOLD_WINDOW_MS,
  hereLine,
  MAX_SUMMARY_NAMES,
  PresenceFold,
} from "../../lib/client/presence_lines.ts";
import { FakeTimers } from "./_fake_clock.ts";

const join = (nickname: string) => ({ type: "join" as const, nickname, time: "" });
const leave = (nickname: string, reason?: string) => ({
  type: "leave" as const,
  nickname,
  time: "",
  ...(reason === undefined ? {} : { reason }),
});

function fold() {
  const timers = new FakeTimers();
  const shown: string[] = [];
  return { timers, shown, fold: new PresenceFold({ timers, show: (text) => shown.push(text) }) };
}

Deno.test("the login summary names everyone in a small room", () => {
  assert.equal(hereLine(["alice", "bob", "carol"], true), "3 here: alice, bob, carol");
  assert.equal(hereLine(["bob"], true), "1 here: bob");
  assert.equal(hereLine([], true), "nobody here");
});

Deno.test("the login summary is cut in a big room, /who is not", () => {
  const names = Array.from({ length: 25 }, (_, i) => `person${i}`);
  const summary = hereLine(names, true);
  assert.equal(
    summary,
    `25 here: ${names.slice(0, MAX_SUMMARY_NAMES).join(", ")} and 15 more (/who lists all)`,
  );
  assert.equal(hereLine(names, false), `25 here: ${names.join(", ")}`);
  // Long nicknames: cut by characters too, and each name at 40 characters.
  const long = Array.from({ length: 5 }, (_, i) => `${i}${"x".repeat(60)}`);
  const cut = hereLine(long, true);
  assert.match(cut, /^5 here: 0x{39}…, 1x{39}… and 3 more \(\/who lists all\)$/);
});

Deno.test("one join or leave reads as a sentence, with the reason", () => {
  assert.equal(eventLine(join("carol")), "carol joined");
  assert.equal(eventLine(leave("carol", "quit")), "carol left (quit)");
  assert.equal(eventLine(leave("carol", "lost")), "carol left (lost)");
  assert.equal(eventLine(leave("carol")), "carol left");
  assert.equal(eventLine(leave("carol", "r".repeat(100))), `carol left (${"r".repeat(20)}…)`);
});

Deno.test("after a quiet spell a join shows at once; the next ones within the window fold into one line", () => {
  const t = fold();
  t.fold.add(join("alice"));
  assert.deepEqual(t.shown, ["alice joined"]);
  t.timers.advance(500);
  t.fold.add(join("bob"));
  t.fold.add(join("carol"));
  assert.deepEqual(t.shown, ["alice joined"], "folded until the window closes");
  t.timers.advance(FOLD_WINDOW_MS);
  assert.deepEqual(t.shown, ["alice joined", "bob and carol joined"]);
  // Quiet for a window: the next one shows at once again.
  t.timers.advance(FOLD_WINDOW_MS);
  t.fold.add(leave("bob", "quit"));
  assert.deepEqual(t.shown.at(-1), "bob left (quit)");
  t.fold.stop();
});

Deno.test("a busy meetup: a hundred joins and some leaves make one line per window", () => {
  const t = fold();
  for (let i = 0; i < 100; i++) {
    t.fold.add(join(`p${i}`));
    t.timers.advance(20); // 100 joins in 2 s: within one window after the first.
  }
  t.fold.add(leave("early1", "quit"));
  t.fold.add(leave("early2", "lost"));
  t.fold.add(leave("early3", "quit"));
  t.timers.advance(FOLD_WINDOW_MS);
  assert.deepEqual(t.shown, [
    "p0 joined",
    "p1, p2, p3 and 96 others joined; early1 and early3 left (quit); early2 left (lost)",
  ]);
  // The stream goes on: the next window folds its share.
  for (let i = 100; i < 103; i++) t.fold.add(join(`p${i}`));
  t.timers.advance(FOLD_WINDOW_MS);
  assert.deepEqual(t.shown.at(-1), "p100, p101 and p102 joined");
  t.fold.stop();
});

Deno.test("someone who comes and goes, or goes and comes back, within a window is left out", () => {
  const t = fold();
  t.fold.add(join("first"));
  t.fold.add(join("visitor"));
  t.fold.add(leave("visitor", "quit"));
  t.fold.add(leave("flaky", "lost"));
  t.fold.add(join("FLAKY"));
  t.fold.add(join("stays"));
  t.timers.advance(FOLD_WINDOW_MS);
  assert.deepEqual(t.shown, ["first joined", "stays joined"]);
  t.fold.stop();
});

Deno.test("flush shows what waits at once (before a message), and the window goes on", () => {
  const t = fold();
  t.fold.add(join("a"));
  t.fold.add(join("b"));
  t.fold.flush();
  assert.deepEqual(t.shown, ["a joined", "b joined"]);
  t.fold.flush();
  assert.equal(t.shown.length, 2, "nothing waits: nothing shown");
  t.fold.add(join("c"));
  assert.equal(t.shown.length, 2, "still within the window: folded");
  t.fold.stop();
  assert.deepEqual(t.shown, ["a joined", "b joined", "c joined"], "stop shows what waits");
  t.fold.add(join("d"));
  assert.equal(t.shown.at(-1), "d joined", "after stop a join shows at once");
  t.fold.stop();
});
