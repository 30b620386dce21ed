import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listDatasetVersions, readManifest, readSplit } from '../../core/dataset/read-dataset';
import { datasetKeys, rawKeys, SPLITS } from '../../core/layout';
import { type ObjectStore, readJson, type WriteOptions } from '../../core/storage/object-store';
import { readFramedRecords, TFRecordCorruptError } from '../../core/tfrecord/framing';
import { DuckDbWarehouse } from '../../core/warehouse/duckdb-warehouse';
import { runPreprocessing } from '../run';
import sharp from 'sharp';
import type { SamplingWeights } from '../../core/dataset/manifest';
import { dogPhotos, type Lake, putLabelled, putPhotos, sha256, tempLake, testOptions } from './fixtures';

const breeds = ['beagle', 'pug', 'samoyed'];
const first = dogPhotos(breeds, 5);
const second = dogPhotos(breeds, 8).filter((p) => !first.includes(p) && !first.some((f) => f.id === p.id));

describe('dataset versions are snapshots of all trusted data', () => {
  let lake: Lake;
  let warehouse: DuckDbWarehouse;
  beforeAll(async () => {
    lake = tempLake();
    warehouse = await DuckDbWarehouse.open(join(lake.root, 'warehouse.duckdb'));
  });
  afterAll(async () => {
    await warehouse.close();
    lake.cleanup();
  });

  it('v2 references v1’s shards, adds only new trusted photos, keeps every split, and weighs hard examples', async () => {
    await putPhotos(lake.raw, first);
    const s1 = await runPreprocessing({ ...lake, warehouse }, { ...testOptions({ minClassExamples: 3 }), version: 'v1' });
    expect(s1).toMatchObject({ written: 15, newExamples: 15, inheritedExamples: 0 });
    const m1 = await readManifest(lake.datasets, 'v1');
    expect(m1.snapshot).toBe(true);
    // Stratified: every class has its evaluation photos (min(⌊5/2⌋, max(1, 5)) = 2 each).
    expect(m1.splits.test.perClass).toEqual({ beagle: 2, pug: 2, samoyed: 2 });
    expect(m1.evaluation).toMatchObject({ n: 6, perClass: { beagle: 2, pug: 2, samoyed: 2 } });

    // Two v1 training photos were misclassified by the serving model.
    const hard = m1.sources.filter((s) => s.split === 'train').slice(0, 2);
    await warehouse.insert(
      'prediction_events',
      hard.map((s, i) => ({
        ts: new Date(),
        request_id: `r${i}`,
        prediction_id: `p${i}`,
        source: 'dogapi' as const,
        image_uri: s.uri,
        true_label: s.label,
        predicted_label: 'chihuahua',
        correct: false,
        confidence: 0.4,
        latency_ms: 12,
        model_version: 'm1',
        role: 'champion' as const,
        top_k: '[]',
      })),
    );

    // New photos; a new breed too small to learn yet; duplicates (exact and near); a user's untrusted label.
    await putPhotos(lake.raw, second);
    const husky = dogPhotos(['siberian_husky'], 2);
    await putPhotos(lake.raw, husky);
    await putLabelled(lake.raw, 'reupload-of-v1', readFileSync(first[0].file), first[0].label);
    await putLabelled(lake.raw, 'repeat-in-batch', readFileSync(second[0].file), second[0].label);
    const reencoded = await sharp(readFileSync(first[1].file)).jpeg({ quality: 70 }).toBuffer();
    await putLabelled(lake.raw, 'near-copy-of-v1', reencoded, 'boxer', { source: 'upload', trust: 'untrusted', voter: 'u1' });
    const [stranger] = dogPhotos(['boxer'], 1);
    await putLabelled(lake.raw, 'user-upload', readFileSync(stranger.file), 'pug', { source: 'upload', trust: 'untrusted', voter: 'u2' });

    const s2 = await runPreprocessing({ ...lake, warehouse }, { ...testOptions({ minClassExamples: 3 }), version: 'v2' });
    const m2 = await readManifest(lake.datasets, 'v2');
    expect(s2).toMatchObject({ newExamples: second.length, inheritedExamples: 15, written: 15 + second.length, pending: 1 });
    expect(s2.deferred).toEqual({ siberian_husky: 2 });
    expect(s2.duplicates).toBe(3);
    expect(m2.parentVersion).toBe('v1');
    expect(m2.labels).toEqual(['beagle', 'pug', 'samoyed']);

    // By reference: v2's shard lists start with v1's own keys, and only v2's new photos were written under v2.
    for (const split of SPLITS) {
      expect(m2.splits[split].shards.slice(0, m1.splits[split].shards.length)).toEqual(m1.splits[split].shards);
      for (const key of m2.splits[split].shards.slice(m1.splits[split].shards.length)) expect(key.startsWith('versions/v2/')).toBe(true);
    }
    const stored: string[] = [];
    for (const split of SPLITS) for await (const ex of readSplit(lake.datasets, m2, split)) stored.push(ex.sourceId);
    expect(stored.sort()).toEqual(m2.sources.map((s) => s.sha256).sort());
    expect(new Set(stored).size).toBe(stored.length);
    expect(m2.sources.filter((s) => s.origin === 'inherited').every((s) => s.version === 'v1')).toBe(true);
    expect(m2.sources.every((s) => s.source === 'dogapi' && s.trustedBy === 'source')).toBe(true);

    // An example never changes split; the evaluation set only grows.
    const v1Split = new Map(m1.sources.map((s) => [s.sha256, s.split]));
    for (const s of m2.sources) if (v1Split.has(s.sha256)) expect(s.split).toBe(v1Split.get(s.sha256));
    expect(m2.evaluation!.n).toBeGreaterThanOrEqual(m1.evaluation!.n);

    // Curation is a weight, not a selection: the misclassified training photos are drawn twice.
    const sampling = await readJson<SamplingWeights>(lake.datasets, m2.sampling!);
    expect(Object.keys(sampling!.weights).sort()).toEqual(hard.map((h) => h.sha256).sort());

    const rows = await warehouse.query(
      'SELECT dataset_version, parent_version, num_examples, new_examples, inherited_examples, pending_labels FROM {{dataset_versions}} ORDER BY dataset_version',
    );
    expect(rows).toEqual([
      { dataset_version: 'v1', parent_version: null, num_examples: 15, new_examples: 15, inherited_examples: 0, pending_labels: 0 },
      {
        dataset_version: 'v2',
        parent_version: 'v1',
        num_examples: 15 + second.length,
        new_examples: second.length,
        inherited_examples: 15,
        pending_labels: 1,
      },
    ]);
    const dist = await warehouse.query("SELECT SUM(count) AS n FROM {{class_distribution}} WHERE dataset_version = 'v2'");
    expect(Number(dist[0].n)).toBe(m2.counts.written);
  });

  it('waits for data with nothing new and trusted, naming the parent and what waits', async () => {
    await expect(runPreprocessing(lake, testOptions({ minClassExamples: 3 }))).rejects.toThrow(
      /waiting for data: no new trusted photos since dataset version v2 .*1 users' photos awaiting trust, new breeds below 3 photos: siberian_husky 2/,
    );
  });

  it('a new breed enters once enough trusted photos have accumulated, without renumbering the old ones', async () => {
    await putPhotos(lake.raw, dogPhotos(['siberian_husky'], 10).slice(2));
    const s3 = await runPreprocessing(lake, { ...testOptions({ minClassExamples: 3 }), version: 'v3' });
    const m3 = await readManifest(lake.datasets, 'v3');
    expect(s3).toMatchObject({ newExamples: 10, deferred: {} });
    expect(m3.labels).toEqual(['beagle', 'pug', 'samoyed', 'siberian_husky']);
    expect(m3.splits.test.perClass.siberian_husky).toBe(5);
  });
});

