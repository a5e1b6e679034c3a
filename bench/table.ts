// The harness's summary: the medians of repeated runs, ours beside ncat,
// as a markdown table. Pure: figures in, text out.

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

/** One line of the table. */
export interface Row {
  scenario: string;
  metric: string;
  /** Which way is better, for the ratio. */
  better: "higher" | "lower";
  ours: RunFigure[];
  /** Undefined: not measured against ncat (ours only); a string: why ncat was skipped. */
  ncat?: RunFigure[] | string;
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

/** How many times better ours is than ncat: above 1 means ours is better. */
export function ratio(row: Row): number {
  if (!Array.isArray(row.ncat)) return NaN;
  const ours = median(row.ours.map((run) => run.value));
  const ncat = median(row.ncat.map((run) => run.value));
  return row.better === "higher" ? ours / ncat : ncat / ours;
}

/**
 * The table: scenario, metric, medians of ours and ncat, the ratio (how
 * many times better ours is), and lost / duplicated / out-of-order
 * deliveries summed over the runs.
 */
export function formatTable(rows: readonly Row[]): string {
  const lines = [
    "| scenario | metric | ours | ncat | ratio | lost / dup / out of order (ours; ncat) |",
    "| --- | --- | ---: | ---: | ---: | --- |",
  ];
  for (const row of rows) {
    const r = ratio(row);
    lines.push(
      `| ${row.scenario} | ${row.metric} | ${cell(row.ours)} | ${
        row.ncat === undefined ? "–" : typeof row.ncat === "string" ? "skipped" : cell(row.ncat)
      } | ${Number.isFinite(r) ? `${r.toFixed(1)}×` : "–"} | ${problems(row.ours)}${
        Array.isArray(row.ncat) ? `; ${problems(row.ncat)}` : ""
      } |`,
    );
  }
  return lines.join("\n") + "\n";
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
    const r = ratio({
      scenario: row.scenario,
      metric: row.metric,
      better: row.better,
      ours: row.columns.at(-1) ?? [],
      ncat: row.columns[base] ?? [],
    });
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
