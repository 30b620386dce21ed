import type { WorkloadConfig } from '../../core/config/schema';
import type { Breed } from '../../core/dogapi/breeds';
import type { Logger } from '../../core/log';
import { ensureModelZero, modelZeroEvents } from '../../core/model/model-zero';
import type { ObjectStore } from '../../core/storage/object-store';
import type { Row } from '../../core/warehouse/tables';

/**
 * The service's answer to an empty registry: model zero (core/model/model-zero.ts), created
 * and promoted at once, so a new stack or an empty data root serves from its first second.
 * Returns why there is none (model.zeroShot off, a backbone without an ImageNet head), or
 * undefined. The registration and promotion events are recorded by the one process whose
 * pointer write won.
 */
export function modelZeroBootstrap(o: {
  model: WorkloadConfig['model'];
  /** The breeds model zero names (default: every breed of the table with an ImageNet class). */
  breeds?: readonly Breed[];
  store: ObjectStore;
  record: (rows: Row<'model_events'>[]) => void;
  logger: Logger;
}): () => Promise<string | undefined> {
  return async () => {
    const outcome = await ensureModelZero({ store: o.store, model: o.model, breeds: o.breeds });
    if (outcome.promoted) {
      o.record(modelZeroEvents(outcome));
      o.logger.info({ event: 'model_zero', model_version: outcome.version }, outcome.reason);
    }
    return outcome.version ? undefined : outcome.reason;
  };
}
