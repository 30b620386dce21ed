import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { preprocessingSchema, imagesSchema } from '../../core/config/schema';
import type { RawLabel } from '../../core/dataset/raw-label';
import { datasetKeys, rawKeys } from '../../core/layout';
import { LocalObjectStore } from '../../core/storage/local-object-store';
import type { ObjectStore } from '../../core/storage/object-store';
import type { PreprocessOptions } from '../run';

export const DOGS = resolve(__dirname, '../../../../shared/datasets/dogs');

/** The first `perBreed` photos of each breed, sorted by file name (a stable slice). */
export function dogPhotos(breeds: string[], perBreed: number): { label: string; file: string; id: string }[] {
  return breeds.flatMap((label) =>
    readdirSync(join(DOGS, label))
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, perBreed)
      .map((f) => ({ label, file: join(DOGS, label, f), id: f.replace(/\.jpg$/, '') })),
  );
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export interface Lake {
  root: string;
  raw: LocalObjectStore;
  datasets: LocalObjectStore;
  cleanup: () => void;
}

/**
 * A datasets bucket with a fixed split key, so two buckets given the same photos allocate
 * the same splits (each stack otherwise makes its own random key on its first run).
 */
export function localDatasets(dir: string): LocalObjectStore {
  mkdirSync(join(dir, 'keys'), { recursive: true });
  writeFileSync(join(dir, datasetKeys.splitKey), JSON.stringify({ key: 'test-split-key' }));
  return new LocalObjectStore(dir);
}

export function tempLake(): Lake {
  const root = mkdtempSync(join(tmpdir(), 'cv-preprocess-'));
  return {
    root,
    raw: new LocalObjectStore(join(root, 'raw')),
    datasets: localDatasets(join(root, 'datasets')),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Strictly increasing wall-clock timestamps, as label objects written one after another would have. */
let clock = 0;
/** Stores an image and its label object the way the inference service does. */
export async function putLabelled(
  raw: ObjectStore,
  id: string,
  bytes: Buffer,
  label: string,
  extra: Partial<RawLabel> = {},
  ext: 'jpg' | 'png' | 'webp' = 'jpg',
): Promise<RawLabel> {
  const imageKey = rawKeys.image(id, ext);
  await raw.write(imageKey, bytes);
  clock = Math.max(Date.now(), clock + 1);
  const obj: RawLabel = {
    id,
    imageKey,
    label,
    source: 'dogapi',
    trust: 'trusted',
    labelledAt: new Date(clock).toISOString(),
    sha256: sha256(bytes),
    ...extra,
  };
  await raw.write(rawKeys.label(id), JSON.stringify(obj));
  return obj;
}

export async function putPhotos(raw: ObjectStore, photos: { label: string; file: string; id: string }[]): Promise<void> {
  for (const p of photos) await putLabelled(raw, p.id, readFileSync(p.file), p.label);
}

export function testOptions(overrides: Partial<PreprocessOptions['settings']> = {}): PreprocessOptions {
  return {
    runId: 'test-run',
    // Fixtures are a few photos per breed: let every breed in (the default waits for 10).
    settings: { ...preprocessingSchema.parse({}), minClassExamples: 1, ...overrides },
    limits: imagesSchema.parse({}),
    concurrency: 4,
  };
}
