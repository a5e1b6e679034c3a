import assert from "node:assert/strict";
import { formatFigure, formatTable, median, ratio, type Row } from "../../bench/table.ts";

const run = (value: number, lost = 0, failure?: string) => ({
  value,
  lost,
  duplicated: 0,
  outOfOrder: 0,
  failure,
});

Deno.test("median of odd and even counts", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([NaN, 5, 1]), 3); // A failed run without a figure does not count.
  assert.ok(Number.isNaN(median([])));
});

Deno.test("figures: thousands separated, three significant digits below 1000", () => {
  assert.equal(formatFigure(1344241.4), "1,344,241");
  assert.equal(formatFigure(1000), "1,000");
  assert.equal(formatFigure(142.34), "142");
  assert.equal(formatFigure(0.01234), "0.0123");
  assert.equal(formatFigure(0), "0");
  assert.equal(formatFigure(NaN), "–");
});

Deno.test("the ratio says how many times better ours is, whichever way is better", () => {
  const base = { scenario: "s", metric: "m" };
  assert.equal(ratio({ ...base, better: "higher", ours: [run(300)], ncat: [run(100)] }), 3);
  assert.equal(ratio({ ...base, better: "lower", ours: [run(2)], ncat: [run(10)] }), 5);
  assert.ok(Number.isNaN(ratio({ ...base, better: "lower", ours: [run(2)] })));
});

Deno.test("the table shows medians, ratio, failures and summed problems", () => {
  const rows: Row[] = [
    {
      scenario: "fan-out N=10",
      metric: "deliveries/s",
      better: "higher",
      ours: [run(900_000), run(1_000_000), run(1_100_000)],
      ncat: [run(200_000, 5), run(250_000), run(NaN, 0, "timed out")],
    },
    { scenario: "replay", metric: "MB/s", better: "higher", ours: [run(250)] },
    { scenario: "x", metric: "y", better: "higher", ours: [run(1)], ncat: "ncat is missing" },
  ];
  assert.equal(
    formatTable(rows),
    [
      "| scenario | metric | ours | ncat | ratio | lost / dup / out of order (ours; ncat) |",
      "| --- | --- | ---: | ---: | ---: | --- |",
      "| fan-out N=10 | deliveries/s | 1,000,000 | 225,000 (1 of 3 failed) | 4.4× | 0 / 0 / 0; 5 / 0 / 0 |",
      "| replay | MB/s | 250 | – | – | 0 / 0 / 0 |",
      "| x | y | 1 | skipped | – | 0 / 0 / 0 |",
      "",
    ].join("\n"),
  );
});
