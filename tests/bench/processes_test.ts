import assert from "node:assert/strict";
import {
  cpuSnapshot,
  cpuUse,
  describeCpu,
  parseCpu,
  parseMemory,
  watchPeakMemory,
} from "../../bench/processes.ts";

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

Deno.test("parseCpu reads busy time, reaped children and the watched processes", () => {
  const text = [
    "cpu  1000 50 300 9000 20 5 5 0 0 0",
    "4242 (deno) S 1 2 3 0 -1 0 0 0 0 0 70 30 250 50 20 0 5 0 100 0 0",
    "77 (weird) name) R 1 2 3 0 -1 0 0 0 0 0 400 100 0 0 20 0 5 0 100 0 0",
    "gone",
  ].join("\n");
  const snapshot = parseCpu(text, 5);
  assert.equal(snapshot.atMs, 5);
  assert.equal(snapshot.machine, (1000 + 50 + 300 + 5 + 5) / 100);
  assert.equal(snapshot.children, (250 + 50) / 100);
  assert.ok(Number.isNaN(snapshot.process), "a process that is gone makes the sum unknown");
  assert.equal(parseCpu(text.split("\n").slice(0, 3).join("\n"), 0).process, 5);
  const use = cpuUse(
    { atMs: 0, machine: 10, children: 1, process: 2 },
    { atMs: 4000, machine: 16, children: 3, process: 4.5 },
  );
  assert.deepEqual(use, { seconds: 4, server: 2.5, bench: 2, rest: 1.5 });
  assert.equal(
    describeCpu(use),
    "CPU s: server 2.5, chat bench 2.0, rest of the machine 1.5, in 4.0 s",
  );
});

Deno.test("cpuSnapshot reads this machine", async () => {
  const snapshot = await cpuSnapshot([Deno.pid]);
  assert.ok(snapshot.machine > 0 && snapshot.process > 0 && snapshot.children >= 0);
});
