import type { WorkloadConfig } from '../core/config/schema';
import { createLogger, type Logger } from '../core/log';
import { isComplete, listModelVersions } from '../core/model/model-version';
import { movePointer, PointerConflictError, readHistory, readPointer } from '../core/model/registry';
import { DataLake, openDataLake } from '../core/storage/data-lake';
import type { Warehouse } from '../core/warehouse/warehouse';
import { reconcileModelEvents } from './model-events';
import { EvaluationRecord, latestEvaluation, readEvaluation } from './records';

/**
 * Promotion and rollback: atomic moves of the production pointer (compare-and-swap on its
 * generation), each recorded as a model event with its reason and both models' metrics
 * (written from the registry history by ./model-events.ts, so a crash between the move and
 * its row is repaired by the next promote, rollback or trigger check, and never doubled).
 */
export interface PromoteOptions {
  config: WorkloadConfig;
  runId: string;
  modelVersion: string;
  lake?: DataLake;
  warehouse: Warehouse | null;
  log?: Logger;
}

export interface PromoteResult {
  promoted: boolean;
  /** The production model after the call. */
  productionVersion: string | null;
  reason: string;
}

export class NotApprovedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotApprovedError';
  }
}

/**
 * Promotes `modelVersion` if — and only if — its evaluation (this run's, else its newest)
 * decided `promote` AND the production pointer still names the champion that evaluation
 * beat. Of two concurrent promotions exactly one moves the pointer; the other returns
 * `promoted: false` with the reason (and changes nothing).
 */
export async function promote(o: PromoteOptions): Promise<PromoteResult> {
  const log = o.log ?? createLogger('evaluation');
  const lake = o.lake ?? openDataLake(o.config);
  const evaluation: EvaluationRecord | undefined =
    (await readEvaluation(lake.models, o.modelVersion, o.runId)) ?? (await latestEvaluation(lake.models, o.modelVersion));
  if (!evaluation) {
    throw new NotApprovedError(`model version ${o.modelVersion} has no evaluation record: run \`evaluate\` for it first`);
  }
  const { pointer, generation } = await readPointer(lake.models, 'production');
  const current = pointer?.version ?? null;
  if (evaluation.decision !== 'promote') {
    return {
      promoted: false,
      productionVersion: current,
      reason: `not promoted: the evaluation decided ${evaluation.decision} (${evaluation.reason})`,
    };
  }
  if (current === o.modelVersion) {
    // A retry after a crash between the pointer move and its row: the row is written now.
    if (o.warehouse) await reconcileModelEvents(lake.models, o.warehouse);
    return { promoted: false, productionVersion: current, reason: `${o.modelVersion} is already the production model` };
  }
  const beaten = evaluation.champion?.version ?? null;
  if (current !== beaten) {
    return {
      promoted: false,
      productionVersion: current,
      reason:
        `not promoted: the evaluation compared against ${beaten ?? '(no production model)'} but production is now ` +
        `${current ?? '(none)'}; evaluate again`,
    };
  }
  const movedAt = new Date().toISOString();
  const eventId = `promotion-${o.modelVersion}-${o.runId}`;
  try {
    await movePointer(
      lake.models,
      'production',
      {
        version: o.modelVersion,
        previousVersion: current,
        movedAt,
        event: 'promotion',
        reason: evaluation.reason,
        eventId,
        runId: o.runId,
      },
      generation,
    );
  } catch (err) {
    if (err instanceof PointerConflictError) {
      const now = (await readPointer(lake.models, 'production')).pointer?.version ?? null;
      log.warn({ modelVersion: o.modelVersion, production: now }, 'lost a concurrent promotion');
      return { promoted: false, productionVersion: now, reason: `not promoted: another promotion moved production to ${now} first` };
    }
    throw err;
  }
  if (o.warehouse) await reconcileModelEvents(lake.models, o.warehouse);
  log.info({ modelVersion: o.modelVersion, previous: current }, 'promoted');
  return { promoted: true, productionVersion: o.modelVersion, reason: evaluation.reason };
}

export interface RollbackOptions {
  config: WorkloadConfig;
  /** Target version; default: the production model before the current one. */
  to?: string;
  reason?: string;
  runId?: string;
  lake?: DataLake;
  warehouse: Warehouse | null;
  log?: Logger;
}

/** Moves production back to an earlier complete version (default: the previous one), recorded as a rollback event. */
export async function rollback(o: RollbackOptions): Promise<PromoteResult> {
  const log = o.log ?? createLogger('evaluation');
  const lake = o.lake ?? openDataLake(o.config);
  const { pointer, generation } = await readPointer(lake.models, 'production');
  if (!pointer) throw new Error('there is no production model to roll back');
  let target = o.to;
  if (!target) {
    // The production model before the current one, from the pointer history.
    const history = (await readHistory(lake.models)).filter((h) => h.role === 'production');
    const before = history
      .slice(0, -1)
      .reverse()
      .find((h) => h.version !== pointer.version);
    target = pointer.previousVersion ?? before?.version;
    if (!target) throw new Error(`production (${pointer.version}) has no earlier version to roll back to; pass --to <version>`);
  }
  if (target === pointer.version) return { promoted: false, productionVersion: target, reason: `${target} is already production` };
  if (!(await isComplete(lake.models, target))) {
    const known = await listModelVersions(lake.models);
    throw new Error(`cannot roll back to ${target}: not a complete model version; complete versions: ${known.join(', ') || '(none)'}`);
  }
  const movedAt = new Date().toISOString();
  const reason = o.reason ?? `rollback from ${pointer.version} to ${target}`;
  const eventId = `rollback-${target}-${movedAt.replace(/[-:.]/g, '')}`;
  await movePointer(
    lake.models,
    'production',
    { version: target, previousVersion: pointer.version, movedAt, event: 'rollback', reason, eventId, runId: o.runId ?? null },
    generation,
  );
  if (o.warehouse) await reconcileModelEvents(lake.models, o.warehouse);
  log.info({ from: pointer.version, to: target }, 'rolled back');
  return { promoted: true, productionVersion: target, reason };
}
