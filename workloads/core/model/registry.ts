import { modelKeys, RegistryRole } from '../layout';
import { ObjectStore, PreconditionFailedError, writeJson } from '../storage/object-store';
import { isComplete } from './complete';

/**
 * The model registry: pointers in the models bucket naming the production model and an
 * optional challenger. A pointer moves only by compare-and-swap on its generation (GCS
 * `ifGenerationMatch`, a lock + hash locally), so of two concurrent promotions exactly one
 * wins; every move is also kept as a history object.
 */
export interface RegistryPointer {
  version: string;
  previousVersion: string | null;
  movedAt: string;
  event: 'promotion' | 'rollback' | 'challenger' | 'retire';
  reason: string;
  /** The model_events row recording this move. */
  eventId: string;
  /** The pipeline run that moved it (its evaluation record is `evaluations/<version>/<runId>.json`), if any. */
  runId?: string | null;
}

export interface PointerState {
  pointer: RegistryPointer | undefined;
  /** Generation to pass back to {@link movePointer}; '0' when there is no pointer yet. */
  generation: string;
}

export async function readPointer(store: ObjectStore, role: RegistryRole): Promise<PointerState> {
  const found = await store.readIfExists(modelKeys.pointer(role));
  if (!found) return { pointer: undefined, generation: '0' };
  return { pointer: JSON.parse(found.data.toString('utf8')) as RegistryPointer, generation: found.info.generation };
}

export class PointerConflictError extends Error {
  constructor(
    readonly role: RegistryRole,
    readonly attempted: string,
  ) {
    super(`the ${role} pointer moved while ${attempted} was being promoted; re-read it and decide again`);
    this.name = 'PointerConflictError';
  }
}

/**
 * Moves a pointer if it is still at `expectedGeneration`. Refuses versions that are not
 * complete, so nothing half-written is ever pointed at.
 */
export async function movePointer(
  store: ObjectStore,
  role: RegistryRole,
  next: RegistryPointer,
  expectedGeneration: string,
): Promise<void> {
  if (!(await isComplete(store, next.version))) {
    throw new Error(`refusing to point ${role} at model version ${next.version}: it is not complete`);
  }
  try {
    await writeJson(store, modelKeys.pointer(role), next, { ifGenerationMatch: expectedGeneration });
  } catch (err) {
    if (err instanceof PreconditionFailedError) throw new PointerConflictError(role, next.version);
    throw err;
  }
  const stamp = next.movedAt.replace(/[-:.]/g, '');
  await writeJson(store, modelKeys.history(stamp, `${role}-${next.event}-${next.version}`), { role, ...next });
}

/** The registry history, oldest first. */
export async function readHistory(store: ObjectStore): Promise<Array<RegistryPointer & { role: RegistryRole }>> {
  const objects = await store.list(modelKeys.historyPrefix);
  const out: Array<RegistryPointer & { role: RegistryRole }> = [];
  for (const o of objects) out.push(JSON.parse((await store.read(o.key)).toString('utf8')));
  return out;
}
