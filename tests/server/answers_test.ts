// Unit tests for the order of one connection's answers
// (lib/server/answers.ts): answers known now wait behind those still to
// come, an answer given in its turn goes out with it, and the capped log
// of refused frames. The same over real TLS: answer_order_test.ts.

import assert from "node:assert/strict";
import { Answers } from "../../lib/server/answers.ts";
import { ANSWER_WAIT_MS, LOGGED_REJECTIONS } from "../../lib/server/limits.ts";
import type { StatusFrame } from "../../lib/protocol.ts";

function answersFor() {
  const sent: StatusFrame[] = [];
  const logged: string[] = [];
  const answers = new Answers({
    send: (frame) => sent.push(frame),
    logRejection: (reason) => logged.push(reason),
    now: () => performance.now(),
  });
  return { answers, sent, logged };
}

Deno.test("answers known now go out at once when nothing is owed before them", () => {
  const { answers, sent } = answersFor();
  answers.reply({ status: "ok" });
  answers.reject("malformed JSON", "7");
  assert.deepEqual(sent, [{ status: "ok" }, {
    status: "error",
    reason: "malformed JSON",
    id: "7",
  }]);
  assert.equal(answers.owed(), undefined);
});

Deno.test("answers wait behind one still to come, settled out of order or refused", async () => {
  const { answers, sent } = answersFor();
  const slow = Promise.withResolvers<string>();
  const quick = Promise.withResolvers<void>();
  answers.later(slow.promise, (reason) => answers.reply({ status: "error", reason }));
  answers.reject("malformed JSON");
  answers.later(
    quick.promise,
    () => answers.reply({ status: "ok", id: "m1" }),
    () => answers.reject("storage unavailable", "m1"),
  );
  let given = false;
  answers.now(() => given = true);
  const owed = answers.owed();
  assert.ok(owed !== undefined);
  quick.reject(new Error("disk"));
  await Promise.resolve();
  assert.deepEqual(sent, []);
  assert.equal(given, false);
  slow.resolve("register needs a client certificate");
  await owed;
  assert.deepEqual(sent, [
    { status: "error", reason: "register needs a client certificate" },
    { status: "error", reason: "malformed JSON", id: undefined },
    { status: "error", reason: "storage unavailable", id: "m1" },
  ]);
  assert.equal(given, true);
  answers.reply({ status: "ok" });
  assert.equal(sent.length, 4, "nothing owed any more: at once");
});

Deno.test("refused frames are logged up to LOGGED_REJECTIONS, then once more to say so", () => {
  const { answers, sent, logged } = answersFor();
  for (let i = 0; i < LOGGED_REJECTIONS + 5; i++) answers.reject("malformed JSON");
  assert.equal(sent.length, LOGGED_REJECTIONS + 5);
  assert.equal(logged.length, LOGGED_REJECTIONS + 1);
  assert.match(logged.at(-1)!, /not logged/);
});

Deno.test("an answer that takes longer than ANSWER_WAIT_MS stops holding back the rest, and follows once known", async () => {
  const { answers, sent } = answersFor();
  const hung = Promise.withResolvers<void>();
  answers.later(hung.promise, () => answers.reply({ status: "ok", id: "in doubt" }));
  answers.reject("malformed JSON");
  const owed = answers.owed();
  await new Promise((resolve) => setTimeout(resolve, ANSWER_WAIT_MS / 2));
  assert.deepEqual(sent, [], "held back within ANSWER_WAIT_MS");
  await new Promise((resolve) => setTimeout(resolve, ANSWER_WAIT_MS / 2 + 100));
  assert.deepEqual(sent, [{ status: "error", reason: "malformed JSON", id: undefined }]);
  answers.reply({ status: "ok" });
  assert.equal(sent.length, 2, "nothing held back by the late one");
  let done = false;
  owed!.then(() => done = true);
  await Promise.resolve();
  assert.equal(done, false, "the late answer is still owed");
  hung.resolve();
  await owed;
  assert.deepEqual(sent.at(-1), { status: "ok", id: "in doubt" });
});

Deno.test("an answer that keeps no place: nothing when it resolves, its refusal after what was owed, owed() waits for it", async () => {
  const { answers, sent } = answersFor();
  const stored = Promise.withResolvers<void>();
  const failed = Promise.withResolvers<void>();
  const slow = Promise.withResolvers<void>();
  answers.whenever(stored.promise, () => answers.reject("storage unavailable"));
  answers.whenever(failed.promise, () => answers.reject("storage unavailable"));
  answers.reject("malformed JSON");
  assert.deepEqual(sent, [{ status: "error", reason: "malformed JSON", id: undefined }]);
  answers.later(slow.promise, () => answers.reply({ status: "ok", id: "m1" }));
  const owed = answers.owed();
  assert.ok(owed !== undefined, "two unplaced answers and one placed are owed");
  stored.resolve();
  failed.reject(new Error("disk full"));
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(sent.length, 1, "the refusal waits behind the answer owed before it");
  slow.resolve();
  await owed;
  assert.deepEqual(sent.slice(1), [
    { status: "ok", id: "m1" },
    { status: "error", reason: "storage unavailable", id: undefined },
  ]);
  answers.stop();
});
