/**
 * The load bench's results as a markdown table: one row per cell, medians over the runs
 * (with the range of p99 when there were several). Pure.
 */
import type { CellFigures } from './cell-stats.js';
import { summarize } from '../lib/stats.js';
import type { Cell } from './plan.js';

/** One row's input: the cell and its runs. */
export interface CellRuns {
  readonly cell: Cell;
  readonly runs: readonly CellFigures[];
}

function median(values: readonly number[]): number {
  return summarize(values).median;
}

function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(value >= 100 ? 0 : 1) : '–';
}

/** Markdown table of the cells, in the order given. */
export function markdownTable(rows: readonly CellRuns[]): string {
  const header = '| balancer | proxies | load | disturbance | p50 ms | p90 ms | p99 ms | failed % | shares a/b/c % | utilisation a/b/c % | service ms |';
  const rule = '|---|---:|---:|---|---:|---:|---:|---:|---|---|---:|';
  const lines = rows.map(({ cell, runs }) => {
    const p99 = runs.map((r) => r.p99);
    const p99Text = runs.length > 1 ? `${ms(median(p99))} (${ms(Math.min(...p99))}–${ms(Math.max(...p99))})` : ms(median(p99));
    const perOrigin = (pick: (r: CellFigures) => readonly number[]): string =>
      [0, 1, 2].map((i) => median(runs.map((r) => pick(r)[i] ?? 0)).toFixed(0)).join(' / ');
    return [
      cell.balancer,
      String(cell.proxies),
      `${Math.round(cell.load * 100)} %`,
      cell.disturbance === 'none' ? '' : cell.disturbance,
      ms(median(runs.map((r) => r.p50))),
      ms(median(runs.map((r) => r.p90))),
      p99Text,
      median(runs.map((r) => r.failedPercent)).toFixed(2),
      perOrigin((r) => r.sharesPercent),
      perOrigin((r) => r.utilisationPercent),
      ms(median(runs.map((r) => r.serviceMs))),
    ].join(' | ');
  });
  return [header, rule, ...lines.map((line) => `| ${line} |`)].join('\n');
}
