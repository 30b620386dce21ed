import { modelKeys } from '../core/layout';
import type { ObjectStore } from '../core/storage/object-store';
import { readJson, writeJson } from '../core/storage/object-store';
import type { Decision, GateResult, GateStatistics, ShadowComparison } from './gate';

/**
 * The evaluation record: what `evaluate` decided and on what evidence. Written to the
 * models bucket (`modelKeys.evaluation`: `evaluations/<model version>/<run id>.json`, once per run), read back by
 * `promote`, which acts only on a recorded `promote` decision: the two pipeline steps may
 * run in different containers, and a promotion by hand must rest on an evaluation too.
 */
export interface EvaluationRecord {
  runId: string;
  evaluatedAt: string;
  datasetVersion: string;
  /** The evaluation set both models were scored on (the version's frozen test split). */
  evaluationSet?: { n: number; digest: string | null };
  /** The paired test, its intervals and the per-breed changes the decision rests on. */
  statistics?: GateStatistics;
  challenger: { version: string; metrics: Record<string, unknown> };
  /** The production model compared against, or null for a stack's first model. */
  champion: { version: string; metrics: Record<string, unknown> } | null;
  shadow: ShadowComparison | null;
  decision: Decision;
  reason: string;
  checks: GateResult['checks'];
  gate: Record<string, unknown>;
}

export async function writeEvaluation(store: ObjectStore, record: EvaluationRecord): Promise<void> {
  await writeJson(store, modelKeys.evaluation(record.challenger.version, record.runId), record);
}

export async function readEvaluation(store: ObjectStore, modelVersion: string, runId: string): Promise<EvaluationRecord | undefined> {
  return readJson<EvaluationRecord>(store, modelKeys.evaluation(modelVersion, runId));
}

/** The newest evaluation of a model version (any run), if any. */
export async function latestEvaluation(store: ObjectStore, modelVersion: string): Promise<EvaluationRecord | undefined> {
  const objects = await store.list(modelKeys.evaluations(modelVersion));
  let latest: EvaluationRecord | undefined;
  for (const o of objects) {
    const r = await readJson<EvaluationRecord>(store, o.key);
    if (r && (!latest || r.evaluatedAt > latest.evaluatedAt)) latest = r;
  }
  return latest;
}
