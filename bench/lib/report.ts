/**
 * What every bench receives (sizes, repetitions) and how it records figures, plus the
 * table and JSON renderings of those figures.
 */
import { summarize, type Summary } from './stats.js';

/** One figure of the report: a metric of one case, summarized over repetitions. */
export interface Figure extends Summary {
  readonly bench: string;
  readonly case: string;
  readonly metric: string;
  readonly unit: string;
  /** The individual repetitions, for machines that want their own statistics. */
  readonly values: readonly number[];
}

/** Handed to each bench by the runner. */
export interface BenchContext {
  /** Tiny sizes and one repetition: CI checks that the benches still work and are correct. */
  readonly smoke: boolean;
  /** Repetitions per measurement (medians are taken over these). */
  readonly repeats: number;
  /** `--repeats` was given (benches with long runs default to fewer repetitions otherwise). */
  readonly repeatsGiven?: boolean;
  /** Record a metric measured once per repetition. */
  record(benchCase: string, metric: string, unit: string, values: readonly number[]): void;
  /** Progress line on stderr (stdout carries the table or JSON only). */
  log(message: string): void;
}

/** Collects the figures of all benches. */
export class Report {
  readonly figures: Figure[] = [];

  /** A context whose figures land in this report under `bench`. */
  context(bench: string, smoke: boolean, repeats: number, repeatsGiven = false): BenchContext {
    return {
      smoke,
      repeats,
      repeatsGiven,
      record: (benchCase, metric, unit, values) => {
        this.figures.push({ bench, case: benchCase, metric, unit, values: [...values], ...summarize(values) });
      },
      log: (message) => process.stderr.write(`[${bench}] ${message}\n`),
    };
  }

  /** Fixed-width text table: one line per figure. */
  table(): string {
    const header = ['bench', 'case', 'metric', 'median', 'min', 'max', 'runs', 'unit'];
    const rows = this.figures.map((f) => [f.bench, f.case, f.metric, format(f.median), format(f.min), format(f.max), String(f.runs), f.unit]);
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
    const numeric = new Set([3, 4, 5, 6]);
    const line = (cells: readonly string[]): string =>
      cells.map((cell, column) => (numeric.has(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0))).join('  ').trimEnd();
    return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
  }
}

/** Three significant digits, thousands separated; integers stay whole. */
export function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 1000 || Number.isInteger(value)) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}
