import type { ObjectStore } from '../storage/object-store';
import { readJson, writeJson } from '../storage/object-store';
import { MODEL_FILES, modelKeys } from '../layout';
import { tf } from '../tf/backend';
import type { BackboneSpec } from './backbones';
import { isComplete } from './complete';
import { objectStoreHandler } from './model-io';

export { isComplete, markComplete } from './complete';

/**
 * A model version folder in the models bucket:
 *   head/model.json + head/weights.bin  the trained head (input: trunk output)
 *   labels.json                         label map, index = head output unit
 *   version.json                        this metadata (backbone spec, lineage)
 *   training-config.json, metrics.json, MODEL_CARD.md, *.png   (written by training)
 *   COMPLETE.json                       written last; the registry never points at a
 *                                       version without it, and loaders refuse one
 */
export interface ModelVersionMeta {
  version: string;
  createdAt: string;
  labels: string[];
  backbone: BackboneSpec;
  datasetVersion: string | null;
  parentVersion: string | null;
  trainingRunId: string | null;
  /** How the head came to be: trained on a dataset version, or `zero-shot` (model zero, ./model-zero.ts). Absent: trained. */
  kind?: 'trained' | 'zero-shot';
}

export const HEAD_PREFIX = 'head/';
export const META_FILE = 'version.json';

export class IncompleteModelError extends Error {
  constructor(readonly version: string) {
    super(`model version ${version} is incomplete (no ${MODEL_FILES.complete}): it was never finished and cannot be used`);
    this.name = 'IncompleteModelError';
  }
}

/** Writes head, labels and metadata. Call {@link markComplete} after every other file is written. */
export async function saveModelVersionCore(store: ObjectStore, meta: ModelVersionMeta, head: tf.LayersModel): Promise<void> {
  if (head.outputs[0].shape[1] !== meta.labels.length) {
    throw new Error(`head has ${head.outputs[0].shape[1]} outputs but the label map has ${meta.labels.length} labels`);
  }
  await head.save(objectStoreHandler(store, modelKeys.file(meta.version, HEAD_PREFIX)));
  await writeJson(store, modelKeys.file(meta.version, MODEL_FILES.labels), { labels: meta.labels });
  await writeJson(store, modelKeys.file(meta.version, META_FILE), meta);
}

export async function readModelMeta(store: ObjectStore, version: string): Promise<ModelVersionMeta> {
  if (!(await isComplete(store, version))) throw new IncompleteModelError(version);
  const meta = await readJson<ModelVersionMeta>(store, modelKeys.file(version, META_FILE));
  if (!meta) throw new Error(`model version ${version} has no ${META_FILE} at ${store.uri(modelKeys.file(version, META_FILE))}`);
  return meta;
}

export async function loadHead(store: ObjectStore, version: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(objectStoreHandler(store, modelKeys.file(version, HEAD_PREFIX)));
}

/** Complete model versions, oldest first (version names sort by time). */
export async function listModelVersions(store: ObjectStore): Promise<string[]> {
  const objects = await store.list(modelKeys.versionsPrefix);
  return objects
    .filter((o) => o.key.endsWith(`/${MODEL_FILES.complete}`))
    .map((o) => o.key.slice(modelKeys.versionsPrefix.length).split('/')[0])
    .sort();
}
