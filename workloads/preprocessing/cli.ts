import { SingleBar, Presets } from 'cli-progress';
import { parseFlags, runMain, stepFlags, UsageError, writeOutput } from '../core/cli';
import { loadConfig } from '../core/config/load';
import { createLogger } from '../core/log';
import { PIPELINE_STEPS } from '../core/pipeline-steps';
import { openDataLake } from '../core/storage/data-lake';
import { openWarehouse } from '../core/warehouse/open-warehouse';
import { ENGINES, openTaskEngine } from './engines/open-engine';
import { runWithEngine } from './engines/run-with-engine';
import { NothingToPreprocessError, type Progress, runPreprocessing } from './run';
import { formatSummary } from './summary';
import { stageCommit, stagePlan, stageTransform } from './staged';
import { createTransformer } from './transform-pool';
import { tuneForBatchThroughput } from './tuning';

tuneForBatchThroughput();

/**
 * The preprocessing entry point (pipeline step `preprocess`, image `preprocessing`;
 * by hand: `npm run preprocess -- [--run-id ID]`):
 *
 *   cli.ts [--run-id ID] [--out-dataset-version FILE] [--engine E] [--tasks N] [--workers N] [--concurrency N] [--no-progress]
 *   cli.ts --stage plan [--run-id ID] [--version V] [--out-dataset-version FILE]
 *   cli.ts --stage transform --version V [--task-index I --task-count N]
 *   cli.ts --stage commit --version V --task-count N [--out-dataset-version FILE]
 *
 * Without --stage this process runs the whole run: plan, transform, commit. Where the
 * transform runs is `preprocessing.engine` (or --engine): `in-process` (here),
 * `local-tasks` (N child processes of this CLI) or `cloud-run-job` (N tasks of the
 * stack's Cloud Run job); see engines/. The stages let an engine run the transform as N
 * parallel tasks (see staged.ts); the task index and count default to Cloud Run Jobs'
 * CLOUD_RUN_TASK_INDEX/COUNT or Cloud Batch's BATCH_TASK_INDEX/COUNT.
 *
 * Reads labelled images from the raw bucket, writes a new dataset version, records it in
 * the warehouse, prints a summary and writes the version name to --out-dataset-version.
 * Buckets, warehouse and preprocessing settings come from the CV_* environment.
 * Exit codes: 0 written, 1 failed, 2 usage or configuration error, 3 nothing new and trusted to preprocess
 * ("waiting for data"; with --out-status, as the pipeline step runs it: exit 0 and status
 * `waiting_for_data`, so the run skips training instead of failing).
 */
const USAGE =
  'usage: cli.ts [--run-id ID] [--out-dataset-version FILE] [--out-status FILE] [--engine in-process|local-tasks|cloud-run-job] [--tasks N]\n' +
  '              [--workers N] [--concurrency N] [--no-progress]\n' +
  '       cli.ts --stage plan|transform|commit [--version V] [--task-index I] [--task-count N] (see cli.ts)';

