import Table from 'cli-table3';
import { SPLITS } from '../core/layout';
import type { PreprocessSummary } from './run';

/** The run's final summary, as tables for people (the same numbers are logged as JSON). */
export function formatSummary(s: PreprocessSummary, colour = Boolean(process.stdout.isTTY)): string {
  // Plain text when not on a terminal (pipeline logs), so no escape codes end up in log files.
  const style = colour ? {} : { head: [], border: [] };
  const overview = new Table({ head: ['dataset version', s.version], style });
  overview.push(
    ['parent version', s.parentVersion ?? '(none)'],
    ['manifest', s.manifestUri],
    ['label objects read', s.labelObjects],
    ['new images read', s.imagesRead],
    ['examples written', s.written],
    ['  new', s.newExamples],
    ['  replayed (hard examples)', s.replayExamples],
    ['duplicates (stored once)', s.duplicates],
    ['skipped', Object.values(s.skipped).reduce((a, b) => a + b, 0)],
    ...Object.entries(s.skipped).map(([reason, n]) => [`  ${reason}`, n]),
    ['transform time', `${s.transformSeconds.toFixed(2)} s`],
    ['throughput', `${s.imagesPerSecond.toFixed(1)} images/s`],
    ['total time', `${s.totalSeconds.toFixed(2)} s`],
  );
  const classes = new Table({ head: ['class', 'examples'], style });
  for (const [label, n] of Object.entries(s.perClass)) classes.push([label, n]);
  const splits = new Table({ head: ['split', 'examples'], style });
  for (const split of SPLITS) splits.push([split, s.perSplit[split]]);
  return [overview.toString(), classes.toString(), splits.toString()].join('\n');
}
