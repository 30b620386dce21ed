import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { decodeDogExample } from '../../core/dataset/dog-example';
import { imagesSchema } from '../../core/config/schema';
import { framedLength } from '../../core/tfrecord/framing';
import { extendLabelMap } from '../lineage';
import { replayTarget, selectReplay, type ReplayCandidate } from '../replay';
import { planShards } from '../shards';
import { splitOf } from '../split';
import { sha256Hex, transformElement, type TransformOptions } from '../transform';
import { dogPhotos } from './fixtures';

const shares = { validationShare: 0.1, testShare: 0.15 };
const options: TransformOptions = { ...shares, imageSize: 224, jpegQuality: 90, limits: imagesSchema.parse({}) };

describe('splitOf', () => {
  it('is a function of the content hash, with the configured shares', () => {
    const counts = { train: 0, validation: 0, test: 0 };
    for (let i = 0; i < 4000; i++) counts[splitOf(sha256Hex(Buffer.from(String(i))), shares)] += 1;
    expect(counts.test / 4000).toBeCloseTo(0.15, 1);
    expect(counts.validation / 4000).toBeCloseTo(0.1, 1);
    const h = sha256Hex(Buffer.from('x'));
    expect(splitOf(h, shares)).toBe(splitOf(h, shares));
    expect(() => splitOf('nope', shares)).toThrow(/SHA-256/);
    expect(() => splitOf(h, { validationShare: 0.6, testShare: 0.6 })).toThrow(/at most 1/);
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
    expect(r.split).toBe(splitOf(sha256Hex(bytes), shares));
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

describe('replay selection', () => {
  const cand = (label: string, i: number, misses = 0): ReplayCandidate => ({
    sha256: sha256Hex(Buffer.from(`${label}${i}`)),
    uri: `file:///raw/images/${label}${i}.jpg`,
    label,
    split: 'train',
    origin: 'new',
    version: 'v1',
    misses,
  });
  const pool = [
    ...Array.from({ length: 20 }, (_, i) => cand('a', i)),
    ...Array.from({ length: 3 }, (_, i) => cand('b', i)),
    cand('c', 0, 2),
    cand('a', 99, 5),
  ];

  it('sizes replay as a share of the version, capped by what exists', () => {
    expect(replayTarget(70, 0.3, 100)).toBe(30);
    expect(replayTarget(70, 0.3, 10)).toBe(10);
    expect(replayTarget(70, 0, 100)).toBe(0);
    expect(replayTarget(70, 1, 100)).toBe(100);
  });

  it('takes misclassified examples first, then balances classes as far as data allows', () => {
    const picked = selectReplay(pool, 8, 'seed', { a: 2 });
    expect(picked.slice(0, 2).map((p) => p.misses)).toEqual(expect.arrayContaining([5, 2]));
    const per = picked.reduce<Record<string, number>>((acc, p) => ({ ...acc, [p.label]: (acc[p.label] ?? 0) + 1 }), {});
    // b has only 3; the rest goes to a (which already had 2 new examples).
    expect(per).toEqual({ a: 4, b: 3, c: 1 });
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const ids = (seed: string) => selectReplay(pool, 5, seed).map((p) => p.sha256);
    expect(ids('v1')).toEqual(ids('v1'));
    expect(ids('v1')).not.toEqual(ids('v2'));
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
