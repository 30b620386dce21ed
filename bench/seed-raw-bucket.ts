import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { perceptualHash } from '../workloads/core/dataset/perceptual-hash';
import type { RawLabel } from '../workloads/core/dataset/raw-label';
import { rawKeys } from '../workloads/core/layout';
import type { ObjectStore } from '../workloads/core/storage/object-store';
import { mapConcurrent } from '../workloads/preprocessing/concurrency';
import { sha256Hex } from '../workloads/preprocessing/transform';

/** The shared photos, one folder per breed (never copied into the repository). */
export const SHARED_DOGS = resolve(__dirname, '../../shared/datasets/dogs');

/**
 * Fills a raw bucket with the photos under `dogsDir` (the first `perBreed` of each breed)
 * and their label objects, as if the ingestion had labelled them all (benchmarks start from labelled raw data; only what
 * follows is timed). Returns the photo files, in order.
 */
export async function seedRawBucket(raw: ObjectStore, dogsDir: string = SHARED_DOGS, perBreed = Infinity): Promise<string[]> {
  const files = readdirSync(dogsDir).flatMap((label) =>
    readdirSync(join(dogsDir, label))
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, perBreed)
      .map((f) => ({ label, file: join(dogsDir, label, f), id: `${label}-${f.replace(/\.jpg$/, '')}` })),
  );
  await mapConcurrent(files, 16, async (p, i) => {
    const bytes = readFileSync(p.file);
    const imageKey = rawKeys.image(p.id, 'jpg');
    await raw.write(imageKey, bytes);
    const label: RawLabel = {
      id: p.id,
      imageKey,
      label: p.label,
      // As the service writes an image API label: trusted, with the photo's perceptual hash
      // (computed at ingestion, so preprocessing does not decode the photo twice).
      source: 'dogapi',
      trust: 'trusted',
      phash: await perceptualHash(bytes),
      labelledAt: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(),
      sha256: sha256Hex(bytes),
    };
    await raw.write(rawKeys.label(p.id), JSON.stringify(label));
  });
  return files.map((f) => f.file);
}
