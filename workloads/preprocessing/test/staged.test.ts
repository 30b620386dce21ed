import { listDatasetVersions } from '../../core/dataset/read-dataset';
import { join } from 'node:path';
import { runPreprocessing } from '../run';
import { stagingKeys } from '../../core/layout';
import { stageCommit, stagePlan, stageTransform } from '../staged';
import { dogPhotos, type Lake, putLabelled, putPhotos, tempLake, testOptions, localDatasets } from './fixtures';

describe('staged run (plan → N transform tasks → commit)', () => {
  let lake: Lake;
  beforeAll(async () => {
    lake = tempLake();
    await putPhotos(lake.raw, dogPhotos(['beagle', 'pug', 'samoyed'], 6));
    await putLabelled(lake.raw, 'not-an-image', Buffer.from('hello'), 'pug');
  });
  afterAll(() => lake.cleanup());

  it('gives the same version, byte for byte, as a single-process run', async () => {
    const options = { ...testOptions({ shardMaxBytes: 60_000 }), version: 'v-staged' };
    const plan = await stagePlan(lake, options);
    expect(plan.items).toHaveLength(19);
    await expect(stageCommit(lake, 'v-staged', 3, options)).rejects.toThrow(/transform task 0 of 3 has not finished/);
    // Three tasks in parallel, as a batch engine would run them.
    await Promise.all([0, 1, 2].map((i) => stageTransform(lake, 'v-staged', i, 3, options)));
    expect(await listDatasetVersions(lake.datasets)).toEqual([]); // staging is invisible
    const staged = await stageCommit(lake, 'v-staged', 3, options);
    expect(staged).toMatchObject({ written: 18, skipped: { not_an_image: 1 } });
    expect(await lake.datasets.list(stagingKeys.prefix('v-staged'))).toEqual([]);

    const single = localDatasets(join(lake.root, 'datasets-single'));
    await runPreprocessing({ raw: lake.raw, datasets: single }, options);
    const a = await lake.datasets.list('versions/v-staged/');
    const b = await single.list('versions/v-staged/');
    const shards = (l: typeof a) => l.filter((o) => o.key.includes('.tfrecord')).map((o) => o.key);
    expect(shards(a)).toEqual(shards(b));
    expect(shards(a).length).toBeGreaterThan(3);
    for (const key of shards(a)) expect((await lake.datasets.read(key)).equals(await single.read(key))).toBe(true);
  });

  it('validates the task index', async () => {
    await expect(stageTransform(lake, 'v-staged', 3, 3, testOptions())).rejects.toThrow(/task index must be a whole number in \[0, 2\]/);
  });
});
