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

/** A data lake in a fresh temp directory, with helpers to put the trigger's signals in it. */
export async function tempLake(): Promise<{ dir: string; lake: DataLake; cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cv-trigger-test-'));
  const lake = openDataLake(loadConfig({ env: {}, overrides: { dataRoot: dir } }));
  return { dir, lake, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

let n = 0;
export async function addLabels(lake: DataLake, count: number, labelledAt: Date): Promise<void> {
  for (let i = 0; i < count; i++) {
    const id = `img${++n}`;
    const label: RawLabel = {
      id,
      imageKey: rawKeys.image(id, 'jpg'),
      label: 'beagle',
      source: 'dogapi',
      labelledAt: labelledAt.toISOString(),
      sha256: createHash('sha256').update(id).digest('hex'),
    };
    await writeJson(lake.raw, rawKeys.label(id), label);
  }
}

export async function addDataset(lake: DataLake, version: string, createdAt: Date): Promise<void> {
  await writeJson(lake.datasets, datasetKeys.manifest(version), { version, createdAt: createdAt.toISOString() });
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
