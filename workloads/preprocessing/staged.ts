import { stagingKeys } from '../core/layout';
import { readJson, writeJson } from '../core/storage/object-store';
import { frameRecords, readFramedRecords } from '../core/tfrecord/framing';
import {
  commitRun,
  planRun,
  type PreprocessDeps,
  type PreprocessOptions,
  type PreprocessSummary,
  type RunPlan,
  transformPlanned,
} from './run';
import type { BuiltExample } from './shards';
import type { Skip } from './skips';

/**
 * A run split into stages that separate processes (or machines) can execute, for a managed
 * batch engine that runs N copies of one container with a task index (Cloud Run Jobs:
 * CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT; Cloud Batch: BATCH_TASK_INDEX /
 * BATCH_TASK_COUNT):
 *
 *   plan       once: lineage, labels, label map → staging/<version>/plan.json
 *   transform  per task i of n: items i, i+n, i+2n… through the pure per-element transform
 *              → staging/<version>/part-<i>-of-<n>.tfrecord (+ .json with per-record metadata)
 *   commit     once, after every task: replay, shards, manifest (last), warehouse rows;
 *              then the staging objects are deleted.
 *
 * Staging lives outside `versions/`, so nothing in it is ever visible as a dataset. The
 * committed version is byte-identical to a single-process run with the same plan.
 */

interface PartMeta {
  records: Omit<BuiltExample, 'payload'>[];
  skips: Skip[];
  seconds: number;
}

export async function stagePlan(deps: PreprocessDeps, options: PreprocessOptions): Promise<RunPlan> {
  const { plan } = await planRun(deps, options);
  await writeJson(deps.datasets, stagingKeys.plan(plan.version), plan, { ifGenerationMatch: '0' });
  return plan;
}

async function readPlan(deps: PreprocessDeps, version: string): Promise<RunPlan> {
  const plan = await readJson<RunPlan>(deps.datasets, stagingKeys.plan(version));
  if (!plan)
    throw new Error(`no plan for dataset version ${version} at ${deps.datasets.uri(stagingKeys.plan(version))}: run the plan stage first`);
  return plan;
}

export function checkTask(index: number, count: number): void {
  if (!Number.isInteger(count) || count < 1) throw new Error(`task count must be a whole number ≥ 1, got ${count}`);
  if (!Number.isInteger(index) || index < 0 || index >= count)
    throw new Error(`task index must be a whole number in [0, ${count - 1}], got ${index}`);
}

/** One task's share of the transform. Idempotent: a retried task rewrites the same part. */
export async function stageTransform(
  deps: PreprocessDeps,
  version: string,
  taskIndex: number,
  taskCount: number,
  options: PreprocessOptions,
): Promise<PartMeta> {
  checkTask(taskIndex, taskCount);
  const plan = await readPlan(deps, version);
  const mine = plan.items.filter((_, i) => i % taskCount === taskIndex);
  const out = await transformPlanned(deps, plan, options, mine);
  const meta: PartMeta = { records: out.examples.map(({ payload: _payload, ...rest }) => rest), skips: out.skips, seconds: out.seconds };
  // Records first, metadata second: commit trusts a part only once its metadata exists.
  await deps.datasets.write(stagingKeys.part(version, taskIndex, taskCount, 'tfrecord'), frameRecords(out.examples.map((e) => e.payload)));
  await writeJson(deps.datasets, stagingKeys.part(version, taskIndex, taskCount, 'json'), meta);
  return meta;
}

export async function stageCommit(
  deps: PreprocessDeps,
  version: string,
  taskCount: number,
  options: PreprocessOptions,
): Promise<PreprocessSummary> {
  const started = Date.now();
  const plan = await readPlan(deps, version);
  const examples: BuiltExample[] = [];
  const skips: Skip[] = [];
  let seconds = 0;
  for (let i = 0; i < taskCount; i++) {
    const meta = await readJson<PartMeta>(deps.datasets, stagingKeys.part(version, i, taskCount, 'json'));
    if (!meta)
      throw new Error(
        `transform task ${i} of ${taskCount} has not finished (no ${deps.datasets.uri(stagingKeys.part(version, i, taskCount, 'json'))})`,
      );
    const key = stagingKeys.part(version, i, taskCount, 'tfrecord');
    const records = Array.from(readFramedRecords(await deps.datasets.read(key), deps.datasets.uri(key)));
    if (records.length !== meta.records.length)
      throw new Error(`part ${i} of ${taskCount} holds ${records.length} records, its metadata lists ${meta.records.length}`);
    records.forEach((r, j) => examples.push({ ...meta.records[j], payload: Buffer.from(r.data) }));
    skips.push(...meta.skips);
    seconds = Math.max(seconds, meta.seconds);
  }
  const summary = await commitRun(deps, plan, { examples, skips, seconds }, options);
  for (const o of await deps.datasets.list(stagingKeys.prefix(version))) await deps.datasets.delete(o.key);
  return { ...summary, totalSeconds: (Date.now() - started) / 1000 };
}
