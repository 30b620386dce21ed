import type { LocalObjectStore } from '../../core/storage/local-object-store';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listDatasetVersions } from '../../core/dataset/read-dataset';
import type { DatasetManifest } from '../../core/dataset/manifest';
import { readJson } from '../../core/storage/object-store';
import { defaultCliCommand, LocalTaskEngine } from '../engines/local-task-engine';
import { runWithEngine } from '../engines/run-with-engine';
import { TaskEngineError } from '../engines/task-engine';
import { runPreprocessing } from '../run';
import { stagingKeys } from '../../core/layout';
import { dogPhotos, type Lake, putLabelled, putPhotos, tempLake, testOptions, localDatasets } from './fixtures';

/**
 * The local-tasks engine runs real child processes of cli.ts (`--stage transform`, task index
 * and count in CLOUD_RUN_TASK_INDEX / COUNT) against a temporary data root, as a Cloud Run
 * job's tasks would against the buckets.
 */
describe('LocalTaskEngine (plan here → N child-process tasks → commit here)', () => {
  let lake: Lake;
  const taskEnv = () => ({
    ...process.env,
    // The tasks' configuration: the temp lake as the local data root (buckets are directories under it).
    CV_DATA_ROOT: lake.root,
    CV_LOG_LEVEL: 'warn',
    CV_PREPROCESSING_SHARD_MAX_BYTES: '60000',
  });
  beforeAll(async () => {
    lake = tempLake();
    await putPhotos(lake.raw, dogPhotos(['beagle', 'pug', 'samoyed', 'boxer'], 5));
    await putLabelled(lake.raw, 'not-an-image', Buffer.from('hello'), 'pug');
  });
  afterAll(() => lake.cleanup());

  const options = (version: string) => ({ ...testOptions({ shardMaxBytes: 60_000 }), version });

  it('writes the same version as an in-process run (shards byte for byte, manifest counts)', async () => {
    const engine = new LocalTaskEngine({ env: taskEnv(), parallelism: 2, forwardOutput: false });
    const done: number[] = [];
    const { summary, report } = await runWithEngine(
      lake,
      { ...options('v-tasks'), onProgress: (p) => p.phase === 'transform' && done.push(p.done) },
      engine,
      2,
    );
    expect(report).toMatchObject({ engine: 'local-tasks', taskCount: 2 });
    expect(done).toEqual([1, 2]);
    expect(summary).toMatchObject({ version: 'v-tasks', imagesRead: 21, written: 20, skipped: { not_an_image: 1 } });
    expect(await lake.datasets.list(stagingKeys.prefix('v-tasks'))).toEqual([]);

    const single = localDatasets(join(lake.root, 'datasets-in-process'));
    await runPreprocessing({ raw: lake.raw, datasets: single }, options('v-tasks'));
    const keys = async (s: LocalObjectStore) =>
      (await s.list('versions/v-tasks/')).map((o) => o.key).filter((k) => k.includes('.tfrecord'));
    expect(await keys(lake.datasets)).toEqual(await keys(single));
    expect((await keys(lake.datasets)).length).toBeGreaterThan(2);
    for (const key of await keys(lake.datasets)) expect((await lake.datasets.read(key)).equals(await single.read(key))).toBe(true);
    const manifest = async (s: LocalObjectStore) => (await readJson<DatasetManifest>(s, 'versions/v-tasks/manifest.json'))!;
    const [a, b] = [await manifest(lake.datasets), await manifest(single)];
    // Everything but the creation time: counts per split and class, label map, sources, shard lists.
    const { createdAt: _a, ...tasked } = a;
    const { createdAt: _b, ...inProcess } = b;
    expect(tasked).toEqual(inProcess);
    expect(tasked.counts).toMatchObject({ written: 20, newExamples: 20, skipped: { not_an_image: 1 } });
  }, 120_000);

  it('fails the run naming the failed task and its output, and leaves no manifest', async () => {
    const lake2 = tempLake();
    try {
      await putPhotos(lake2.raw, dogPhotos(['beagle', 'pug'], 3));
      const version = 'v-broken';
      // Task 1's part cannot be written: a directory stands where its file must go (rename fails with EISDIR).
      mkdirSync(join(lake2.root, 'datasets', stagingKeys.part(version, 1, 2, 'tfrecord')), { recursive: true });
      const engine = new LocalTaskEngine({ env: { ...taskEnv(), CV_DATA_ROOT: lake2.root }, parallelism: 2, forwardOutput: false });
      const err = (await runWithEngine(lake2, options(version), engine, 2).catch((e: unknown) => e)) as TaskEngineError;
      expect(err).toBeInstanceOf(TaskEngineError);
      expect(err.failedTasks.map((f) => f.index)).toEqual([1]);
      expect(err.message).toMatch(/transform task 1 of 2 failed:\n {2}task 1: exit code 1/);
      expect(err.failedTasks[0].logTail).toMatch(/EISDIR|is a directory/i);
      expect(await lake2.datasets.readIfExists(`versions/${version}/manifest.json`)).toBeUndefined();
      expect(await listDatasetVersions(lake2.datasets)).toEqual([]);
      // The failed run's staging objects are gone (only the directory planted above may remain).
      expect((await lake2.datasets.list(stagingKeys.prefix(version))).filter((o) => !o.key.includes('part-00001'))).toEqual([]);
    } finally {
      lake2.cleanup();
    }
  }, 120_000);

  it('is what the pipeline step runs when preprocessing.engine is local-tasks (same flags, same output file)', async () => {
    const lake3 = tempLake();
    try {
      await putPhotos(lake3.raw, dogPhotos(['pug', 'boxer'], 3));
      const out = join(lake3.root, 'dataset_version');
      const [node, ...pre] = defaultCliCommand();
      const env = {
        ...taskEnv(),
        CV_DATA_ROOT: lake3.root,
        CV_LOG_LEVEL: 'info',
        CV_PREPROCESSING_ENGINE: 'local-tasks',
        CV_PREPROCESSING_TASKS: '2',
        CV_PREPROCESSING_MIN_CLASS_EXAMPLES: '1',
      };
      const r = spawnSync(node, [...pre, '--run-id', 'step-run', '--out-dataset-version', out], { env, encoding: 'utf8' });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      const version = readFileSync(out, 'utf8');
      expect(await listDatasetVersions(lake3.datasets)).toEqual([version]);
      // Both tasks really ran, as separate processes with their Cloud Run task index.
      expect(r.stdout.match(/"event":"transformed","task":\d,"of":2/g)?.sort()).toEqual([
        '"event":"transformed","task":0,"of":2',
        '"event":"transformed","task":1,"of":2',
      ]);
    } finally {
      lake3.cleanup();
    }
  }, 120_000);
});
