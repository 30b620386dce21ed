import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../workloads/core/config/load';
import { modelKeys, rawKeys } from '../../workloads/core/layout';
import { openDataLake } from '../../workloads/core/storage/data-lake';
import { readJson, writeJson } from '../../workloads/core/storage/object-store';
import { DuckDbWarehouse } from '../../workloads/core/warehouse/duckdb-warehouse';
import { loadCompiledSpec, REPO_ROOT, runPipeline } from '../runner';
import { createHash } from 'node:crypto';
import * as os from 'node:os';

/**
 * The local runner on the real compiled spec, with the real step entry points.
 * The first test needs only the trigger step; the CV_E2E one runs every step on a slice
 * of ../shared/datasets/dogs.
 */
const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CV_'))),
  ...extra,
});

/** The real spec on the local runner, on a data root; every step's status in order. */
async function runReal(dir: string, runId: string, parameters: Record<string, boolean> = {}) {
  const lake = openDataLake(loadConfig({ env: {}, overrides: { dataRoot: dir } }));
  const result = await runPipeline({
    spec: await loadCompiledSpec(),
    runId,
    parameters,
    env: cleanEnv({ CV_DATA_ROOT: dir, CV_LOG_LEVEL: 'warn' }),
    store: lake.pipeline,
  });
  expect(result.error).toBeUndefined();
  expect(result.status).toBe('succeeded');
  return { result, statuses: result.steps.map((s) => [s.task, s.status]) };
}

describe('local runner on the real continual-learning spec', () => {
  let dir: string;
  beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-real-pipeline-'))));
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('runs check-trigger and skips everything else when there is no data', async () => {
    const { result, statuses } = await runReal(dir, 'run-real-idle');
    expect(statuses).toEqual([
      ['check-trigger', 'succeeded'],
      ['preprocess', 'skipped'],
      ['train', 'skipped'],
      ['evaluate', 'skipped'],
      ['promote', 'skipped'],
    ]);
    expect(result.steps[0].outputs.should_run).toBe(false);
    expect(result.steps[0].outputs.reason).toContain('waiting for data');
    const warehouse = await DuckDbWarehouse.open(path.join(dir, 'warehouse.duckdb'));
    try {
      expect(await warehouse.query('SELECT fired FROM {{trigger_decisions}}')).toEqual([{ fired: false }]);
    } finally {
      await warehouse.close();
    }
  });

  it('a forced run with nothing trusted to learn waits for data: preprocess succeeds, the rest is skipped (issue 13)', async () => {
    const lake = openDataLake(loadConfig({ env: {}, overrides: { dataRoot: dir } }));
    // Users' labels only: nothing a trust policy has confirmed.
    const dogs = path.resolve(REPO_ROOT, '../shared/datasets/dogs/pug');
    for (const file of (await fs.readdir(dogs)).sort().slice(0, 3)) {
      const bytes = await fs.readFile(path.join(dogs, file));
      const id = `upload-${path.parse(file).name}`;
      await lake.raw.write(rawKeys.image(id, 'jpg'), bytes);
      await writeJson(lake.raw, rawKeys.label(id), {
        id,
        imageKey: rawKeys.image(id, 'jpg'),
        label: 'beagle',
        source: 'upload',
        trust: 'untrusted',
        voter: 'one-client',
        labelledAt: new Date().toISOString(),
        sha256: createHash('sha256').update(bytes).digest('hex'),
      });
    }
    const { result, statuses } = await runReal(dir, 'run-real-waiting', { force: true });
    expect(statuses).toEqual([
      ['check-trigger', 'succeeded'],
      ['preprocess', 'succeeded'],
      ['train', 'skipped'],
      ['evaluate', 'skipped'],
      ['promote', 'skipped'],
    ]);
    expect(result.steps[1].outputs).toMatchObject({ status: 'waiting_for_data', dataset_version: '' });
  });

  const maybe = process.env.CV_E2E ? it : it.skip;
  maybe(
    'runs every step on a slice of the shared dogs and promotes the first model',
    async () => {
      const lake = openDataLake(loadConfig({ env: {}, overrides: { dataRoot: dir } }));
      const dogs = path.resolve(REPO_ROOT, '../shared/datasets/dogs');
      const breeds = (await fs.readdir(dogs)).sort().slice(0, 5);
      for (const breed of breeds) {
        for (const file of (await fs.readdir(path.join(dogs, breed))).sort().slice(0, 40)) {
          const bytes = await fs.readFile(path.join(dogs, breed, file));
          const id = `${breed}-${path.parse(file).name}`.replace(/[^A-Za-z0-9._-]/g, '_');
          await lake.raw.write(rawKeys.image(id, 'jpg'), bytes);
          await writeJson(lake.raw, rawKeys.label(id), {
            id,
            imageKey: rawKeys.image(id, 'jpg'),
            label: breed,
            source: 'dogapi',
            labelledAt: new Date().toISOString(),
            sha256: createHash('sha256').update(bytes).digest('hex'),
          });
        }
      }
      const lines: string[] = [];
      const result = await runPipeline({
        spec: await loadCompiledSpec(),
        runId: 'run-real-e2e',
        env: cleanEnv({
          CV_DATA_ROOT: dir,
          CV_LOG_LEVEL: 'warn',
          CV_TRIGGER_MIN_NEW_LABELLED: '50',
          CV_MODEL_BACKBONE: 'mobilenet_v2_035',
          CV_TRAINING_EPOCHS: '4',
          CV_GATE_MIN_TEST_EXAMPLES: '20',
          // ~8 evaluation photos per breed after 4 epochs on the small backbone: one breed's
          // recall bound can sit under the default 50% floor (seen: chihuahua 1 of 8, bound
          // 47%), which is the gate working, not the spec failing. The test is about the spec.
          CV_GATE_CLASS_FLOOR: '0.3',
        }),
        store: lake.pipeline,
        onEvent: (e) => e.type === 'log' && lines.push(`[${e.task}] ${e.line}`),
      });
      console.log(result.steps.map((s) => `${s.task}: ${s.status} ${s.durationS.toFixed(1)} s ${JSON.stringify(s.outputs)}`).join('\n'));
      expect(result.error).toBeUndefined();
      expect(result.steps.map((s) => [s.task, s.status])).toEqual([
        ['check-trigger', 'succeeded'],
        ['preprocess', 'succeeded'],
        ['train', 'succeeded'],
        ['evaluate', 'succeeded'],
        ['promote', 'succeeded'],
      ]);
      expect(result.steps[3].outputs.decision).toBe('promote');
      expect(result.steps[4].outputs.production_version).toBe(result.steps[2].outputs.model_version);
      const pointer = await readJson<{ version: string }>(lake.models, modelKeys.pointer('production'));
      expect(pointer?.version).toBe(result.steps[2].outputs.model_version);
    },
    600_000,
  );
});
