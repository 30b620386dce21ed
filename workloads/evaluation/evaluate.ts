import type { WorkloadConfig } from '../core/config/schema';
import { datasetKeys } from '../core/layout';
import { latestDatasetVersion } from '../core/dataset/read-dataset';
import { createLogger, type Logger } from '../core/log';
import { readModelMeta } from '../core/model/model-version';
import { movePointer, PointerConflictError, readPointer } from '../core/model/registry';
import { DataLake, openDataLake } from '../core/storage/data-lake';
import { selectBackend } from '../core/tf/backend';
import type { Warehouse } from '../core/warehouse/warehouse';
import { loadDataset } from '../training/data';
import { decide, GateResult, ShadowComparison } from './gate';
import { EvalMetrics, summarize } from './metrics';
import { gateColumns } from './model-events';
import { EvaluationRecord, writeEvaluation } from './records';
import { scoreModel } from './score';
import { compareShadow } from './shadow';

/**
 * Evaluates a challenger against the production model (the champion) on the SAME
 * evaluation set (the frozen test split of a dataset version: trusted photos, stratified by
 * breed, never trained on) and applies the gate (gate.ts: a paired exact test). Records the decision (evaluation
 * record in the models bucket; a `rejection` model event when rejected — a promotion is
 * recorded by `promote`, when the pointer actually moves).
 *
 * Challenger pointer policy: when the challenger passes the offline gate but the shadow
 * requirement (gate.requireShadow) is not met yet, the `challenger` pointer is moved to it
 * so the inference service shadows it and collects the evidence; a re-run of `evaluate`
 * for that version later can then promote it. A challenger that fails offline is never
 * shadowed: it is already known to be worse.
 */
export interface EvaluateOptions {
  config: WorkloadConfig;
  runId: string;
  modelVersion: string;
  /** Default: the newest complete dataset version. */
  datasetVersion?: string;
  lake?: DataLake;
  warehouse: Warehouse | null;
  log?: Logger;
}

export interface EvaluateResult extends GateResult {
  record: EvaluationRecord;
  challengerMetrics: EvalMetrics;
  championMetrics: EvalMetrics | null;
}

export async function evaluateAndGate(o: EvaluateOptions): Promise<EvaluateResult> {
  const log = o.log ?? createLogger('evaluation');
  const lake = o.lake ?? openDataLake(o.config);
  await selectBackend((m) => log.info(m));
  const datasetVersion = o.datasetVersion ?? (await latestDatasetVersion(lake.datasets));
  if (!datasetVersion) throw new Error(`no complete dataset version in ${lake.datasets.uri(datasetKeys.versionsPrefix)}`);
  await readModelMeta(lake.models, o.modelVersion); // refuses incomplete versions with a clear error
  const data = await loadDataset(lake.datasets, datasetVersion, ['test']);
  const test = data.splits.test;

  const production = (await readPointer(lake.models, 'production')).pointer;
  const championVersion = production && production.version !== o.modelVersion ? production.version : null;
  if (production?.version === o.modelVersion) {
    throw new Error(`model version ${o.modelVersion} is already the production model; nothing to evaluate it against`);
  }

  const challenger = await scoreModel(lake.models, o.modelVersion, test, data.labels, o.config);
  const champion = championVersion ? await scoreModel(lake.models, championVersion, test, data.labels, o.config) : null;
  const challengerMetrics = challenger.metrics;
  const championMetrics = champion?.metrics ?? null;
  let shadow: ShadowComparison | null = null;
  if (o.config.gate.requireShadow && championVersion && o.warehouse) {
    shadow = await compareShadow(o.warehouse, o.modelVersion, championVersion);
  }
  const gate = decide(
    {
      labels: data.labels,
      truth: challenger.truth,
      challenger: challenger.top1,
      champion: champion?.top1 ?? null,
      championLabels: new Set(champion?.modelLabels ?? []),
      challengerLabels: new Set(challenger.modelLabels),
    },
    o.config.gate,
    shadow,
  );
  const record: EvaluationRecord = {
    runId: o.runId,
    evaluatedAt: new Date().toISOString(),
    datasetVersion,
    evaluationSet: { n: test.length, digest: data.manifest.evaluation?.digest ?? null },
    statistics: gate.statistics,
    challenger: { version: o.modelVersion, metrics: summarize(challengerMetrics) },
    champion: championVersion && championMetrics ? { version: championVersion, metrics: summarize(championMetrics) } : null,
    shadow,
    decision: gate.decision,
    reason: gate.reason,
    checks: gate.checks,
    gate: { ...o.config.gate },
  };
  await writeEvaluation(lake.models, record);
  log.info({ modelVersion: o.modelVersion, champion: championVersion, decision: gate.decision, reason: gate.reason }, 'evaluated');

  if (gate.decision === 'reject') {
    const onlyShadowFailed = gate.checks.every((c) => c.passed || c.rule === 'shadow');
    if (onlyShadowFailed) await shadowChallenger(lake, o.modelVersion, o.runId, gate.reason, log);
    await o.warehouse?.insert('model_events', [
      {
        ts: new Date(),
        event_id: `rejection-${o.modelVersion}-${o.runId}`,
        event: 'rejection',
        model_version: o.modelVersion,
        previous_version: championVersion,
        dataset_version: datasetVersion,
        reason: gate.reason,
        challenger_metrics: JSON.stringify(record.challenger.metrics),
        champion_metrics: record.champion ? JSON.stringify(record.champion.metrics) : null,
        run_id: o.runId,
        ...gateColumns(record),
      },
    ]);
  }
  return { ...gate, record, challengerMetrics, championMetrics };
}

async function shadowChallenger(lake: DataLake, version: string, runId: string, reason: string, log: Logger): Promise<void> {
  const { pointer, generation } = await readPointer(lake.models, 'challenger');
  if (pointer?.version === version) return;
  try {
    await movePointer(
      lake.models,
      'challenger',
      {
        version,
        previousVersion: pointer?.version ?? null,
        movedAt: new Date().toISOString(),
        event: 'challenger',
        reason: `passed offline, awaiting shadow traffic (${reason})`,
        eventId: `challenger-${version}-${runId}`,
      },
      generation,
    );
    log.info({ version }, 'challenger pointer moved: the service will shadow it');
  } catch (err) {
    if (!(err instanceof PointerConflictError)) throw err;
    log.warn({ version }, 'challenger pointer moved concurrently; leaving it');
  }
}
