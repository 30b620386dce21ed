import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDataLake } from '../../core/storage/data-lake';
import { datasetKeys, rawKeys, stagingKeys } from '../../core/layout';
import { houseKeep } from '../housekeeping';

/**
 * Local housekeeping (issue 14, items 5-6): unlabelled uploads expire after the configured
 * days as the bucket's lifecycle rule does in the cloud, and what a `kill -9` leaves (temp
 * files of unfinished writes, lock files, staging parts of a run that never committed) is
 * removed; everything younger or still wanted stays.
 */
describe('houseKeep', () => {
  let root: string;
  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-housekeeping-'));
  });
  afterEach(async () => fs.rm(root, { recursive: true, force: true }));

  test('expires old uploads and leftovers, keeps labelled images and anything recent', async () => {
    const lake = openDataLake({
      dataRoot: root,
      storage: { backend: 'local', buckets: { raw: 'raw', datasets: 'datasets', models: 'models', pipeline: 'pipeline' } },
    });
    const now = Date.now();
    const day = 86_400_000;
    const age = async (bucket: string, key: string, ms: number) => {
      const t = new Date(now - ms);
      await fs.utimes(path.join(root, bucket, key), t, t);
    };
    // An upload nobody labelled 31 days ago, one from yesterday, and an old one that was labelled.
    for (const id of ['old', 'new', 'labelled']) {
      await lake.raw.write(rawKeys.upload(id), '{}');
      await lake.raw.write(rawKeys.uploadImage(id), 'jpeg');
    }
    await lake.raw.write(rawKeys.image('labelled', 'jpg'), 'jpeg');
    await lake.raw.write(rawKeys.label('labelled'), '{}');
    for (const id of ['old', 'labelled']) {
      await age('raw', rawKeys.upload(id), 31 * day);
      await age('raw', rawKeys.uploadImage(id), 31 * day);
    }
    await age('raw', rawKeys.image('labelled', 'jpg'), 31 * day);
    await age('raw', rawKeys.upload('new'), day);
    // Staging of a killed run (two days old) and of a running one.
    await lake.datasets.write(stagingKeys.part('vdead', 0, 2, 'tfrecord'), 'x');
    await age('datasets', stagingKeys.part('vdead', 0, 2, 'tfrecord'), 2 * day);
    await lake.datasets.write(stagingKeys.part('vlive', 0, 2, 'tfrecord'), 'x');
    // Temp and lock files of writes a kill -9 interrupted, and of one in progress.
    await fs.writeFile(path.join(root, 'raw', 'images', '.tmp-x.jpg-abc123'), 'partial');
    await age('raw', 'images/.tmp-x.jpg-abc123', 2 * 3_600_000);
    await fs.mkdir(path.join(root, 'models'), { recursive: true });
    await fs.writeFile(path.join(root, 'models', 'registry.lock'), '');
    await age('models', 'registry.lock', 2 * 3_600_000);
    await fs.writeFile(path.join(root, 'raw', 'uploads', '.tmp-now.json-def456'), 'writing');

    const report = await houseKeep(lake, 30, now);
    expect(report).toEqual({ expiredUploads: 4, abandonedStaging: 1, leftovers: 2 });
    const left = async (bucket: 'raw' | 'datasets', prefix: string) => (await lake[bucket].list(prefix)).map((o) => o.key);
    expect(await left('raw', rawKeys.uploadsPrefix)).toEqual([rawKeys.uploadImage('new'), rawKeys.upload('new')]);
    expect(await left('raw', rawKeys.imagesPrefix)).toEqual([rawKeys.image('labelled', 'jpg')]);
    expect(await left('raw', rawKeys.labelsPrefix)).toEqual([rawKeys.label('labelled')]);
    expect(await left('datasets', datasetKeys.stagingPrefix)).toEqual([stagingKeys.part('vlive', 0, 2, 'tfrecord')]);
    expect(await fs.readdir(path.join(root, 'raw', 'uploads'))).toContain('.tmp-now.json-def456');
    await expect(fs.stat(path.join(root, 'raw', 'images', '.tmp-x.jpg-abc123'))).rejects.toThrow();
  });
});
