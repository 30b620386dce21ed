import type { WorkloadConfig } from '../../core/config/schema';
import type { BackboneSpec } from '../../core/model/backbones';
import type { ObjectStore } from '../../core/storage/object-store';
import type { LabelledImage } from '../data';
import type { FeatureSet } from '../loop';
import { augmentationFor, augmentationPolicyKey } from './augment';
import { FeatureCache } from './feature-cache';
import { ExtractItem, FeatureExtractor } from './extractor';
import { createHash } from 'node:crypto';

/**
 * Trunk activations for sets of images, from the cache where possible; everything missing
 * (over all requested sets at once, so the worker pool stays busy) goes through the
 * extractor, started only when needed: a rerun over cached images starts no workers.
 */
export interface FeatureRequest {
  images: LabelledImage[];
  /** 1 = the images as they are; n > 1 adds n − 1 augmented variants per image. */
  variants: number;
}

export interface FeatureContext {
  spec: BackboneSpec;
  /** Models bucket (the cache lives there), or null for no persistent cache. */
  store: ObjectStore | null;
  augment: WorkloadConfig['training']['augment'];
  seed: number;
  workers?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface FeatureStats {
  cached: number;
  computed: number;
  extractSeconds: number;
  backend: string | null;
}

function entryId(sourceId: string, variant: number, policy: string): string {
  if (variant === 0) return `${sourceId}#0`;
  return `${sourceId}#${variant}@${createHash('sha256').update(policy).digest('hex').slice(0, 8)}`;
}

export async function computeFeatureSets(
  requests: FeatureRequest[],
  ctx: FeatureContext,
): Promise<{ sets: FeatureSet[]; stats: FeatureStats }> {
  const cache = new FeatureCache(ctx.store, ctx.spec);
  await cache.load();
  const policy = augmentationPolicyKey(ctx.augment, ctx.seed);
  const missing: Array<{ id: string; item: ExtractItem }> = [];
  const seen = new Set<string>();
  let cached = 0;
  for (const r of requests) {
    for (const img of r.images) {
      for (let v = 0; v < r.variants; v++) {
        const id = entryId(img.sourceId, v, policy);
        if (seen.has(id)) continue;
        seen.add(id);
        if (cache.has(id)) cached++;
        else missing.push({ id, item: { jpeg: img.jpeg, aug: augmentationFor(ctx.augment, ctx.seed, img.sourceId, v) } });
      }
    }
  }
  const stats: FeatureStats = { cached, computed: missing.length, extractSeconds: 0, backend: null };
  if (missing.length > 0) {
    const started = Date.now();
    const fx = await FeatureExtractor.start(ctx.spec, { workers: ctx.workers });
    stats.backend = fx.backend;
    try {
      // Persist in rounds so an interrupted extraction keeps what it finished.
      const round = 512;
      for (let s = 0; s < missing.length; s += round) {
        const part = missing.slice(s, s + round);
        const data = await fx.extract(
          part.map((m) => m.item),
          (done) => ctx.onProgress?.(s + done, missing.length),
        );
        await cache.add(
          part.map((m) => m.id),
          data,
        );
      }
    } finally {
      await fx.close();
    }
    stats.extractSeconds = (Date.now() - started) / 1000;
  }
  const size = cache.size;
  const sets = requests.map((r): FeatureSet => {
    const n = r.images.length;
    const variants = Array.from({ length: r.variants }, (_, v) => {
      const out = new Float32Array(n * size);
      r.images.forEach((img, i) => out.set(cache.get(entryId(img.sourceId, v, policy))!, i * size));
      return out;
    });
    return { n, shape: ctx.spec.outputShape, variants, labels: Int32Array.from(r.images, (i) => i.label) };
  });
  return { sets, stats };
}
