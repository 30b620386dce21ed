import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { latestDatasetVersion, listDatasetVersions, readManifest, readSplit } from '../../core/dataset/read-dataset';
import type { DogExample } from '../../core/dataset/features';
import { decodeRgb } from '../../core/images/normalize-image';
import { SPLITS } from '../../core/layout';
import { runPreprocessing } from '../run';
import { WorkerPoolTransformer } from '../transform-pool';
import { dogPhotos, type Lake, putPhotos, sha256, tempLake, testOptions, localDatasets } from './fixtures';

const photos = dogPhotos(['beagle', 'pug', 'samoyed'], 8);

describe('a dataset version of real photos, and back', () => {
  let lake: Lake;
  beforeAll(async () => {
    lake = tempLake();
    await putPhotos(lake.raw, photos);
  });
  afterAll(() => lake.cleanup());

  it('writes a version whose examples carry the labels, sizes and pixels of the photos', async () => {
    const summary = await runPreprocessing(lake, { ...testOptions({ shardMaxBytes: 100_000 }), version: 'v1' });
    expect(summary).toMatchObject({
      version: 'v1',
      parentVersion: null,
      written: 24,
      newExamples: 24,
      replayExamples: 0,
      duplicates: 0,
      skipped: {},
    });
    expect(summary.perClass).toEqual({ beagle: 8, pug: 8, samoyed: 8 });

    expect(await listDatasetVersions(lake.datasets)).toEqual(['v1']);
    expect(await latestDatasetVersion(lake.datasets)).toBe('v1');
    const manifest = await readManifest(lake.datasets, 'v1');
    expect(manifest.labels).toEqual(['beagle', 'pug', 'samoyed']);
    expect(manifest.sources).toHaveLength(24);
    // 100 kB shards: the train split (~16 examples of ~20-30 kB) needs several.
    expect(manifest.splits.train.shards.length).toBeGreaterThan(1);
    expect(manifest.splits.train.shards[0]).toMatch(/^versions\/v1\/train\/train-00000-of-\d{5}\.tfrecord$/);

    const bySha = new Map(photos.map((p) => [sha256(readFileSync(p.file)), p]));
    const seen: DogExample[] = [];
    for (const split of SPLITS) {
      let n = 0;
      for await (const ex of readSplit(lake.datasets, manifest, split)) {
        n += 1;
        seen.push(ex);
        const photo = bySha.get(ex.sourceId)!;
        expect(photo).toBeDefined();
        expect(ex.text).toBe(photo.label);
        expect(manifest.labels[ex.label]).toBe(photo.label);
        expect([ex.width, ex.height, ex.format]).toEqual([224, 224, 'jpeg']);
        const meta = await sharp(ex.jpeg).metadata();
        expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['jpeg', 224, 224, 3]);
      }
      expect(n).toBe(manifest.splits[split].count);
    }
    expect(new Set(seen.map((e) => e.sourceId)).size).toBe(24);

    // Pixels: the photos are 224×224 already, so the stored JPEG decodes to the original within JPEG tolerance.
    for (const ex of seen.slice(0, 6)) {
      const original = await sharp(readFileSync(bySha.get(ex.sourceId)!.file))
        .resize(224, 224, { fit: 'fill' })
        .removeAlpha()
        .raw()
        .toBuffer();
      const stored = await decodeRgb(ex.jpeg, 224);
      let sum = 0;
      for (let i = 0; i < original.length; i++) sum += Math.abs(original[i] - stored[i]);
      expect(sum / original.length).toBeLessThan(4); // mean absolute error in 0-255 levels
    }
  });
});

describe('GZIP shards through the worker-thread pool', () => {
  let lake: Lake;
  beforeAll(async () => {
    lake = tempLake();
    await putPhotos(lake.raw, photos.slice(0, 9));
  });
  afterAll(() => lake.cleanup());

  it('writes .tfrecord.gz shards that read back identically to an uncompressed in-process run', async () => {
    const pool = new WorkerPoolTransformer(2);
    try {
      await runPreprocessing({ ...lake, transformer: pool }, { ...testOptions({ gzip: true }), version: 'vgz' });
    } finally {
      await pool.close();
    }
    const plainStore = localDatasets(join(lake.root, 'datasets-plain'));
    await runPreprocessing({ raw: lake.raw, datasets: plainStore }, { ...testOptions(), version: 'vgz' });
    const gz = await readManifest(lake.datasets, 'vgz');
    const plain = await readManifest(plainStore, 'vgz');
    expect(gz.compression).toBe('GZIP');
    expect(gz.splits.train.shards[0]).toMatch(/\.tfrecord\.gz$/);
    expect((await lake.datasets.read(gz.splits.train.shards[0])).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    for (const split of SPLITS) {
      const a: DogExample[] = [];
      const b: DogExample[] = [];
      for await (const ex of readSplit(lake.datasets, gz, split)) a.push(ex);
      for await (const ex of readSplit(plainStore, plain, split)) b.push(ex);
      expect(a).toEqual(b);
    }
  });
});
