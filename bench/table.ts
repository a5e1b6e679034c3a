// The harness's summary: the medians of repeated runs as markdown tables,
// ours beside the reference server and ncat (and `chat bench` beside
// chatload), or configurations side by side (the Redis comparison), with
// ratios and issue 15's targets. Pure: figures in, text out.

/** One run's figure and what went wrong in it. */
export interface RunFigure {
  value: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  /** Why the run failed (timeout, disconnect, …); undefined when it completed. */
  failure?: string;
  /**
   * Where the machine's CPU went during the run, in seconds (the harness's
   * noise record: the server, `chat bench`, everything else on the machine).
   */
  cpu?: { seconds: number; server: number; bench: number; rest: number };
}

/**
 * What issue 15 asks of a row: a ratio of our figure to the reference's
 * (`against: "reference"`), or a limit on our figure itself.
 */
export interface Target {
  against: "reference" | "value";
  op: "≥" | "≤";
  limit: number;
  /** The unit of a limit on the value ("MiB"). */
  unit?: string;
}

/** One line of a {@linkcode formatComparison} table. */
export interface ComparisonRow {
  scenario: string;
  metric: string;
  /**
   * The runs of each column, in the order of the headers: the first column
   * is the one compared with the others; a string says why that column was
   * not measured.
   */
  columns: (RunFigure[] | string)[];
  target?: Target;
}

/**
 * The median of the finite `values` (the mean of the middle two for an even
 * count); NaN when there is none. A failed run without a figure is NaN.
 *
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * ```
 */
export function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * A figure for people: thousands separated from 1000 on, three significant
 * digits below.
 *
 * @example
 * ```ts
 * formatFigure(1344241.4); // "1,344,241"
 * formatFigure(0.01234); // "0.0123"
 * ```
 */
export function formatFigure(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 1000) {
    return Math.round(value).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  if (value === 0) return "0";
  return String(Number(value.toPrecision(3)));
}

/**
 * A ratio for people: two decimals (0.95× and 1.05× are what a target of
 * 1.0× is about), one from 10 on, none from 100 on, and two significant
 * digits below 0.1.
 *
 * @example
 * ```ts
 * formatRatio(0.8349); // "0.83×"
 * formatRatio(17.83); // "17.8×"
 * formatRatio(0.00487); // "0.0049×"
 * formatRatio(NaN); // "–"
 * ```
 */
export function formatRatio(value: number): string {
  if (!Number.isFinite(value)) return "–";
  const size = Math.abs(value);
  if (size > 0 && size < 0.1) return `${value.toPrecision(2)}×`;
  return `${value.toFixed(size >= 100 ? 0 : size >= 10 ? 1 : 2)}×`;
}

/** The median of `runs` over the median of `base` (NaN when either has none). */
export function medianRatio(runs: RunFigure[] | string, base: RunFigure[] | string): number {
  if (typeof runs === "string" || typeof base === "string") return NaN;
  return median(runs.map((run) => run.value)) / median(base.map((run) => run.value));
}

/**
 * A target as the table shows it.
 *
 * @example
 * ```ts
 * formatTarget({ against: "reference", op: "≥", limit: 1 }); // "≥ 1.00×"
 * formatTarget({ against: "value", op: "≤", limit: 64, unit: "MiB" }); // "≤ 64 MiB"
 * ```
 */
export function formatTarget(target: Target): string {
  return target.against === "reference"
    ? `${target.op} ${formatRatio(target.limit)}`
    : `${target.op} ${formatFigure(target.limit)}${target.unit ? ` ${target.unit}` : ""}`;
}

/**
 * Whether a row meets its target: compared are the ratio of its first
 * column to its second (the reference), or its first column's median;
 * undefined when there is no target or no figure to tell.
 */
export function meetsTarget(row: ComparisonRow): boolean | undefined {
  const target = row.target;
  if (target === undefined) return undefined;
  const ours = row.columns[0];
  const value = target.against === "reference"
    ? medianRatio(ours, row.columns[1] ?? "absent")
    : typeof ours === "string"
    ? NaN
    : median(ours.map((run) => run.value));
  if (!Number.isFinite(value)) return undefined;
  return target.op === "≥" ? value >= target.limit : value <= target.limit;
}

/**
 * A table of one subject (the first header) against the others, measured
 * alike: the medians of each column, the ratio of the first column to
 * every other (a plain quotient: above 1 means a larger figure, better or
 * worse by the metric), the row's target and whether it is met (against
 * the second column), and lost / duplicated / out-of-order deliveries
 * summed per column over its runs.
 *
 * @example
 * ```ts
 * declare const rows: ComparisonRow[]; // one per scenario and metric, from the runs
 * formatComparison(rows, ["ours", "tokio", "ncat"]);
 * // "| scenario | metric | ours | tokio | ncat | ours ÷ tokio | ours ÷ ncat | target | met | …"
 * ```
 */
