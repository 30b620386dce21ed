import { MODEL_FILES, modelKeys, RegistryRole } from '../../core/layout';
import type { RegistryPointer } from '../../core/model/registry';
import type { ObjectStore } from '../../core/storage/object-store';

/**
 * Read-only registry access for the service's main thread. The same reads as
 * core/model/registry.ts `readPointer` and model-version.ts `isComplete`, without
 * importing those modules: they load TensorFlow.js (~70 MB resident), which only the
 * inference workers need. Keys come from core/layout.ts, so the format stays defined once.
 */
export async function readPointerState(
  store: ObjectStore,
  role: RegistryRole,
): Promise<{ pointer: RegistryPointer | undefined; generation: string }> {
  const found = await store.readIfExists(modelKeys.pointer(role));
  if (!found) return { pointer: undefined, generation: '0' };
  return { pointer: JSON.parse(found.data.toString('utf8')) as RegistryPointer, generation: found.info.generation };
}

export async function isVersionComplete(store: ObjectStore, version: string): Promise<boolean> {
  return (await store.stat(modelKeys.file(version, MODEL_FILES.complete))) !== undefined;
}
