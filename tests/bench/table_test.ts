import assert from "node:assert/strict";
import {
  type ComparisonRow,
  formatColumns,
  formatComparison,
  formatFigure,
  formatRatio,
  formatTarget,
  median,
  medianRatio,
  meetsTarget,
  type Target,
} from "../../bench/table.ts";

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

Deno.test("ratios: two decimals near 1, fewer for large ones, a dash for none", () => {
  assert.equal(formatRatio(0.8349), "0.83×");
  assert.equal(formatRatio(1), "1.00×");
  assert.equal(formatRatio(17.83), "17.8×");
  assert.equal(formatRatio(123.4), "123×");
  assert.equal(formatRatio(0.00487), "0.0049×"); // Not "0.00×": ncat's latency at N=1000.
  assert.equal(formatRatio(0), "0.00×");
  assert.equal(formatRatio(NaN), "–");
  assert.equal(formatRatio(Infinity), "–");
});

Deno.test("medianRatio divides the medians, and has none for a column not measured", () => {
  assert.equal(medianRatio([run(300), run(100), run(200)], [run(100)]), 2);
  assert.equal(medianRatio([run(3), run(NaN, 0, "timed out")], [run(2)]), 1.5);
  assert.ok(Number.isNaN(medianRatio([run(3)], "not built")));
  assert.ok(Number.isNaN(medianRatio([run(3)], [])));
});

Deno.test("targets: against the reference as a ratio, or on our own figure", () => {
  const faster: Target = { against: "reference", op: "≥", limit: 1 };
  const small: Target = { against: "value", op: "≤", limit: 64, unit: "MiB" };
  assert.equal(formatTarget(faster), "≥ 1.00×");
  assert.equal(formatTarget(small), "≤ 64 MiB");
  const row = (ours: number, reference: number | string, target = faster): ComparisonRow => ({
    scenario: "s",
    metric: "m",
    columns: [[run(ours)], typeof reference === "string" ? reference : [run(reference)]],
    target,
  });
  assert.equal(meetsTarget(row(100, 100)), true);
  assert.equal(meetsTarget(row(99, 100)), false);
  assert.equal(meetsTarget(row(60, 1, small)), true);
  assert.equal(meetsTarget(row(65, 1, small)), false);
  assert.equal(meetsTarget(row(60, "not built", small)), true); // A limit needs no reference.
  assert.equal(meetsTarget(row(100, "not built")), undefined); // A ratio does.
  assert.equal(meetsTarget({ scenario: "s", metric: "m", columns: [[run(1)]] }), undefined);
});

Deno.test("the comparison table: medians, a ratio to each other column, target, problems", () => {
  const rows: ComparisonRow[] = [
    {
      scenario: "fan-out N=10",
      metric: "deliveries/s",
      columns: [
        [run(900_000), run(1_000_000), run(1_100_000)],
        [run(1_250_000), run(1_200_000, 3), run(NaN, 0, "timed out")],
        [run(100_000)],
      ],
      target: { against: "reference", op: "≥", limit: 1 },
    },
    {
      scenario: "scale",
      metric: "KiB per client",
      columns: [[run(29)], "not built", "not measured"],
      target: { against: "value", op: "≤", limit: 30, unit: "KiB" },
    },
  ];
  assert.equal(
    formatComparison(rows, ["ours", "tokio", "ncat"]),
    [
      "| scenario | metric | ours | tokio | ncat | ours ÷ tokio | ours ÷ ncat | target | met | lost / dup / out of order (ours; tokio; ncat) |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
      "| fan-out N=10 | deliveries/s | 1,000,000 | 1,225,000 (1 of 3 failed) | 100,000 | 0.82× | 10.0× | ≥ 1.00× | no | 0 / 0 / 0; 3 / 0 / 0; 0 / 0 / 0 |",
      "| scale | KiB per client | 29 | – | – | – | – | ≤ 30 KiB | yes | 0 / 0 / 0; –; – |",
      "",
    ].join("\n"),
  );
});

Deno.test("configurations side by side: how many times better the last is than the base", () => {
  const table = formatColumns(
    [
      {
        scenario: "s",
        metric: "p99 ms",
        better: "lower",
        columns: [[run(10)], [run(20)], [run(40)]],
      },
    ],
    ["a", "b", "c"],
    1,
    "c vs b",
  );
  assert.match(table, /\| s \| p99 ms \| 10 \| 20 \| 40 \| 0\.5× \|/);
});
