import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeDogExample } from '../../core/dataset/dog-example';
import type { DatasetManifest, SplitManifest } from '../../core/dataset/manifest';
import { datasetKeys, Split, SPLITS } from '../../core/layout';
import { loadConfig } from '../../core/config/load';
import type { WorkloadConfig } from '../../core/config/schema';
import type { DeepPartial } from '../../core/config/load';
import { DataLake, openDataLake } from '../../core/storage/data-lake';
import { writeJson } from '../../core/storage/object-store';
import { frameRecords } from '../../core/tfrecord/framing';

/** Test fixtures: real photos from ../shared/datasets/dogs written as a dataset version. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const DOGS_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'datasets', 'dogs');
export const SHARED_MODELS = path.resolve(REPO_ROOT, '..', 'shared', 'models');

export interface Photo {
  label: string;
  jpeg: Buffer;
  sha256: string;
}

/** The first `perBreed` photos (sorted by file name) of each breed. */
export function photos(breeds: string[], perBreed: number, offset = 0): Photo[] {
  return breeds.flatMap((label) =>
    readdirSync(path.join(DOGS_DIR, label))
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(offset, offset + perBreed)
      .map((f) => {
        const jpeg = readFileSync(path.join(DOGS_DIR, label, f));
        return { label, jpeg, sha256: createHash('sha256').update(jpeg).digest('hex') };
      }),
  );
}

/** A deterministic split: per breed, every `k`-th photo to validation/test (so small fixtures have every class everywhere). */
export function splitPhotos(all: Photo[], valEvery = 5, testEvery = 4): Record<Split, Photo[]> {
  const out: Record<Split, Photo[]> = { train: [], validation: [], test: [] };
  const seen = new Map<string, number>();
  for (const p of all) {
    const i = seen.get(p.label) ?? 0;
    seen.set(p.label, i + 1);
    if (i % valEvery === 1) out.validation.push(p);
    else if (i % testEvery === 2) out.test.push(p);
    else out.train.push(p);
  }
  return out;
}

/** Writes a complete dataset version (one shard per split, manifest last). */
export async function writeDatasetVersion(
  lake: DataLake,
  version: string,
  labels: string[],
  splits: Record<Split, Photo[]>,
): Promise<void> {
  const manifestSplits = {} as Record<Split, SplitManifest>;
  for (const split of SPLITS) {
    const items = splits[split];
    const key = datasetKeys.shard(version, split, 0, 1, false);
    const payloads = items.map((p) =>
      encodeDogExample({
        jpeg: p.jpeg,
        format: 'jpeg',
        height: 224,
        width: 224,
        label: labels.indexOf(p.label),
        text: p.label,
        sourceId: p.sha256,
      }),
    );
    await lake.datasets.write(key, frameRecords(payloads));
    const perClass: Record<string, number> = {};
    for (const p of items) perClass[p.label] = (perClass[p.label] ?? 0) + 1;
    manifestSplits[split] = { shards: [key], count: items.length, perClass };
  }
  const manifest: DatasetManifest = {
    version,
    parentVersion: null,
    createdAt: new Date().toISOString(),
    runId: null,
    format: 'tfrecord',
    compression: 'NONE',
    imageSize: 224,
    labels,
    splits: manifestSplits,
    sources: SPLITS.flatMap((s) =>
      splits[s].map((p) => ({ sha256: p.sha256, uri: `test://${p.sha256}`, label: p.label, split: s, origin: 'new' as const })),
    ),
    counts: { rawObjects: 0, written: 0, newExamples: 0, replayExamples: 0, duplicates: 0, skipped: {} },
  };
  await writeJson(lake.datasets, datasetKeys.manifest(version), manifest);
}

export interface TempRoot {
  dir: string;
  lake: DataLake;
  config: WorkloadConfig;
  cleanup(): void;
}

/**
 * A temp data root and its config. Training tests run on the small MobileNetV2-0.35 (fast)
 * unless they pass `model` (the backbone is the point of only a few of them).
 */
export function tempRoot(overrides: DeepPartial<WorkloadConfig> = {}): TempRoot {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cv-train-'));
  const config = loadConfig({
    env: {},
    overrides: { dataRoot: dir, logLevel: 'silent', model: { backbone: 'mobilenet_v2_035' }, ...overrides },
  });
  return { dir, lake: openDataLake(config), config, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
