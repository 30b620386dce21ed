import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baseSpec } from '../../core/model/backbones';
import { LocalObjectStore } from '../../core/storage/local-object-store';
import { augmentationFor } from '../features/augment';
import { FeatureCache } from '../features/feature-cache';
import { fromFloat16, toFloat16 } from '../features/float16';
import { Prng } from '../features/prng';

describe('float16', () => {
  it('round-trips within half-precision error, and handles zeros, subnormals, overflow and NaN', () => {
    const r = Prng.from('f16');
    const xs = Float32Array.from({ length: 1000 }, () => r.uniform(-50, 50));
    const back = fromFloat16(toFloat16(xs));
    xs.forEach((x, i) => expect(Math.abs(back[i] - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 1e-7));
    const special = fromFloat16(toFloat16(Float32Array.from([0, -0, 1e-6, 70000, -70000, NaN, 1])));
    expect(special[0]).toBe(0);
    expect(special[2]).toBeCloseTo(1e-6, 7);
    expect(special[3]).toBe(Infinity);
    expect(special[4]).toBe(-Infinity);
    expect(Number.isNaN(special[5])).toBe(true);
    expect(special[6]).toBe(1);
  });
});

describe('feature cache', () => {
  it('persists rows as append-only chunks that a new reader sees, keyed by trunk', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cv-cache-'));
    try {
      const store = new LocalObjectStore(dir);
      const spec = { ...baseSpec('mobilenet_v2_035'), outputShape: [3] };
      const a = new FeatureCache(store, spec);
      await a.load();
      await a.add(['x#0', 'y#0'], Float32Array.from([1, 2, 3, 4, 5, 6]));
      await a.add(['z#0'], Float32Array.from([7, 8, 9]));
      expect(Array.from(a.get('y#0')!)).toEqual([4, 5, 6]);

      const b = new FeatureCache(store, spec);
      await b.load();
      expect(Array.from(b.get('x#0')!)).toEqual([1, 2, 3]);
      expect(Array.from(b.get('z#0')!)).toEqual([7, 8, 9]);
      expect((await store.list(b.prefix)).length).toBe(2);

      const other = new FeatureCache(store, { ...spec, cut: 'block_16_project_BN' });
      await other.load();
      expect(other.has('x#0')).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('augmentation', () => {
  const cfg = { rotationDegrees: 10, horizontalFlip: true, brightness: 0.15, variants: 2 };
  it('is the identity for variant 0 and a deterministic function of (seed, image, variant) otherwise', () => {
    expect(augmentationFor(cfg, 1, 'abc', 0)).toEqual({ flip: false, rotation: 0, brightness: 1 });
    const v1 = augmentationFor(cfg, 1, 'abc', 1);
    expect(v1).toEqual(augmentationFor(cfg, 1, 'abc', 1));
    expect(v1.flip).toBe(true);
    expect(augmentationFor(cfg, 1, 'abc', 2).flip).toBe(false);
    expect(Math.abs(v1.rotation)).toBeLessThanOrEqual((10 * Math.PI) / 180);
    expect(Math.abs(v1.brightness - 1)).toBeLessThanOrEqual(0.15);
    expect(augmentationFor(cfg, 2, 'abc', 1)).not.toEqual(v1);
  });
});
