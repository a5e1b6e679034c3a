// Crash: a real server process with --data-dir, killed with SIGKILL under
// load at a random moment and restarted on the same folder, five times (the
// soak does twenty). After every restart the replay holds every acked
// message exactly once, in order, seq 1, 2, 3, …, and nothing stored before
// has changed. The seed of the kill schedule is fixed; FAULT_SEED=N picks
// another.

import assert from "node:assert/strict";
import { runCrash } from "../../bench/fault/crash.ts";

const SEED = Number(Deno.env.get("FAULT_SEED") ?? 20261127);

Deno.test({
  name: "SIGKILL under load loses no acked message and duplicates none, restart after restart",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "chat-fault-" });
    try {
      const figures = await runCrash(dir, {
        cycles: 5,
        senders: 4,
        window: 32,
        killAfterMs: [200, 1000],
        seed: SEED,
        messageBytes: 100,
      });
      const report = JSON.stringify(figures);
      assert.deepEqual(figures.problems, [], `seed ${SEED}: ${report}`);
      assert.ok(figures.acked > 100, `too little load to mean anything: ${report}`);
      assert.ok(figures.stored >= figures.acked, report);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
