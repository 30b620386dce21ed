import { SingleBar, Presets } from 'cli-progress';
import { promises as fs } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../core/config/load';
import { createLogger } from '../core/log';
import { openDataLake } from '../core/storage/data-lake';
import { openWarehouse } from '../core/warehouse/open-warehouse';
import { NothingToPreprocessError, type Progress, runPreprocessing } from './run';
import { formatSummary } from './summary';
import { createTransformer } from './transform-pool';

/**
 * The preprocessing entry point (pipeline step `preprocess`, image `preprocessing`;
 * by hand: `npm run preprocess -- [--run-id ID]`):
 *
 *   cli.ts [--run-id ID] [--out-dataset-version FILE] [--workers N] [--concurrency N] [--no-progress]
 *
 * Reads labelled images from the raw bucket, writes a new dataset version, records it in
 * the warehouse, prints a summary and writes the version name to --out-dataset-version.
 * Buckets, warehouse and preprocessing settings come from the CV_* environment.
 * Exit codes: 0 written, 1 failed, 2 usage error, 3 nothing new to preprocess.
 */
const USAGE = 'usage: cli.ts [--run-id ID] [--out-dataset-version FILE] [--workers N] [--concurrency N] [--no-progress]';

class UsageError extends Error {}

function wholeNumber(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be a whole number ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'run-id': { type: 'string' },
      'out-dataset-version': { type: 'string' },
      workers: { type: 'string' },
      concurrency: { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const config = loadConfig();
  const settings = {
    ...config.preprocessing,
    workers: wholeNumber('--workers', values.workers, 0) ?? config.preprocessing.workers,
    concurrency: wholeNumber('--concurrency', values.concurrency, 1) ?? config.preprocessing.concurrency,
  };
  const log = createLogger('preprocessing', config.logLevel);
  const lake = openDataLake(config);
  const warehouse = await openWarehouse(config);
  const transformer = createTransformer(settings.workers);
  const bar =
    values['no-progress'] || !process.stderr.isTTY
      ? undefined
      : new SingleBar({ format: ' {phase} [{bar}] {value}/{total} {eta_formatted}', hideCursor: true }, Presets.shades_classic);
  let phase: Progress['phase'] | undefined;
  const onProgress = (p: Progress): void => {
    if (!bar) return;
    if (p.phase !== phase) {
      if (phase) bar.stop();
      phase = p.phase;
      bar.start(p.total, p.done, { phase: p.phase.padEnd(9) });
    } else {
      bar.setTotal(p.total);
      bar.update(p.done);
    }
  };
  try {
    log.info(
      { runId: values['run-id'] ?? null, workers: transformer.description, concurrency: settings.concurrency },
      'preprocessing started',
    );
    const summary = await runPreprocessing(
      { raw: lake.raw, datasets: lake.datasets, warehouse, transformer, log },
      { runId: values['run-id'] ?? null, settings, limits: config.images, concurrency: settings.concurrency, onProgress },
    );
    bar?.stop();
    const { skips, ...counts } = summary;
    log.info({ event: 'dataset_version', ...counts, skippedObjects: skips.length }, `dataset version ${summary.version} written`);
    process.stdout.write(`${formatSummary(summary)}\n`);
    // Exact contents, no newline: the pipeline passes it on verbatim.
    if (values['out-dataset-version']) await fs.writeFile(values['out-dataset-version'], summary.version);
    return 0;
  } catch (err) {
    bar?.stop();
    if (err instanceof NothingToPreprocessError) {
      log.warn({ event: 'nothing_to_preprocess' }, err.message);
      return 3;
    }
    throw err;
  } finally {
    await transformer.close();
    await warehouse.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
        process.stderr.write(`${err.message}\n${USAGE}\n`);
        process.exit(2);
      }
      process.stderr.write(`preprocessing failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
