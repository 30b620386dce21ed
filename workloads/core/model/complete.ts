import { MODEL_FILES, modelKeys } from '../layout';
import type { ObjectStore } from '../storage/object-store';
import { writeJson } from '../storage/object-store';

/**
 * The commit point of a model version, `COMPLETE.json`, written last: the registry never
 * points at a version without it and loaders refuse one. Free of TensorFlow.js, so the
 * registry (and the inference service's main thread) can use it without loading tfjs.
 */

/** Written once (if-absent precondition). */
export async function markComplete(store: ObjectStore, version: string, summary: Record<string, unknown> = {}): Promise<void> {
  await writeJson(
    store,
    modelKeys.file(version, MODEL_FILES.complete),
    { version, completedAt: new Date().toISOString(), ...summary },
    { ifGenerationMatch: '0' },
  );
}

export async function isComplete(store: ObjectStore, version: string): Promise<boolean> {
  return (await store.stat(modelKeys.file(version, MODEL_FILES.complete))) !== undefined;
}
