import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../core/config/load';
import type { RawLabel } from '../../core/dataset/raw-label';
import { datasetKeys, modelKeys, rawKeys } from '../../core/layout';
import { DataLake, openDataLake } from '../../core/storage/data-lake';
import { writeJson } from '../../core/storage/object-store';
import type { Warehouse } from '../../core/warehouse/warehouse';
import type { IntakeSettings } from '../../preprocessing/intake';

/** A data lake in a fresh temp directory, with helpers to put the trigger's signals in it. */
export async function tempLake(): Promise<{ dir: string; lake: DataLake; cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-trigger-test-'));
  const lake = openDataLake(loadConfig({ env: {}, overrides: { dataRoot: dir } }));
  return { dir, lake, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

let n = 0;
export async function addLabels(lake: DataLake, count: number, labelledAt: Date, extra: Partial<RawLabel> = {}): Promise<void> {
  for (let i = 0; i < count; i++) {
    const id = `img${++n}`;
    const label: RawLabel = {
      id,
      imageKey: rawKeys.image(id, 'jpg'),
      label: 'beagle',
      source: 'dogapi',
      labelledAt: labelledAt.toISOString(),
      sha256: createHash('sha256').update(id).digest('hex'),
      ...extra,
    };
    await writeJson(lake.raw, rawKeys.label(id), label);
  }
}

/** A committed dataset version that took in every label object written so far (as preprocessing would have). */
export async function addDataset(lake: DataLake, version: string, createdAt: Date): Promise<void> {
  const labels = await Promise.all(
    (await lake.raw.list(rawKeys.labelsPrefix)).map(async (o) => JSON.parse((await lake.raw.read(o.key)).toString('utf8')) as RawLabel),
  );
  const split = { shards: [], count: 0, perClass: {} };
  await writeJson(lake.datasets, datasetKeys.manifest(version), {
    version,
    parentVersion: null,
    createdAt: createdAt.toISOString(),
    runId: null,
    format: 'tfrecord',
    compression: 'NONE',
    imageSize: 224,
    labels: ['beagle'],
    splits: { train: split, validation: split, test: split },
    sources: labels.map((l) => ({ sha256: l.sha256, uri: `test://${l.id}`, label: l.label, split: 'train', origin: 'new' })),
    counts: {
      rawObjects: labels.length,
      written: labels.length,
      newExamples: labels.length,
      replayExamples: 0,
      duplicates: 0,
      skipped: {},
    },
  });
}

export async function promote(lake: DataLake, warehouse: Warehouse, version: string, top1: number, at: Date): Promise<void> {
  await writeJson(lake.models, modelKeys.pointer('production'), { version });
  await warehouse.insert('model_events', [
    {
      ts: at,
      event_id: `e-${version}`,
      event: 'promotion',
      model_version: version,
      previous_version: null,
      dataset_version: 'v1',
      reason: 'better',
      challenger_metrics: JSON.stringify({ top1 }),
      champion_metrics: null,
      run_id: null,
    },
  ]);
}

export async function addPredictions(warehouse: Warehouse, version: string, correct: number, wrong: number, at: Date): Promise<void> {
  const rows = Array.from({ length: correct + wrong }, (_, i) => ({
    ts: at,
    request_id: `r${i}`,
    prediction_id: `p-${version}-${at.getTime()}-${i}`,
    source: 'dogapi' as const,
    image_uri: 'file:///x.jpg',
    true_label: 'beagle',
    predicted_label: i < correct ? 'beagle' : 'pug',
    correct: i < correct,
    confidence: 0.9,
    latency_ms: 10,
    model_version: version,
    role: 'champion' as const,
    top_k: '[]',
  }));
  await warehouse.insert('prediction_events', rows);
}

/** Preprocessing's intake rules with every breed learnable from its first photo (the tests label a handful of one breed). */
export function smallIntake(): IntakeSettings {
  const c = loadConfig({ env: {}, overrides: { preprocessing: { minClassExamples: 1 } } });
  return { preprocessing: c.preprocessing, trust: c.trust, images: c.images };
}
