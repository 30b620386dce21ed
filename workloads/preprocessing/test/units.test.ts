import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { decodeDogExample } from '../../core/dataset/dog-example';
import { imagesSchema } from '../../core/config/schema';
import { framedLength } from '../../core/tfrecord/framing';
import { extendLabelMap } from '../lineage';
import { allocateSplits, evalTarget } from '../allocate';
import { samplingWeights } from '../curation';
import { planShards } from '../shards';
import { sha256Hex, transformElement, type TransformOptions } from '../transform';
import { dogPhotos } from './fixtures';

const options: TransformOptions = { imageSize: 224, jpegQuality: 90, limits: imagesSchema.parse({}) };

describe('allocateSplits', () => {
  const settings = { testShare: 0.2, validationShare: 0.1, evalMinPerClass: 5 };
  const photos = (label: string, n: number, from = 0) =>
    Array.from({ length: n }, (_, i) => ({ label, phash: sha256Hex(Buffer.from(`${label}${from + i}`)).slice(0, 16) }));
  const count = (m: Map<{ label: string }, string>, label: string, split: string) =>
    [...m.entries()].filter(([k, v]) => k.label === label && v === split).length;

  it('stratifies the evaluation set per class: its share of each class, at least evalMinPerClass, at most half', () => {
    expect([1, 2, 8, 10, 20, 25, 100].map((n) => evalTarget(n, settings))).toEqual([0, 1, 4, 5, 5, 5, 20]);
    const m = allocateSplits([...photos('a', 100), ...photos('b', 12), ...photos('c', 3)], new Map(), settings, 'k');
    expect([count(m, 'a', 'test'), count(m, 'b', 'test'), count(m, 'c', 'test')]).toEqual([20, 5, 1]);
    expect(count(m, 'a', 'validation')).toBeGreaterThan(5);
    expect(count(m, 'a', 'validation')).toBeLessThan(22);
  });

  it('tops a class up to its target as it grows, never moving what is stored', () => {
    // 'a' has 100 photos, 20 of them for evaluation; 50 more arrive: 30 should be evaluation photos.
    const fresh = photos('a', 50, 100);
    const m = allocateSplits(fresh, new Map([['a', { total: 100, test: 20 }]]), settings, 'k');
    expect(count(m, 'a', 'test')).toBe(10);
    // A class already over its target gets no more.
    expect(count(allocateSplits(fresh, new Map([['a', { total: 100, test: 40 }]]), settings, 'k'), 'a', 'test')).toBe(0);
  });

  it('is a function of the key and the pictures: the same photos land the same way, another key shuffles them', () => {
    const items = photos('a', 40);
    const order = (key: string) => [...allocateSplits(items, new Map(), settings, key).entries()].map(([i, s]) => `${i.phash}:${s}`).sort();
    expect(order('k1')).toEqual(order('k1'));
    expect(order('k1')).not.toEqual(order('k2'));
    expect(() => allocateSplits(items, new Map(), { ...settings, validationShare: 0.6, testShare: 0.6 }, 'k')).toThrow(/at most 1/);
  });
});

describe('samplingWeights', () => {
  it('weighs misclassified training photos, never evaluation or validation photos', () => {
    const src = (n: number, split: 'train' | 'test' | 'validation') => ({
      sha256: String(n).repeat(64).slice(0, 64),
      uri: `file:///raw/images/p${n}.jpg`,
      label: 'a',
      split,
      origin: 'new' as const,
    });
    const misses = new Map([
      ['images/p1.jpg', 2],
      ['images/p2.jpg', 1],
    ]);
    const w = samplingWeights([src(1, 'train'), src(2, 'test'), src(3, 'train')], misses, 3);
    expect(w.weights).toEqual({ [src(1, 'train').sha256]: 3 });
    expect(samplingWeights([src(1, 'train')], misses, 1).weights).toEqual({});
  });
});

describe('transformElement (pure)', () => {
  const [photo] = dogPhotos(['pug'], 1);
  it('normalises a photo into a 224×224 JPEG Example with its label and content hash', async () => {
    const bytes = readFileSync(photo.file);
    const r = await transformElement({ uri: 'x', bytes, label: 'pug', labelIndex: 7 }, options);
    if (!r.ok) throw new Error(r.message);
    const ex = decodeDogExample(r.payload);
    expect(ex).toMatchObject({ label: 7, text: 'pug', width: 224, height: 224, sourceId: sha256Hex(bytes) });
  });

  it('accepts unusual but valid images (alpha, grayscale, large) and normalises them', async () => {
    const rgba = await sharp({ create: { width: 640, height: 300, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const gray = await sharp(readFileSync(photo.file)).grayscale().webp().toBuffer();
    for (const bytes of [rgba, gray]) {
      const r = await transformElement({ uri: 'x', bytes, label: 'pug', labelIndex: 0 }, options);
      if (!r.ok) throw new Error(r.message);
      const meta = await sharp(decodeDogExample(r.payload).jpeg).metadata();
      expect([meta.width, meta.height, meta.channels, meta.space]).toEqual([224, 224, 3, 'srgb']);
    }
  });

  it('rejects bytes that do not match the labelled hash', async () => {
    const r = await transformElement(
      { uri: 'x', bytes: readFileSync(photo.file), label: 'pug', labelIndex: 0, expectedSha256: '0'.repeat(64) },
      options,
    );
    expect(r).toMatchObject({ ok: false, reason: 'sha256_mismatch' });
  });
});

describe('planShards', () => {
  it('keeps every shard under the byte limit, and gives an oversized record its own shard', () => {
    const sizes = [100, 100, 100, 1000, 100];
    const max = framedLength(100) * 2;
    expect(planShards(sizes, max)).toEqual([[0, 1], [2], [3], [4]]);
    expect(planShards([], max)).toEqual([]);
  });
});

describe('label map', () => {
  it('grows at the end, never reorders', () => {
    expect(extendLabelMap(['pug', 'beagle'], ['samoyed', 'beagle', 'akita'])).toEqual(['pug', 'beagle', 'akita', 'samoyed']);
  });
});