export function formatComparison(
  rows: readonly ComparisonRow[],
  headers: readonly string[],
): string {
  const others = headers.slice(1);
  const lines = [
    `| scenario | metric | ${headers.join(" | ")} | ${
      others.map((other) => `${headers[0]} ÷ ${other}`).join(" | ")
    } | target | met | lost / dup / out of order (${headers.join("; ")}) |`,
    `| --- | --- | ${headers.map(() => "---:").join(" | ")} | ${
      others.map(() => "---:").join(" | ")
    } | --- | --- | --- |`,
  ];
  for (const row of rows) {
    const column = (i: number) => row.columns[i] ?? "not measured";
    const ratios = others.map((_, i) => formatRatio(medianRatio(column(0), column(i + 1))));
    const met = meetsTarget(row);
    lines.push(
      `| ${row.scenario} | ${row.metric} | ${
        headers.map((_, i) => {
          const runs = column(i);
          return typeof runs === "string" ? "–" : cell(runs);
        }).join(" | ")
      } | ${ratios.join(" | ")} | ${row.target ? formatTarget(row.target) : "–"} | ${
        met === undefined ? "–" : met ? "yes" : "no"
      } | ${
        headers.map((_, i) => {
          const runs = column(i);
          return typeof runs === "string" ? "–" : problems(runs);
        }).join("; ")
      } |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** How many times better `runs` are than `base` ({@linkcode medianRatio}, turned for lower-is-better). */
function timesBetter(runs: RunFigure[], base: RunFigure[], better: "higher" | "lower"): number {
  const r = medianRatio(runs, base);
  return better === "higher" ? r : 1 / r;
}

function cell(runs: readonly RunFigure[]): string {
  if (runs.length === 0) return "–";
  const failed = runs.filter((run) => run.failure !== undefined).length;
  const value = formatFigure(median(runs.map((run) => run.value)));
  return failed === 0 ? value : `${value} (${failed} of ${runs.length} failed)`;
}

function problems(runs: readonly RunFigure[]): string {
  const sum = (key: "lost" | "duplicated" | "outOfOrder") =>
    runs.reduce((total, run) => total + run[key], 0);
  return `${sum("lost")} / ${sum("duplicated")} / ${sum("outOfOrder")}`;
}

/** One line of a table of several configurations side by side ({@linkcode formatColumns}). */
export interface ColumnRow {
  scenario: string;
  metric: string;
  better: "higher" | "lower";
  /** One list of runs per column, in the order of the headers. */
  columns: RunFigure[][];
}

/** Every run of every column finished and lost or duplicated nothing. */
export function columnsOk(rows: ColumnRow[]): boolean {
  return rows.every((row) =>
    row.columns.every((column) =>
      column.every((run) => run.failure === undefined && run.lost === 0 && run.duplicated === 0)
    )
  );
}

/** Each row's medians and runs by column header, for `--json`. */
export function columnMedians(rows: ColumnRow[], headers: string[]): {
  scenario: string;
  metric: string;
  medians: Record<string, number>;
  runs: Record<string, RunFigure[]>;
}[] {
  return rows.map((row) => ({
    scenario: row.scenario,
    metric: row.metric,
    medians: Object.fromEntries(
      headers.map((header, i) => [header, median(row.columns[i].map((run) => run.value))]),
    ),
    runs: Object.fromEntries(headers.map((header, i) => [header, row.columns[i]])),
  }));
}

/**
 * A table of configurations side by side (the Redis comparison: no Redis,
 * one server through Redis, three): the medians of each column, the ratio
 * of the last column to the `base` one (above 1: the last is better), and
 * lost / duplicated / out-of-order deliveries summed per column.
 *
 * @example
 * ```ts
 * declare const rows: ColumnRow[]; // one per scenario and metric, from the runs
 * formatColumns(rows, ["no Redis", "Redis, 1 server", "Redis, 3 servers"], 1, "3 ÷ 1");
 * // "| scenario | metric | no Redis | Redis, 1 server | Redis, 3 servers | 3 ÷ 1 | …"
 * ```
 */
export function formatColumns(
  rows: readonly ColumnRow[],
  headers: readonly string[],
  base: number,
  ratioHeader = `${headers.at(-1)} vs ${headers[base]}`,
): string {
  const lines = [
    `| scenario | metric | ${headers.join(" | ")} | ${ratioHeader} | lost / dup / out of order (${
      headers.join("; ")
    }) |`,
    `| --- | --- | ${headers.map(() => "---:").join(" | ")} | ---: | --- |`,
  ];
  for (const row of rows) {
    const r = timesBetter(row.columns.at(-1) ?? [], row.columns[base] ?? [], row.better);
    lines.push(
      `| ${row.scenario} | ${row.metric} | ${
        headers.map((_, i) => cell(row.columns[i] ?? [])).join(" | ")
      } | ${Number.isFinite(r) ? `${r.toFixed(1)}×` : "–"} | ${
        headers.map((_, i) => problems(row.columns[i] ?? [])).join("; ")
      } |`,
    );
  }
  return lines.join("\n") + "\n";
}
