import { MODEL_FILES, modelKeys, type RegistryRole } from '../core/layout';
import { readHistory, type RegistryPointer } from '../core/model/registry';
import { type ObjectStore, readJson } from '../core/storage/object-store';
import type { Row } from '../core/warehouse/tables';
import type { Warehouse } from '../core/warehouse/warehouse';
import { type EvalMetrics, summarize } from './metrics';
import { type EvaluationRecord, readEvaluation } from './records';

/** The gate's evidence as model_events columns (null for moves without an evaluation). */
export function gateColumns(
  record: EvaluationRecord | undefined,
): Pick<
  Row<'model_events'>,
  'eval_n' | 'eval_digest' | 'effect' | 'effect_low' | 'effect_high' | 'p_value' | 'detectable_effect' | 'class_changes'
> {
  const s = record?.statistics;
  return {
    eval_n: s ? s.n : null,
    eval_digest: record?.evaluationSet?.digest ?? null,
    effect: s?.overall ? s.overall.effect : null,
    effect_low: s?.overall ? s.overall.low : null,
    effect_high: s?.overall ? s.overall.high : null,
    p_value: s?.overall ? s.overall.pBetter : null,
    detectable_effect: s?.overall?.detectable ?? null,
    class_changes: s ? JSON.stringify(s.classes) : null,
  };
}

/**
 * The `model_events` rows of production pointer moves, derived from the registry history:
 * the pointer move is the truth, the row its record. A move writes its history object
 * before its row, so a crash in between leaves a move without a row; a retried step then
 * finds the pointer already moved and would skip it, and the trigger, which reads the
 * champion's baseline from its promotion row, would judge drift against nothing.
 * {@link reconcileModelEvents} writes every missing row (same event id, same content as
 * the step would have written), and every writer goes through it, so rows are never
 * written twice.
 */

type Move = RegistryPointer & { role: RegistryRole };

/** The row a production move is recorded as (promotions carry their evaluation's evidence). */
async function modelEventOf(models: ObjectStore, move: Move): Promise<Row<'model_events'> | undefined> {
  if (move.role !== 'production' || (move.event !== 'promotion' && move.event !== 'rollback')) return undefined;
  const base = {
    ts: new Date(move.movedAt),
    event_id: move.eventId,
    event: move.event,
    model_version: move.version,
    previous_version: move.previousVersion,
    reason: move.reason,
    run_id: move.runId ?? null,
  };
  if (move.event === 'promotion') {
    const evaluation = move.runId ? await readEvaluation(models, move.version, move.runId) : undefined;
    return {
      ...base,
      dataset_version: evaluation?.datasetVersion ?? null,
      challenger_metrics: evaluation ? JSON.stringify(evaluation.challenger.metrics) : null,
      champion_metrics: evaluation?.champion ? JSON.stringify(evaluation.champion.metrics) : null,
      ...gateColumns(evaluation),
    };
  }
  // A rollback carries the restored model's own test metrics (challenger_metrics.top1), so
  // readers of the latest promotion-or-rollback event know the baseline of what now serves.
  const metrics = await readJson<{ test?: EvalMetrics }>(models, modelKeys.file(move.version, MODEL_FILES.metrics));
  return {
    ...base,
    dataset_version: null,
    challenger_metrics: metrics?.test ? JSON.stringify(summarize(metrics.test)) : null,
    champion_metrics: null,
  };
}

/** Writes the rows of production moves that have none yet; returns how many it wrote. */
export async function reconcileModelEvents(models: ObjectStore, warehouse: Warehouse): Promise<number> {
  const moves = (await readHistory(models)).filter((m) => m.role === 'production');
  if (moves.length === 0) return 0;
  // A handful of rows per model ever promoted: reading them all is simpler than a list parameter.
  const existing = await warehouse.query(`SELECT event_id FROM {{model_events}} WHERE event IN ('promotion', 'rollback')`);
  const have = new Set(existing.map((r) => String(r.event_id)));
  const rows: Row<'model_events'>[] = [];
  for (const move of moves) {
    if (have.has(move.eventId)) continue;
    const row = await modelEventOf(models, move);
    if (row) rows.push(row);
    have.add(move.eventId);
  }
  if (rows.length > 0) await warehouse.insert('model_events', rows);
  return rows.length;
}