/** A store that fails the n-th write (a crash, from the reader's point of view). */
function failingOnWrite(inner: ObjectStore, failAt: (key: string, n: number) => boolean): ObjectStore {
  let n = 0;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'write') {
        return async (key: string, data: Buffer | string, options?: WriteOptions) => {
          if (failAt(key, ++n)) throw new Error(`simulated crash while writing ${key}`);
          return target.write(key, data, options);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('an interrupted run', () => {
  let lake: Lake;
  beforeAll(async () => {
    lake = tempLake();
    await putPhotos(lake.raw, dogPhotos(breeds, 4));
  });
  afterAll(() => lake.cleanup());

  it.each([
    ['after the first shard', (_key: string, n: number) => n === 2],
    ['at the manifest', (key: string) => key.endsWith('manifest.json')],
  ])('crashing %s leaves no readable version', async (_name, failAt) => {
    const datasets = failingOnWrite(lake.datasets, failAt);
    const version = `crash-${Math.random().toString(36).slice(2, 6)}`;
    await expect(runPreprocessing({ raw: lake.raw, datasets }, { ...testOptions({ shardMaxBytes: 50_000 }), version })).rejects.toThrow(
      /simulated crash/,
    );
    expect((await lake.datasets.list(datasetKeys.prefix(version))).length).toBeGreaterThan(0); // shards were written…
    expect(await listDatasetVersions(lake.datasets)).toEqual([]); // …but no reader sees the version
    await expect(readManifest(lake.datasets, version)).rejects.toThrow(/does not exist/);
  });

  it('the next run writes a complete version', async () => {
    const summary = await runPreprocessing(lake, { ...testOptions(), version: 'v-after-crash' });
    expect(summary.written).toBe(12);
    expect(await listDatasetVersions(lake.datasets)).toEqual(['v-after-crash']);
  });
});

describe('raw objects', () => {
  it('a label whose image is missing is skipped, not fatal', async () => {
    const lake = tempLake();
    try {
      const [p] = dogPhotos(['pug'], 1);
      await putPhotos(lake.raw, [p]);
      await lake.raw.write(
        rawKeys.label('ghost'),
        JSON.stringify({
          id: 'ghost',
          imageKey: 'images/ghost.jpg',
          label: 'pug',
          source: 'dogapi',
          labelledAt: '2026-11-02T00:00:00Z',
          sha256: sha256(Buffer.from('x')),
        }),
      );
      const s = await runPreprocessing(lake, testOptions());
      expect(s.written).toBe(1);
      expect(s.skipped).toEqual({ missing_image: 1 });
      expect(s.skips[0].uri).toBe(lake.raw.uri('images/ghost.jpg'));
    } finally {
      lake.cleanup();
    }
  });
});

describe('a corrupted shard', () => {
  it('is reported by readSplit with the shard URI and the byte offset of the first bad record', async () => {
    const lake = tempLake();
    try {
      await putPhotos(lake.raw, dogPhotos(['beagle', 'pug'], 8));
      await runPreprocessing(lake, { ...testOptions(), version: 'v1' });
      const manifest = await readManifest(lake.datasets, 'v1');
      const key = manifest.splits.train.shards[0];
      const body = Buffer.from(await lake.datasets.read(key));
      const records = Array.from(readFramedRecords(body));
      expect(records.length).toBeGreaterThan(2);
      const victim = records[2];
      body[victim.offset + 12 + 100] ^= 0xff; // one bit pattern inside the third record's JPEG
      await lake.datasets.write(key, body);
      const read = async () => {
        for await (const _ of readSplit(lake.datasets, manifest, 'train')) void _;
      };
      await expect(read()).rejects.toThrow(TFRecordCorruptError);
      await expect(read()).rejects.toMatchObject({
        kind: 'data_crc_mismatch',
        offset: victim.offset,
        recordIndex: 2,
        source: lake.datasets.uri(key),
      });
    } finally {
      lake.cleanup();
    }
  });
});

/**
 * Issue 14: two preprocessing runs started together both committed with the same parent.
 * The store below holds each run just before its manifest write until both have got there
 * (both have passed every check that reads the lineage), then lets them go on together.
 */
describe('two runs committing on the same parent', () => {
  it('exactly one commits; the other fails naming the winner, and no reader sees a second child', async () => {
    const lake = tempLake();
    try {
      await putPhotos(lake.raw, dogPhotos(breeds, 3));
      await runPreprocessing(lake, { ...testOptions(), version: 'v1' });
      await putPhotos(lake.raw, dogPhotos(['boxer'], 3));
      let waiting: Array<() => void> = [];
      const barrier = (): Promise<void> =>
        new Promise((resolve) => {
          waiting.push(resolve);
          if (waiting.length === 2) {
            waiting.forEach((r) => r());
            waiting = [];
          }
        });
      const held = new Proxy(lake.datasets, {
        get(target, prop, receiver) {
          if (prop === 'write') {
            return async (key: string, data: Buffer | string, options?: WriteOptions) => {
              if (key.endsWith('manifest.json')) await barrier();
              return target.write(key, data, options);
            };
          }
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const results = await Promise.allSettled([
        runPreprocessing({ raw: lake.raw, datasets: held }, { ...testOptions(), version: 'v2a' }),
        runPreprocessing({ raw: lake.raw, datasets: held }, { ...testOptions(), version: 'v2b' }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      const winner = (won[0] as PromiseFulfilledResult<{ version: string }>).value.version;
      expect(String(lost[0].reason)).toMatch(new RegExp(`dataset version v1 already has the child ${winner}`));
      expect(await listDatasetVersions(lake.datasets)).toEqual(['v1', winner]);
      const loser = winner === 'v2a' ? 'v2b' : 'v2a';
      await expect(readManifest(lake.datasets, loser)).rejects.toThrow(/not a committed dataset version|does not exist/);
    } finally {
      lake.cleanup();
    }
  });
});