function wholeNumber(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be a whole number ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    ...stepFlags(PIPELINE_STEPS.preprocess),
    workers: { type: 'string' },
    concurrency: { type: 'string' },
    'no-progress': { type: 'boolean', default: false },
    stage: { type: 'string' },
    version: { type: 'string' },
    'task-index': { type: 'string' },
    'task-count': { type: 'string' },
    engine: { type: 'string' },
    tasks: { type: 'string' },
  });
  if (values.engine !== undefined && !(ENGINES as readonly string[]).includes(values.engine))
    throw new UsageError(`--engine must be one of ${ENGINES.join(', ')}, got ${JSON.stringify(values.engine)}`);
  if (values.stage !== undefined && (values.engine !== undefined || values.tasks !== undefined))
    throw new UsageError('--engine and --tasks apply to a whole run, not to --stage (a stage is one step of an engine run)');
  const tasks = wholeNumber('--tasks', values.tasks, 1);
  const loaded = loadConfig();
  const config = {
    ...loaded,
    preprocessing: {
      ...loaded.preprocessing,
      engine: (values.engine as (typeof ENGINES)[number] | undefined) ?? loaded.preprocessing.engine,
      tasks: tasks ?? loaded.preprocessing.tasks,
    },
  };
  const settings = {
    ...config.preprocessing,
    workers: wholeNumber('--workers', values.workers, 0) ?? config.preprocessing.workers,
    concurrency: wholeNumber('--concurrency', values.concurrency, 1) ?? config.preprocessing.concurrency,
  };
  const log = createLogger('preprocessing', config.logLevel);
  // Checked before anything is opened: a missing job coordinate is a configuration error, not a failed run.
  const scaleOut = values.stage === undefined ? openTaskEngine(config, { log }) : { taskCount: 1 };
  const lake = openDataLake(config);
  // Only commit (and a whole run) reads the prediction log and records the version; parallel
  // transform tasks must not contend for the warehouse (locally a DuckDB file has one owner).
  const warehouse = values.stage === undefined || values.stage === 'commit' ? await openWarehouse(config) : undefined;
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
  const deps = { raw: lake.raw, datasets: lake.datasets, warehouse, transformer, log };
  const options = {
    runId: values['run-id'] ?? null,
    settings,
    trust: config.trust,
    limits: config.images,
    concurrency: settings.concurrency,
    onProgress,
    version: values.version,
  };
  const stage = values.stage;
  if (stage !== undefined && !['plan', 'transform', 'commit'].includes(stage))
    throw new UsageError(`--stage must be plan, transform or commit, got ${JSON.stringify(stage)}`);
  const needVersion = (): string => {
    if (!values.version) throw new UsageError(`--stage ${stage} needs --version (the name the plan stage wrote)`);
    return values.version;
  };
  const taskCount = (): number => {
    const n = wholeNumber('--task-count', values['task-count'] ?? process.env.CLOUD_RUN_TASK_COUNT ?? process.env.BATCH_TASK_COUNT, 1);
    if (n === undefined) throw new UsageError(`--stage ${stage} needs --task-count (or CLOUD_RUN_TASK_COUNT / BATCH_TASK_COUNT)`);
    return n;
  };
  try {
    log.info(
      {
        runId: options.runId,
        stage: stage ?? 'all',
        engine: stage ? undefined : config.preprocessing.engine,
        tasks: scaleOut.engine ? scaleOut.taskCount : undefined,
        workers: transformer.description,
        concurrency: settings.concurrency,
      },
      'preprocessing started',
    );
    if (stage === 'plan') {
      const plan = await stagePlan(deps, options);
      log.info({ event: 'planned', version: plan.version, items: plan.items.length }, `planned dataset version ${plan.version}`);
      await writeOutput(values['out-dataset-version'], plan.version);
      return 0;
    }
    if (stage === 'transform') {
      const count = taskCount();
      const index =
        wholeNumber('--task-index', values['task-index'] ?? process.env.CLOUD_RUN_TASK_INDEX ?? process.env.BATCH_TASK_INDEX, 0) ?? 0;
      const part = await stageTransform(deps, needVersion(), index, count, options);
      bar?.stop();
      log.info(
        { event: 'transformed', task: index, of: count, records: part.records.length, skipped: part.skips.length, seconds: part.seconds },
        `task ${index} of ${count} done`,
      );
      return 0;
    }
    const summary =
      stage === 'commit'
        ? await stageCommit(deps, needVersion(), taskCount(), options)
        : scaleOut.engine
          ? (await runWithEngine(deps, options, scaleOut.engine, scaleOut.taskCount)).summary
          : await runPreprocessing(deps, options);
    bar?.stop();
    const { skips, ...counts } = summary;
    log.info({ event: 'dataset_version', ...counts, skippedObjects: skips.length }, `dataset version ${summary.version} written`);
    process.stdout.write(`${formatSummary(summary)}\n`);
    await writeOutput(values['out-dataset-version'], summary.version);
    await writeOutput(values['out-status'], 'written');
    return 0;
  } catch (err) {
    bar?.stop();
    if (err instanceof NothingToPreprocessError) {
      log.warn({ event: 'waiting_for_data' }, err.message);
      process.stdout.write(`${err.message}\n`);
      // The pipeline step: not a failure, and the run trains nothing (its condition reads the status).
      if (values['out-status']) {
        await writeOutput(values['out-status'], 'waiting_for_data');
        await writeOutput(values['out-dataset-version'], '');
        return 0;
      }
      return 3;
    }
    throw err;
  } finally {
    await transformer.close();
    await warehouse?.close();
  }
}

if (require.main === module) runMain('preprocessing', () => main(process.argv.slice(2)), USAGE);
