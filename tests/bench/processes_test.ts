import assert from "node:assert/strict";
import { parseMemory, watchPeakMemory } from "../../lib/bench/processes.ts";

Deno.test("parseMemory reads VmRSS and takes the larger of it and VmHWM as the peak", () => {
  const status = "Name:\tdeno\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n";
  assert.deepEqual(parseMemory(status, 1), { rss: 102400, peak: 204800 });
  assert.deepEqual(parseMemory("VmRSS:\t 512 kB\n", 1), { rss: 512, peak: 512 });
  assert.throws(() => parseMemory("Name:\tx\n", 7), /no VmRSS in \/proc\/7\/status/);
});

Deno.test("watchPeakMemory reports a live process's peak, and NaN for one that is gone", async () => {
  const own = await watchPeakMemory(Deno.pid, 10).stop();
  assert.ok(Number.isFinite(own) && own > 1024, `${own} KiB`);
  const child = new Deno.Command("true").spawn();
  await child.status;
  assert.ok(Number.isNaN(await watchPeakMemory(child.pid, 10).stop()));
});
