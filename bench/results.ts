import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';

/**
 * The one results file of the benchmarks and drills (`bench/RESULTS.md`): every run that
 * is not a quick smoke run appends a dated section with its table, so results accumulate
 * in one place (READMEs explain how things work and link here) and nothing is rewritten.
 * `BENCH_RESULTS=0` skips the append; quick runs (`BENCH_QUICK=1`) skip it unless `BENCH_RESULTS=1`.
 */
const RESULTS_FILE = join(__dirname, 'RESULTS.md');

export const QUICK = process.env.BENCH_QUICK === '1';

export function appendResults(title: string, body: string): void {
  const wanted = process.env.BENCH_RESULTS ?? (QUICK ? '0' : '1');
  if (wanted === '0') return;
  if (!existsSync(RESULTS_FILE))
    writeFileSync(
      RESULTS_FILE,
      '# Benchmark and drill results\n\nAppended by the `npm run bench:*` and `drill:*` scripts, newest last. Each section says when, on what, and under what load it ran.\n',
    );
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const machine = `${availableParallelism()} cores, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} at the end of the run`;
  appendFileSync(RESULTS_FILE, `\n## ${when} — ${title}\n\n${machine}.\n\n${body.trim()}\n`);
}

/** A Markdown table. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
